//! Drain planning: for one node, which pods are evicted, which are skipped, and which make the
//! node unremovable — each with a reason an operator can read. Pure.

use serde::Serialize;

use crate::{OwnerKind, Pdb, Pod, Policy};

/// Why a pod is left alone by a drain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Skip {
    /// DaemonSet pods run on every node and go with it.
    DaemonSet,
    /// Static pods are owned by the kubelet, not the API server.
    Mirror,
    /// Succeeded or Failed: holds nothing.
    Finished,
}

/// The plan for draining one node.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DrainPlan {
    /// Pods to evict, `namespace/name`.
    pub evict: Vec<String>,
    /// Pods left alone, with why.
    pub skipped: Vec<(String, Skip)>,
    /// Pods that make the node unremovable, with why (`kube-system/coredns (no PDB)`).
    pub blocking: Vec<String>,
}

impl DrainPlan {
    /// Whether the node may be drained.
    pub fn is_clear(&self) -> bool {
        self.blocking.is_empty()
    }
}

/// Plans the drain of the pods bound to one node.
pub fn plan<'p>(pods: impl IntoIterator<Item = &'p Pod>, pdbs: &[Pdb], policy: &Policy) -> DrainPlan {
    let mut plan = DrainPlan::default();
    for pod in pods {
        if let Some(skip) = skip_reason(pod) {
            plan.skipped.push((pod.key(), skip));
        } else if let Some(why) = block_reason(pod, pdbs, policy) {
            plan.blocking.push(format!("{} ({why})", pod.key()));
        } else {
            plan.evict.push(pod.key());
        }
    }
    plan
}

/// Why a pod needs no eviction, if it needs none.
pub fn skip_reason(pod: &Pod) -> Option<Skip> {
    match pod.owner {
        _ if pod.is_terminal() => Some(Skip::Finished),
        OwnerKind::DaemonSet => Some(Skip::DaemonSet),
        OwnerKind::Node => Some(Skip::Mirror),
        _ => None,
    }
}

/// Why evicting this pod is not allowed, if it is not. Callers have already skipped
/// DaemonSet, mirror and finished pods.
pub fn block_reason(pod: &Pod, pdbs: &[Pdb], policy: &Policy) -> Option<String> {
    let safe = pod.safe_to_evict();
    if safe == Some(false) {
        return Some("annotated safe-to-evict=false".into());
    }
    let budgets: Vec<&Pdb> = pdbs.iter().filter(|b| b.covers(pod)).collect();
    if let Some(b) = budgets.iter().find(|b| b.disruptions_allowed == 0) {
        return Some(format!("PDB {} allows 0 disruptions", b.key()));
    }
    let critical = policy.scale_down.critical_namespaces.contains(&pod.namespace) || pod.has_critical_priority();
    if critical && budgets.is_empty() {
        return Some("no PDB".into());
    }
    if safe == Some(true) {
        return None;
    }
    if pod.owner == OwnerKind::None {
        return Some("bare pod: no controller would recreate it".into());
    }
    if pod.local_storage {
        return Some("uses local storage (emptyDir/hostPath)".into());
    }
    None
}
