//! A pod as the policy and drain planning see it: placement, phase, owner and requests.

use std::collections::BTreeMap;

use compact_str::CompactString;
use serde::{Deserialize, Serialize};

use crate::{Resources, time::Timestamp};

/// Annotation (Cluster Autoscaler's, which users already set) that marks a pod as not evictable
/// (`"false"`) or as evictable despite local storage or no controller (`"true"`).
pub const SAFE_TO_EVICT_CA: &str = "cluster-autoscaler.kubernetes.io/safe-to-evict";
/// Our own spelling of the same annotation.
pub const SAFE_TO_EVICT: &str = "k3s-autoscaler/safe-to-evict";

/// Priority classes Kubernetes reserves for components the cluster cannot run without.
pub const CRITICAL_PRIORITY_CLASSES: [&str; 2] = ["system-cluster-critical", "system-node-critical"];

/// `status.phase` of a pod.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PodPhase {
    /// Accepted but not running: unscheduled, or pulling images.
    Pending,
    /// Bound to a node with at least one container running.
    Running,
    /// All containers exited with success.
    Succeeded,
    /// All containers exited, at least one failed.
    Failed,
    /// The node stopped reporting.
    Unknown,
}

/// The kind of the controller that owns a pod (its controlling `ownerReference`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum OwnerKind {
    /// A pod with no controller: nothing would recreate it after eviction.
    None,
    /// Owned by a ReplicaSet (a Deployment).
    ReplicaSet,
    /// Owned by a StatefulSet.
    StatefulSet,
    /// Owned by a DaemonSet: runs on every node, never evicted by a drain.
    DaemonSet,
    /// Owned by a Job.
    Job,
    /// A static (mirror) pod owned by the Node object itself.
    Node,
    /// Any other controller kind.
    Other(String),
}

/// A pod of the cluster.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pod {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// The node it is bound to; `None` while unscheduled. Stored inline (up to 24 bytes, which
    /// holds the instance-id node names our workers register with): the policy reads every pod's
    /// node, and a heap pointer per pod made that the cost of a decision on large clusters.
    #[serde(default)]
    pub node: Option<CompactString>,
    /// Phase.
    pub phase: PodPhase,
    /// Controller kind.
    pub owner: OwnerKind,
    /// `spec.priorityClassName`.
    #[serde(default)]
    pub priority_class: Option<String>,
    /// Labels (for PodDisruptionBudget selectors).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Annotations (for the safe-to-evict opt-in / opt-out).
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// Sum of the containers' requests.
    #[serde(default)]
    pub requests: Resources,
    /// Since when it has been unschedulable (`PodScheduled=False` transition), for Pending pods.
    #[serde(default)]
    pub pending_since: Option<Timestamp>,
    /// Mounts `emptyDir` or `hostPath` volumes: data that an eviction destroys.
    #[serde(default)]
    pub local_storage: bool,
}

impl Pod {
    /// `namespace/name`, the way operators name a pod.
    pub fn key(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    /// Succeeded or Failed: holds no resources, needs no eviction.
    pub fn is_terminal(&self) -> bool {
        matches!(self.phase, PodPhase::Succeeded | PodPhase::Failed)
    }

    /// Waiting for a node: Pending and not bound.
    pub fn is_unschedulable(&self) -> bool {
        self.phase == PodPhase::Pending && self.node.is_none()
    }

    /// The value of the safe-to-evict annotation, ours first.
    pub fn safe_to_evict(&self) -> Option<bool> {
        [SAFE_TO_EVICT, SAFE_TO_EVICT_CA]
            .iter()
            .find_map(|k| self.annotations.get(*k))
            .map(|v| v.eq_ignore_ascii_case("true"))
    }

    /// Runs at one of Kubernetes' critical priority classes.
    pub fn has_critical_priority(&self) -> bool {
        self.priority_class.as_deref().is_some_and(|c| CRITICAL_PRIORITY_CLASSES.contains(&c))
    }
}
