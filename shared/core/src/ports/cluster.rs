//! The cluster port: what the engine reads from and does to the K3s API.

use std::future::Future;

use super::Cause;
use crate::{Node, Pdb, Pod};

/// The outcome of one eviction request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Eviction {
    /// Accepted: the pod is terminating.
    Evicted,
    /// Refused by a PodDisruptionBudget (HTTP 429): try again later.
    Blocked,
    /// The pod no longer exists (HTTP 404).
    Gone,
}

/// Why a K3s API call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// Timeouts, 5xx, connection refused: retry.
    #[error("{operation} on the K3s API")]
    Transient {
        /// What was attempted (`cordoning i-0ab`).
        operation: String,
        /// Why.
        #[source]
        source: Cause,
    },
    /// 401/403, bad request: an operator must act.
    #[error("{operation} on the K3s API")]
    Permanent {
        /// What was attempted.
        operation: String,
        /// Why.
        #[source]
        source: Cause,
    },
}

impl ClusterError {
    /// Whether retrying the message later can succeed.
    pub fn retryable(&self) -> bool {
        matches!(self, ClusterError::Transient { .. })
    }
}

/// The K3s API.
pub trait Cluster: Send + Sync {
    /// Every node, the control plane included.
    fn nodes(&self) -> impl Future<Output = Result<Vec<Node>, ClusterError>> + Send;
    /// Every pod that is not finished long ago (bound and Pending).
    fn pods(&self) -> impl Future<Output = Result<Vec<Pod>, ClusterError>> + Send;
    /// Every PodDisruptionBudget with its current allowance.
    fn pdbs(&self) -> impl Future<Output = Result<Vec<Pdb>, ClusterError>> + Send;
    /// Marks the node unschedulable and adds the `k3s-autoscaler/draining:NoSchedule` taint.
    fn cordon(&self, node: &str) -> impl Future<Output = Result<(), ClusterError>> + Send;
    /// Reverts `cordon`.
    fn uncordon(&self, node: &str) -> impl Future<Output = Result<(), ClusterError>> + Send;
    /// Posts a `policy/v1` Eviction for the pod with the grace period.
    fn evict(
        &self,
        namespace: &str,
        name: &str,
        grace_seconds: u32,
    ) -> impl Future<Output = Result<Eviction, ClusterError>> + Send;
    /// Deletes the Node object (after its instance is terminated). Absent already is success.
    fn delete_node(&self, node: &str) -> impl Future<Output = Result<(), ClusterError>> + Send;
}
