//! Reading a Kubernetes `Pod` object as the core's [`Pod`]: placement, owner, requests as the
//! scheduler counts them, how long it has waited for a node, and local storage. Pure.

use std::collections::BTreeMap;

use autoscaler_core::{OwnerKind, Pod, PodPhase, Resources, time::Timestamp};
use k8s_openapi::{api::core::v1 as k8s, apimachinery::pkg::api::resource::Quantity};

use super::quantity::{self, QuantityError};

/// The core's view of `pod`. Fails only when a request quantity does not parse.
pub fn to_pod(pod: &k8s::Pod) -> Result<Pod, QuantityError> {
    let meta = &pod.metadata;
    let spec = pod.spec.as_ref();
    let status = pod.status.as_ref();
    let node = spec.and_then(|s| s.node_name.clone()).filter(|n| !n.is_empty());
    let phase = match status.and_then(|s| s.phase.as_deref()) {
        // A pod the API server has just accepted has no phase yet: it is waiting.
        None | Some("Pending") => PodPhase::Pending,
        Some("Running") => PodPhase::Running,
        Some("Succeeded") => PodPhase::Succeeded,
        Some("Failed") => PodPhase::Failed,
        Some(_) => PodPhase::Unknown,
    };
    let pending_since = if phase == PodPhase::Pending && node.is_none() { waiting_since(pod) } else { None };
    Ok(Pod {
        namespace: meta.namespace.clone().unwrap_or_default(),
        name: meta.name.clone().unwrap_or_default(),
        node: node.map(Into::into),
        phase,
        owner: owner(pod),
        priority_class: spec.and_then(|s| s.priority_class_name.clone()),
        labels: meta.labels.clone().unwrap_or_default(),
        annotations: meta.annotations.clone().unwrap_or_default(),
        requests: spec.map(requests).transpose()?.unwrap_or_default(),
        pending_since,
        local_storage: spec
            .and_then(|s| s.volumes.as_ref())
            .is_some_and(|v| v.iter().any(|v| v.empty_dir.is_some() || v.host_path.is_some())),
    })
}

/// The kind of the controlling `ownerReference`; `None` for a bare pod.
fn owner(pod: &k8s::Pod) -> OwnerKind {
    let refs = pod.metadata.owner_references.as_deref().unwrap_or_default();
    match refs.iter().find(|r| r.controller == Some(true)).map(|r| r.kind.as_str()) {
        None => OwnerKind::None,
        Some("ReplicaSet") => OwnerKind::ReplicaSet,
        Some("StatefulSet") => OwnerKind::StatefulSet,
        Some("DaemonSet") => OwnerKind::DaemonSet,
        Some("Job") => OwnerKind::Job,
        Some("Node") => OwnerKind::Node,
        Some(other) => OwnerKind::Other(other.to_owned()),
    }
}

/// Since when an unbound pod has waited for a node: the scheduler's `PodScheduled=False`
/// transition, else its creation. `None` while scheduling gates hold it back: no capacity would
/// let it run.
fn waiting_since(pod: &k8s::Pod) -> Option<Timestamp> {
    let gated = pod.spec.as_ref().and_then(|s| s.scheduling_gates.as_ref()).is_some_and(|g| !g.is_empty());
    if gated {
        return None;
    }
    let conditions = pod.status.as_ref().and_then(|s| s.conditions.as_deref()).unwrap_or_default();
    conditions
        .iter()
        .find(|c| c.type_ == "PodScheduled" && c.status == "False")
        .and_then(|c| c.last_transition_time.as_ref())
        .or(pod.metadata.creation_timestamp.as_ref())
        .map(|t| t.0)
}

/// What the scheduler reserves for the pod: the containers' requests plus the sidecars (restartable
/// init containers), or the largest init container step if that is more, per resource; pod-level
/// requests replace the sum where set; the runtime overhead is added.
fn requests(spec: &k8s::PodSpec) -> Result<Resources, QuantityError> {
    let of = |c: &k8s::Container| read(c.resources.as_ref().and_then(|r| r.requests.as_ref()));
    let mut total = Resources::default();
    for c in &spec.containers {
        total += of(c)?;
    }
    let mut sidecars = Resources::default();
    let mut init_peak = Resources::default();
    for c in spec.init_containers.as_deref().unwrap_or_default() {
        let own = of(c)?;
        let step = if c.restart_policy.as_deref() == Some("Always") {
            // A sidecar keeps running next to everything after it.
            total += own;
            sidecars += own;
            sidecars
        } else {
            own + sidecars
        };
        init_peak = max(init_peak, step);
    }
    let mut reserved = max(total, init_peak);
    let pod_level = read(spec.resources.as_ref().and_then(|r| r.requests.as_ref()))?;
    let pod_level_keys = spec.resources.as_ref().and_then(|r| r.requests.as_ref());
    if pod_level_keys.is_some_and(|r| r.contains_key("cpu")) {
        reserved.cpu_millis = pod_level.cpu_millis;
    }
    if pod_level_keys.is_some_and(|r| r.contains_key("memory")) {
        reserved.memory_bytes = pod_level.memory_bytes;
    }
    Ok(reserved + read(spec.overhead.as_ref())?)
}

fn read(list: Option<&BTreeMap<String, Quantity>>) -> Result<Resources, QuantityError> {
    let get = |key: &str, parse: fn(&str) -> Result<u64, QuantityError>| {
        list.and_then(|l| l.get(key)).map_or(Ok(0), |q| parse(&q.0))
    };
    Ok(Resources::new(get("cpu", quantity::cpu_millis)?, get("memory", quantity::bytes)?))
}

fn max(a: Resources, b: Resources) -> Resources {
    Resources::new(a.cpu_millis.max(b.cpu_millis), a.memory_bytes.max(b.memory_bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(json: serde_json::Value) -> Pod {
        to_pod(&serde_json::from_value(json).expect("valid Pod")).expect("maps")
    }

    fn container(cpu: &str, mem: &str) -> serde_json::Value {
        json!({"name": "c", "resources": {"requests": {"cpu": cpu, "memory": mem}}})
    }

    #[test]
    fn requests_sum_containers_and_take_the_larger_init_step() {
        let p = pod(json!({"metadata": {"name": "p"}, "spec": {
            "containers": [container("100m", "64Mi"), container("200m", "64Mi")],
            "initContainers": [container("1", "32Mi")]
        }}));
        assert_eq!(p.requests, Resources::new(1000, 128 << 20));
    }

    #[test]
    fn sidecars_add_to_the_steady_state_and_to_later_init_steps() {
        let mut sidecar = container("100m", "16Mi");
        sidecar["restartPolicy"] = json!("Always");
        let p = pod(json!({"metadata": {"name": "p"}, "spec": {
            "containers": [container("200m", "64Mi")],
            "initContainers": [sidecar, container("250m", "100Mi")],
            "overhead": {"cpu": "10m"}
        }}));
        // Steady state 300m/80Mi; the second init step runs 350m/116Mi beside the sidecar.
        assert_eq!(p.requests, Resources::new(360, 116 << 20));
    }

    #[test]
    fn pod_level_requests_replace_the_container_sum() {
        let p = pod(json!({"metadata": {"name": "p"}, "spec": {
            "containers": [container("200m", "64Mi")],
            "resources": {"requests": {"cpu": "1"}}
        }}));
        assert_eq!(p.requests, Resources::new(1000, 64 << 20));
    }

    #[test]
    fn an_unscheduled_pod_waits_since_the_scheduler_gave_up_or_else_since_creation() {
        let p = pod(json!({
            "metadata": {"name": "p", "namespace": "shop", "creationTimestamp": "2026-01-01T10:00:00Z"},
            "spec": {"containers": []},
            "status": {"phase": "Pending", "conditions": [
                {"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                 "lastTransitionTime": "2026-01-01T10:00:05Z"}]}
        }));
        assert_eq!(p.pending_since.map(|t| t.to_string()).as_deref(), Some("2026-01-01T10:00:05Z"));
        assert!(p.is_unschedulable());
        let fresh = pod(json!({"metadata": {"name": "p", "creationTimestamp": "2026-01-01T10:00:00Z"},
            "spec": {"containers": []}}));
        assert_eq!(fresh.pending_since.map(|t| t.to_string()).as_deref(), Some("2026-01-01T10:00:00Z"));
        let gated = pod(json!({"metadata": {"name": "p", "creationTimestamp": "2026-01-01T10:00:00Z"},
            "spec": {"containers": [], "schedulingGates": [{"name": "wait"}]}}));
        assert_eq!(gated.pending_since, None);
    }

    #[test]
    fn a_bound_pod_is_not_waiting_and_reports_owner_and_local_storage() {
        let p = pod(json!({
            "metadata": {"name": "db-0", "namespace": "shop", "ownerReferences": [
                {"apiVersion": "v1", "kind": "Service", "name": "x", "uid": "1"},
                {"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "db", "uid": "2", "controller": true}]},
            "spec": {"nodeName": "i-0abc", "priorityClassName": "system-node-critical", "containers": [],
                     "volumes": [{"name": "cache", "emptyDir": {}}]},
            "status": {"phase": "Running"}
        }));
        assert_eq!((p.node.as_deref(), p.phase, p.pending_since), (Some("i-0abc"), PodPhase::Running, None));
        assert_eq!(p.owner, OwnerKind::StatefulSet);
        assert!(p.local_storage && p.has_critical_priority());
        let bare = pod(json!({"metadata": {"name": "x", "ownerReferences": [
            {"apiVersion": "v1", "kind": "ReplicaSet", "name": "r", "uid": "1"}]}, "spec": {"containers": []}}));
        assert_eq!(bare.owner, OwnerKind::None, "an ownerReference without controller=true is not a controller");
    }
}
