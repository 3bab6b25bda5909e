//! Operations: long work (a launch until Ready, a drain until terminated) persisted as a state
//! machine with a phase and a deadline, advanced by later messages. Pure transitions only.

use serde::{Deserialize, Serialize};

use crate::{InstanceId, time::Timestamp};

/// What an operation does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OperationKind {
    /// Launch workers and wait until their nodes are Ready.
    ScaleUp,
    /// Drain one worker and terminate it.
    ScaleDown,
    /// Drain a Spot worker under an interruption notice and launch its replacement.
    SpotReplace,
    /// Launch a replacement for an at-risk worker, then drain it.
    Rebalance,
}

/// Where an operation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// RunInstances is being issued.
    Launching,
    /// Instances launched; waiting for their nodes to be Ready.
    WaitingReady,
    /// The node is cordoned and tainted.
    Cordoned,
    /// Evictions are under way.
    Draining,
    /// The node is empty; the instance is being terminated.
    Terminating,
    /// Finished as intended.
    Done,
    /// A launch failed or its nodes never became Ready.
    Failed,
    /// A drain was given up (timeout, up-signal); the node was uncordoned.
    Aborted,
}

impl Phase {
    /// Done, Failed or Aborted: nothing more will happen.
    pub fn is_terminal(self) -> bool {
        matches!(self, Phase::Done | Phase::Failed | Phase::Aborted)
    }

    /// Whether the state machine allows `self → next`.
    ///
    /// Scale-up: launching → waiting-ready → done | failed.
    /// Scale-down: cordoned → draining → terminating → done, or cordoned | draining → aborted.
    /// Replacements run both halves: launching → waiting-ready → cordoned → … → done.
    pub fn can_become(self, next: Phase) -> bool {
        use Phase::*;
        matches!(
            (self, next),
            (Launching, WaitingReady | Failed)
                | (WaitingReady, Done | Failed | Cordoned)
                | (Cordoned, Draining | Aborted)
                | (Draining, Draining | Terminating | Aborted)
                | (Terminating, Done | Failed)
        )
    }
}

/// An operation in flight (or finished, in the audit records).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Operation {
    /// Deterministic id derived from the message that started it; EC2 client tokens derive from it.
    pub id: String,
    /// What it does.
    pub kind: OperationKind,
    /// Where it stands.
    pub phase: Phase,
    /// When it started.
    pub started_at: Timestamp,
    /// When the current phase must be over (Ready wait, drain timeout, Spot notice).
    pub deadline: Timestamp,
    /// Workers it launches (scale-up, replacements).
    #[serde(default)]
    pub launch_count: u32,
    /// Instances it launched or is removing.
    #[serde(default)]
    pub instances: Vec<InstanceId>,
    /// Nodes it is draining.
    #[serde(default)]
    pub nodes: Vec<String>,
    /// Zone and instance type pools the launch must avoid (the interrupted worker's).
    #[serde(default)]
    pub avoid: Vec<(String, String)>,
    /// Why it was started (the decision's reasons).
    #[serde(default)]
    pub reasons: Vec<String>,
    /// How it ended, or why it is stuck.
    #[serde(default)]
    pub result: Option<String>,
}

/// A transition the state machine does not allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("operation {id}: {from:?} cannot become {to:?}")]
pub struct InvalidTransition {
    /// The operation.
    pub id: String,
    /// Its phase.
    pub from: Phase,
    /// The refused phase.
    pub to: Phase,
}

impl Operation {
    /// Moves to `next` with a new deadline, if the state machine allows it.
    pub fn advance(&mut self, next: Phase, deadline: Timestamp) -> Result<(), InvalidTransition> {
        if !self.phase.can_become(next) {
            return Err(InvalidTransition { id: self.id.clone(), from: self.phase, to: next });
        }
        self.phase = next;
        self.deadline = deadline;
        Ok(())
    }

    /// Whether the current phase is past its deadline at `now`.
    pub fn overdue(&self, now: Timestamp) -> bool {
        !self.phase.is_terminal() && now >= self.deadline
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Phase::*;

    #[test]
    fn scale_up_and_scale_down_paths_are_allowed() {
        for path in [
            &[Launching, WaitingReady, Done][..],
            &[Launching, Failed],
            &[Launching, WaitingReady, Failed],
            &[Cordoned, Draining, Draining, Terminating, Done],
            &[Cordoned, Draining, Aborted],
            &[Cordoned, Aborted],
            &[Launching, WaitingReady, Cordoned, Draining, Terminating, Done],
        ] {
            for w in path.windows(2) {
                assert!(w[0].can_become(w[1]), "{:?} -> {:?} in {path:?}", w[0], w[1]);
            }
        }
    }

    #[test]
    fn terminal_phases_never_move_and_shortcuts_are_refused() {
        let all = [Launching, WaitingReady, Cordoned, Draining, Terminating, Done, Failed, Aborted];
        for from in [Done, Failed, Aborted] {
            assert!(all.iter().all(|to| !from.can_become(*to)), "{from:?} moved");
        }
        for (from, to) in [(Launching, Done), (Cordoned, Terminating), (Draining, Done), (Terminating, Aborted)] {
            assert!(!from.can_become(to), "{from:?} -> {to:?} allowed");
        }
        let t: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let mut op = Operation {
            id: "op-1".into(),
            kind: OperationKind::ScaleDown,
            phase: Cordoned,
            started_at: t,
            deadline: t,
            launch_count: 0,
            instances: vec![],
            nodes: vec![],
            avoid: vec![],
            reasons: vec![],
            result: None,
        };
        let err = op.advance(Done, t).unwrap_err();
        assert_eq!(err.to_string(), "operation op-1: Cordoned cannot become Done");
        assert_eq!(op.phase, Cordoned);
    }
}
