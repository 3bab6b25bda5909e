//! Signals: what the autoscaler hears — alerts from Prometheus, EC2 events from EventBridge, and
//! the reconciler's ticks — after parsing, as plain data.

use serde::{Deserialize, Serialize};

use crate::{InstanceId, time::Timestamp};

/// Whether an alert is firing or has resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertStatus {
    /// The rule's condition holds (after its `for:`).
    Firing,
    /// The condition no longer holds.
    Resolved,
}

/// The worker CPU values an alert carries in its annotations.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CpuValues {
    /// Average worker CPU utilisation, percent.
    pub cpu_percent: f64,
    /// Busy worker cores (the demand); absent when the rule could not compute it.
    #[serde(default)]
    pub demand_cores: Option<f64>,
}

/// EC2 instance states from `EC2 Instance State-change Notification`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum InstanceState {
    /// Launch accepted.
    Pending,
    /// Running (not yet necessarily a Ready node).
    Running,
    /// Stopping.
    Stopping,
    /// Stopped.
    Stopped,
    /// Terminating.
    ShuttingDown,
    /// Gone.
    Terminated,
}

/// A parsed, actionable signal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "signal", rename_all = "snake_case")]
pub enum Signal {
    /// Average worker CPU above the scale-up threshold (HighCPU).
    HighCpu {
        /// Firing or resolved.
        status: AlertStatus,
        /// When the alert started firing.
        starts_at: Timestamp,
        /// The values it carried.
        values: CpuValues,
    },
    /// Pods Pending for longer than the window (PendingPods).
    PendingPods {
        /// Firing or resolved.
        status: AlertStatus,
        /// When the alert started firing.
        starts_at: Timestamp,
        /// How many pods were Pending.
        pending_pods: u32,
    },
    /// Average worker CPU below the scale-down threshold long enough, nothing Pending (LowCPU).
    LowCpu {
        /// Firing or resolved.
        status: AlertStatus,
        /// When the alert started firing.
        starts_at: Timestamp,
        /// The values it carried.
        values: CpuValues,
    },
    /// One worker fewer would still run at or below the target utilisation, nothing
    /// unschedulable, for the consolidation window (Overprovisioned).
    Overprovisioned {
        /// Firing or resolved.
        status: AlertStatus,
        /// When the alert started firing.
        starts_at: Timestamp,
        /// The values it carried (the current average, not the projected one).
        values: CpuValues,
    },
    /// The always-firing alert: the pipeline is alive; carries current CPU values.
    Watchdog {
        /// The values it carried.
        values: CpuValues,
    },
    /// An optional application signal (latency, error rate, queue depth): recorded, reported.
    AppMetric {
        /// The alert name.
        name: String,
        /// Firing or resolved.
        status: AlertStatus,
        /// Its value annotation.
        value: Option<f64>,
    },
    /// EC2 Spot Instance Interruption Warning: the instance is reclaimed at `action_at`.
    SpotInterruption {
        /// The instance.
        instance_id: InstanceId,
        /// When EC2 will take it (event time + 2 minutes).
        action_at: Timestamp,
    },
    /// EC2 Instance Rebalance Recommendation: elevated interruption risk.
    Rebalance {
        /// The instance.
        instance_id: InstanceId,
    },
    /// EC2 Instance State-change Notification.
    InstanceStateChange {
        /// The instance.
        instance_id: InstanceId,
        /// Its new state.
        state: InstanceState,
    },
    /// AWS Health scheduled change (retirement, maintenance) for instances.
    ScheduledChange {
        /// The affected instances.
        instance_ids: Vec<InstanceId>,
        /// When the change starts, if known.
        start_at: Option<Timestamp>,
    },
    /// A follow-up the scaler sent itself to advance a long operation (drain, Ready wait).
    Advance {
        /// The operation.
        operation_id: String,
        /// Which follow-up of the operation this is.
        step: u32,
    },
    /// The reconciler's periodic tick, with what it found.
    Reconcile {
        /// When the reconciler observed.
        at: Timestamp,
        /// Drift it found (human-readable).
        findings: Vec<String>,
    },
}
