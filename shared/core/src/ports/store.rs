//! The state store port: the cluster's state item guarded by a version and a lease, idempotency
//! records, operation records and decision audit records (DynamoDB in production).

use std::future::Future;

use serde::{Deserialize, Serialize};

use super::Cause;
use crate::{ClusterId, ClusterState, Decision, Operation, time::Timestamp};

/// A lease on a cluster's state: only its holder may write the state until `until`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    /// The cluster.
    pub cluster_id: ClusterId,
    /// Who holds it (invocation id).
    pub owner: String,
    /// When it expires; after that anyone may take it.
    pub until: Timestamp,
    /// Fencing token, incremented on every acquisition: a write carrying an older token is refused.
    pub token: u64,
}

/// One decision, kept for audit (`DECISION#<time>`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DecisionRecord {
    /// The cluster.
    pub cluster_id: ClusterId,
    /// When it was made.
    pub at: Timestamp,
    /// The message that caused it.
    pub message_id: String,
    /// What it saw: workers, CPU, Pending pods (a summary, not the whole snapshot).
    pub inputs: serde_json::Value,
    /// The decision and its reasons.
    pub decision: Decision,
    /// `Policy::version()` of the configuration that made it.
    pub config_version: String,
    /// Whether it was only recorded (dry run).
    pub dry_run: bool,
}

/// Why a store call failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Another invocation holds the lease; retry after it expires.
    #[error("lease on {cluster} held by {owner} until {until}")]
    LeaseHeld {
        /// The cluster.
        cluster: ClusterId,
        /// The holder.
        owner: String,
        /// Its expiry.
        until: Timestamp,
    },
    /// The state changed since it was read (version), or our lease was taken over (fencing).
    #[error("state of {cluster} changed concurrently (expected version {expected})")]
    Conflict {
        /// The cluster.
        cluster: ClusterId,
        /// The version we read.
        expected: u64,
    },
    /// Throttling, timeouts, 5xx: retry.
    #[error("{operation} on the state store")]
    Transient {
        /// What was attempted.
        operation: &'static str,
        /// Why it failed.
        #[source]
        source: Cause,
    },
    /// Bad configuration or data (missing table, access denied, corrupt item): an operator must act.
    #[error("{operation} on the state store")]
    Permanent {
        /// What was attempted.
        operation: &'static str,
        /// Why it failed.
        #[source]
        source: Cause,
    },
}

impl StoreError {
    /// Whether retrying the message later can succeed.
    pub fn retryable(&self) -> bool {
        !matches!(self, StoreError::Permanent { .. })
    }
}

/// The cluster state store.
pub trait StateStore: Send + Sync {
    /// Whether a message id was already processed to completion and its idempotency record is
    /// still live at `now` (it expires at the time `save` was given; DynamoDB's TTL deletes
    /// expired items late, so the store compares, rather than trusting the item's presence).
    fn seen(
        &self,
        cluster: &ClusterId,
        message_id: &str,
        now: Timestamp,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Takes the lease if it is free or expired at `now`; `LeaseHeld` otherwise.
    fn acquire(
        &self,
        cluster: &ClusterId,
        owner: &str,
        now: Timestamp,
        until: Timestamp,
    ) -> impl Future<Output = Result<Lease, StoreError>> + Send;

    /// Gives the lease back early (only if still ours).
    fn release(&self, lease: &Lease) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The cluster's state, `None` if never written.
    fn load(&self, cluster: &ClusterId) -> impl Future<Output = Result<Option<ClusterState>, StoreError>> + Send;

    /// Writes the state if its version is still `state.version` and the lease is still ours;
    /// stores it with `version + 1` and returns the new version. When `message_id` is given, the
    /// idempotency record (expiring at `record_expires_at`) is written in the same atomic step, so
    /// a message is marked processed exactly when its effects are persisted. A record of the same
    /// id that is live at `now` refuses the save; an expired one is overwritten.
    fn save(
        &self,
        state: &ClusterState,
        lease: &Lease,
        message_id: Option<&str>,
        record_expires_at: Timestamp,
        now: Timestamp,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// Writes an operation record (`OP#…`), for audit and for `status`.
    fn put_operation(&self, cluster: &ClusterId, op: &Operation)
    -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Writes a decision audit record (`DECISION#…`), expiring at `expires_at`.
    fn put_decision(
        &self,
        record: &DecisionRecord,
        expires_at: Timestamp,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}
