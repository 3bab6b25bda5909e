//! A snapshot: everything a decision looks at — the persisted state, the nodes, pods and
//! PodDisruptionBudgets read from the K3s API — at one instant.

use serde::{Deserialize, Serialize};

use crate::{ClusterState, Node, Pdb, Pod, time::Timestamp};

/// The latest worker CPU values from the alerts, and since when each CPU condition has held.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CpuReading {
    /// Average worker CPU utilisation, percent.
    #[serde(default)]
    pub percent: Option<f64>,
    /// Busy worker cores (demand); derived from `percent` × capacity when absent.
    #[serde(default)]
    pub demand_cores: Option<f64>,
    /// When these values were measured.
    #[serde(default)]
    pub observed_at: Option<Timestamp>,
    /// Since when CPU has been above the scale-up threshold (HighCPU's start minus its `for:`).
    #[serde(default)]
    pub high_since: Option<Timestamp>,
    /// Since when CPU has been below the scale-down threshold with nothing Pending (LowCPU's start
    /// minus its `for:`).
    #[serde(default)]
    pub low_since: Option<Timestamp>,
    /// Since when one worker fewer would have run at or below the target utilisation with
    /// nothing Pending (Overprovisioned's start minus its `for:`).
    #[serde(default)]
    pub surplus_since: Option<Timestamp>,
}

/// The input of `policy::decide`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Snapshot {
    /// When the snapshot was taken; `decide --snapshot` uses it as "now" unless `--now` is given.
    #[serde(default)]
    pub taken_at: Option<Timestamp>,
    /// The persisted cluster state (cooldown times, the operation in flight, CPU values).
    pub state: ClusterState,
    /// Every node, the control plane included.
    pub nodes: Vec<Node>,
    /// Every pod, bound or Pending.
    #[serde(default)]
    pub pods: Vec<Pod>,
    /// Every PodDisruptionBudget.
    #[serde(default)]
    pub pdbs: Vec<Pdb>,
}

/// Why a snapshot file was rejected, naming the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("snapshot: {field}: {message}")]
pub struct SnapshotError {
    /// Dotted path of the offending field (`nodes[2].zone`), or `.` for the document.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

impl Snapshot {
    /// Parses a JSON snapshot; the error names the field.
    pub fn from_json(text: &str) -> Result<Self, SnapshotError> {
        let de = &mut serde_json::Deserializer::from_str(text);
        let snap: Snapshot = serde_path_to_error::deserialize(de)
            .map_err(|e| SnapshotError { field: e.path().to_string(), message: e.inner().to_string() })?;
        snap.validate()?;
        Ok(snap)
    }

    fn validate(&self) -> Result<(), SnapshotError> {
        let err = |field: String, message: &str| SnapshotError { field, message: message.into() };
        let mut names = std::collections::HashSet::new();
        for (i, n) in self.nodes.iter().enumerate() {
            if n.name.is_empty() {
                return Err(err(format!("nodes[{i}].name"), "must not be empty"));
            }
            if !names.insert(n.name.as_str()) {
                return Err(err(format!("nodes[{i}].name"), &format!("duplicate node {:?}", n.name)));
            }
        }
        for (i, p) in self.pods.iter().enumerate() {
            if let Some(node) = &p.node
                && !names.contains(node.as_str())
            {
                return Err(err(format!("pods[{i}].node"), &format!("unknown node {node:?}")));
            }
        }
        if let Some(p) = self.state.cpu.percent
            && !(p.is_finite() && (0.0..=100.0).contains(&p))
        {
            return Err(err("state.cpu.percent".into(), "must be within 0-100"));
        }
        if let Some(d) = self.state.cpu.demand_cores
            && !(d.is_finite() && d >= 0.0)
        {
            return Err(err("state.cpu.demand_cores".into(), "must be a non-negative number"));
        }
        Ok(())
    }
}
