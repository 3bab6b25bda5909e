//! A decision: what to do now, how much, to which nodes, and why — in words an operator reads.

use serde::{Deserialize, Serialize};

/// The action of a decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Launch `count` workers.
    ScaleUp,
    /// Drain and remove `nodes`.
    ScaleDown,
    /// Do nothing.
    None,
}

impl Action {
    /// `scale_up`, `scale_down` or `none` (the metric and log value).
    pub fn as_str(self) -> &'static str {
        match self {
            Action::ScaleUp => "scale_up",
            Action::ScaleDown => "scale_down",
            Action::None => "none",
        }
    }
}

/// The output of `policy::decide`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    /// What to do.
    pub action: Action,
    /// Workers to add or remove (0 for `none`).
    pub count: u32,
    /// Nodes to remove, when scaling down.
    pub nodes: Vec<String>,
    /// Workers counted now.
    pub current: u32,
    /// Workers the fleet is sized toward.
    pub target: u32,
    /// Why, one finding per line, with the numbers.
    pub reasons: Vec<String>,
}

impl Decision {
    /// A `none` decision at `current` workers.
    pub fn none(current: u32, reasons: Vec<String>) -> Self {
        Self { action: Action::None, count: 0, nodes: vec![], current, target: current, reasons }
    }
}
