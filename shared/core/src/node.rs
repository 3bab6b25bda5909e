//! A Kubernetes node as the policy sees it: identity, zone, readiness and capacity.

use serde::{Deserialize, Serialize};

use crate::{InstanceId, Resources, time::Timestamp};

/// How the instance behind a node is billed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Lifecycle {
    /// Regular on-demand capacity.
    #[default]
    OnDemand,
    /// Spot capacity: cheaper, can be interrupted with a 2-minute notice.
    Spot,
}

/// A node of the cluster. The control plane (master) is listed too, so that every rule that must
/// never touch it can say why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Node {
    /// Kubernetes node name; for workers we launch it equals the instance id.
    pub name: String,
    /// The EC2 instance behind the node, from its provider id.
    #[serde(default)]
    pub instance_id: Option<InstanceId>,
    /// Availability zone (`topology.kubernetes.io/zone`).
    pub zone: String,
    /// The `Ready` condition is `True`.
    pub ready: bool,
    /// `spec.unschedulable` is set.
    #[serde(default)]
    pub cordoned: bool,
    /// Launched by this autoscaler (EC2 tag `k3s-autoscaler/managed=true`). Only such nodes are
    /// ever removed.
    #[serde(default)]
    pub managed: bool,
    /// A control-plane node (the K3s server). Never counted as a worker, never removed.
    #[serde(default)]
    pub control_plane: bool,
    /// The operator opted this node out of scale-down (node annotation
    /// `k3s-autoscaler/scale-down-disabled=true`).
    #[serde(default)]
    pub scale_down_disabled: bool,
    /// Spot or on-demand.
    #[serde(default)]
    pub lifecycle: Lifecycle,
    /// What the scheduler may place on the node.
    pub allocatable: Resources,
    /// When the node object was created.
    pub created_at: Timestamp,
}

impl Node {
    /// A worker is every node that is not a control-plane node.
    pub fn is_worker(&self) -> bool {
        !self.control_plane
    }

    /// Whether the scheduler can place new pods on the node.
    pub fn schedulable(&self) -> bool {
        self.ready && !self.cordoned
    }
}
