//! The persisted cluster state: counts, scaling times, the in-flight operation and the last CPU
//! reading. One item per cluster (`STATE`); the store guards it with a version and a lease.

use serde::{Deserialize, Serialize};

use crate::{ClusterId, Operation, snapshot::CpuReading, time::Timestamp};

/// The cluster's state item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClusterState {
    /// The cluster.
    pub cluster_id: ClusterId,
    /// Workers counted at the last decision (Ready or not).
    #[serde(default)]
    pub node_count: u32,
    /// Workers the last decision aimed for.
    #[serde(default)]
    pub desired_count: u32,
    /// Last time a scale action was issued.
    #[serde(default)]
    pub last_scale_time: Option<Timestamp>,
    /// Last scale-up completion (nodes Ready), for the cooldowns.
    #[serde(default)]
    pub last_scale_up_at: Option<Timestamp>,
    /// Last removal completion, for the pause between removals.
    #[serde(default)]
    pub last_scale_down_at: Option<Timestamp>,
    /// An operation is in flight.
    #[serde(default)]
    pub scaling_in_progress: bool,
    /// The operation in flight, if any.
    #[serde(default)]
    pub operation: Option<Operation>,
    /// No scale-up before this (after quota errors, capacity everywhere, a node never Ready).
    #[serde(default)]
    pub backoff_until: Option<Timestamp>,
    /// A scale-down under way toward `target`, one drain at a time.
    #[serde(default)]
    pub scale_down_target: Option<u32>,
    /// Since when every decision has wanted fewer workers (its target below the count) without
    /// removing one: a worker kept by a blocking pod, say. Cleared by any scaling action or a
    /// decision that wants no fewer.
    #[serde(default)]
    pub scale_down_held_since: Option<Timestamp>,
    /// Whether the current hold was reported (once per hold).
    #[serde(default)]
    pub scale_down_held_reported: bool,
    /// Spot workers under an interruption notice, drained without an operation slot, cleaned up
    /// when EC2 reports them terminated.
    #[serde(default)]
    pub interrupted: Vec<crate::InstanceId>,
    /// The earliest reclaim time of the interrupted workers (bounds eviction grace periods).
    #[serde(default)]
    pub spot_deadline: Option<Timestamp>,
    /// Workers at elevated risk (rebalance recommendation, scheduled retirement) awaiting a
    /// replacement-first operation.
    #[serde(default)]
    pub at_risk: Vec<crate::InstanceId>,
    /// Replacements owed for interrupted Spot workers, launched as soon as the slot is free.
    #[serde(default)]
    pub replacements_owed: u32,
    /// The latest CPU values and the alert windows they belong to.
    #[serde(default)]
    pub cpu: CpuReading,
    /// Since when PendingPods has been firing (cleared when it resolves).
    #[serde(default)]
    pub pending_alert_since: Option<Timestamp>,
    /// Last Watchdog seen (pipeline liveness).
    #[serde(default)]
    pub last_watchdog_at: Option<Timestamp>,
    /// Optimistic-concurrency version; every write is conditional on it.
    #[serde(default)]
    pub version: u64,
}

impl ClusterState {
    /// The state of a cluster never seen before.
    pub fn new(cluster_id: ClusterId) -> Self {
        Self {
            cluster_id,
            node_count: 0,
            desired_count: 0,
            last_scale_time: None,
            last_scale_up_at: None,
            last_scale_down_at: None,
            scaling_in_progress: false,
            operation: None,
            backoff_until: None,
            scale_down_target: None,
            scale_down_held_since: None,
            scale_down_held_reported: false,
            interrupted: vec![],
            spot_deadline: None,
            at_risk: vec![],
            replacements_owed: 0,
            cpu: CpuReading::default(),
            pending_alert_since: None,
            last_watchdog_at: None,
            version: 0,
        }
    }

    /// The in-flight operation, if one is not finished.
    pub fn active_operation(&self) -> Option<&Operation> {
        self.operation.as_ref().filter(|op| !op.phase.is_terminal())
    }
}
