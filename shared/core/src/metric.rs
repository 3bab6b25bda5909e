//! Metrics the services emit (as CloudWatch Embedded Metric Format lines). Dimensions are
//! low-cardinality: cluster, action, result, reason — never an instance id.

use serde::Serialize;

/// Metric names, one constant each, so dashboards and alarms have one spelling.
pub mod names {
    /// A decision was made (dimension `action`).
    pub const DECISIONS: &str = "Decisions";
    /// Workers launched.
    pub const SCALE_UPS: &str = "ScaleUps";
    /// Workers removed.
    pub const SCALE_DOWNS: &str = "ScaleDowns";
    /// Operations that failed or were aborted (dimension `reason`).
    pub const FAILED_OPERATIONS: &str = "FailedOperations";
    /// Seconds from the signal's condition to the action.
    pub const DECISION_LATENCY: &str = "DecisionLatency";
    /// Seconds from launch to node Ready.
    pub const NODE_JOIN_SECONDS: &str = "NodeJoinSeconds";
    /// Seconds from cordon to empty node.
    pub const DRAIN_SECONDS: &str = "DrainSeconds";
    /// Evictions refused by a PodDisruptionBudget.
    pub const EVICTIONS_BLOCKED: &str = "EvictionsBlockedByPdb";
    /// Messages acknowledged without action (dimension `reason`: duplicate, ignored, poison).
    pub const MESSAGES_IGNORED: &str = "MessagesIgnored";
    /// Messages retried because another invocation held the lease.
    pub const LEASE_CONFLICTS: &str = "LeaseConflicts";
    /// Drift findings of the reconciler.
    pub const DRIFT_FINDINGS: &str = "DriftFindings";
    /// The reconciler ran.
    pub const HEARTBEAT: &str = "Heartbeat";
    /// 1 when no Watchdog alert arrived for too long (the alert pipeline is silent), else 0.
    pub const PIPELINE_SILENT: &str = "PipelineSilent";
    /// Average worker CPU percent of the last fresh reading (gauge; absent when stale).
    pub const CPU_PERCENT: &str = "CpuPercent";
    /// Unschedulable Pending pods seen through the K3s API (gauge).
    pub const PENDING_PODS: &str = "PendingPods";
    /// Workers counted (gauge).
    pub const WORKERS: &str = "Workers";
    /// Notifications that could not be delivered.
    pub const NOTIFICATIONS_FAILED: &str = "NotificationsFailed";
}

/// The unit of a metric value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Unit {
    /// A count.
    Count,
    /// Seconds.
    Seconds,
    /// No unit.
    None,
}

/// One metric value with its dimensions.
#[derive(Debug, Clone, PartialEq)]
pub struct Metric {
    /// One of `names`.
    pub name: &'static str,
    /// The value.
    pub value: f64,
    /// Its unit.
    pub unit: Unit,
    /// Low-cardinality dimensions (`cluster` is always first).
    pub dimensions: Vec<(&'static str, String)>,
}

impl Metric {
    /// A count of 1 for `cluster`.
    pub fn count(name: &'static str, cluster: &str) -> Self {
        Self { name, value: 1.0, unit: Unit::Count, dimensions: vec![("cluster", cluster.to_owned())] }
    }

    /// A value in seconds for `cluster`.
    pub fn seconds(name: &'static str, cluster: &str, value: f64) -> Self {
        Self { name, value, unit: Unit::Seconds, dimensions: vec![("cluster", cluster.to_owned())] }
    }

    /// Adds a dimension.
    pub fn with(mut self, key: &'static str, value: impl Into<String>) -> Self {
        self.dimensions.push((key, value.into()));
        self
    }

    /// Sets the value.
    pub fn value(mut self, value: f64) -> Self {
        self.value = value;
        self
    }
}
