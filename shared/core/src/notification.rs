//! Notifications: one per event an operator should hear about, with what happened, why (the
//! decision's reasons with their numbers), which nodes, which operation, and how long it took.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::{ClusterId, time::Timestamp};

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotificationKind {
    /// Workers launched.
    ScaleUpStarted,
    /// Launched workers are Ready.
    ScaleUpDone,
    /// A worker is being drained for removal.
    DrainStarted,
    /// A drained worker was terminated.
    ScaleDownDone,
    /// A drain hit its timeout; the node was uncordoned.
    DrainTimedOut,
    /// A Spot interruption notice was handled (drain + replacement).
    SpotInterruption,
    /// A rebalance recommendation was handled (replacement first).
    Rebalance,
    /// A launch failed (the AWS error code is in the reasons).
    LaunchFailed,
    /// Launched workers never became Ready and were terminated.
    NodeNeverReady,
    /// An operation was rolled back or aborted.
    Aborted,
    /// A managed instance disappeared without us (terminated, stopped).
    InstanceLost,
    /// The reconciler found drift.
    Drift,
    /// No Watchdog alert for too long: the alert pipeline is silent.
    PipelineSilent,
    /// Dry run: what would have been done.
    DryRun,
    /// The demand has wanted fewer workers for `scale_down.report_held_after` and none could
    /// be removed.
    ScaleDownHeld,
}

/// How loud.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Normal operation.
    Info,
    /// Something went wrong and was handled.
    Warning,
    /// An operator must act.
    Error,
}

/// One notification.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    /// The cluster.
    pub cluster: ClusterId,
    /// What happened.
    pub kind: NotificationKind,
    /// How loud.
    pub severity: Severity,
    /// One line: `Scaled up 5 → 7 workers`.
    pub summary: String,
    /// Why, with numbers.
    pub reasons: Vec<String>,
    /// Nodes or instances concerned.
    pub nodes: Vec<String>,
    /// The operation, to thread updates of one operation together.
    pub operation_id: Option<String>,
    /// How long the operation took so far.
    pub duration: Option<Duration>,
    /// `Policy::version()`.
    pub config_version: String,
    /// When.
    pub at: Timestamp,
}

impl NotificationKind {
    /// The default severity of this kind.
    pub fn severity(self) -> Severity {
        use NotificationKind::*;
        match self {
            ScaleUpStarted | ScaleUpDone | DrainStarted | ScaleDownDone | DryRun | Rebalance | SpotInterruption => {
                Severity::Info
            }
            DrainTimedOut | Aborted | InstanceLost | Drift | ScaleDownHeld => Severity::Warning,
            LaunchFailed | NodeNeverReady | PipelineSilent => Severity::Error,
        }
    }
}
