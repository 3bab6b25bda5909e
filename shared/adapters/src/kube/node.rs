//! Reading a Kubernetes `Node` object as the core's [`Node`]: identity, zone, readiness, the
//! autoscaler's labels and annotations, and allocatable capacity. Pure.

use autoscaler_core::{InstanceId, Lifecycle, Node, Resources};
use k8s_openapi::api::core::v1 as k8s;

use super::quantity::{self, QuantityError};

/// Label of the nodes this autoscaler launched.
pub const MANAGED_LABEL: &str = "k3s-autoscaler/managed";
/// Label saying how a node is billed: `spot` or `on-demand`.
pub const LIFECYCLE_LABEL: &str = "k3s-autoscaler/lifecycle";
/// Annotation by which an operator opts a node out of scale-down.
pub const SCALE_DOWN_DISABLED_ANNOTATION: &str = "k3s-autoscaler/scale-down-disabled";
/// The zone label every cloud node carries.
pub const ZONE_LABEL: &str = "topology.kubernetes.io/zone";
/// The deprecated zone label, still set by older kubelets.
const LEGACY_ZONE_LABEL: &str = "failure-domain.beta.kubernetes.io/zone";
/// Role labels of a K3s server; either one marks the control plane.
pub const CONTROL_PLANE_LABELS: [&str; 2] = ["node-role.kubernetes.io/control-plane", "node-role.kubernetes.io/master"];

/// The core's view of `node`. Fails only when a capacity quantity does not parse.
pub fn to_node(node: &k8s::Node) -> Result<Node, QuantityError> {
    let meta = &node.metadata;
    let label = |key: &str| meta.labels.as_ref().and_then(|l| l.get(key)).map(String::as_str);
    let annotation = |key: &str| meta.annotations.as_ref().and_then(|a| a.get(key)).map(String::as_str);
    let is_true = |v: Option<&str>| v.is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let spec = node.spec.as_ref();
    let provider_id = spec.and_then(|s| s.provider_id.as_deref());
    let status = node.status.as_ref();

    let zone = label(ZONE_LABEL)
        .or_else(|| label(LEGACY_ZONE_LABEL))
        .or_else(|| provider_id.and_then(zone_from_provider_id))
        .unwrap_or_default();
    let ready = status
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
    let lifecycle = match label(LIFECYCLE_LABEL) {
        Some(v) if v.eq_ignore_ascii_case("spot") => Lifecycle::Spot,
        _ => Lifecycle::OnDemand,
    };
    let allocatable = status.and_then(|s| s.allocatable.as_ref());
    let amount = |key: &str, parse: fn(&str) -> Result<u64, QuantityError>| {
        allocatable.and_then(|a| a.get(key)).map_or(Ok(0), |q| parse(&q.0))
    };

    Ok(Node {
        name: meta.name.clone().unwrap_or_default(),
        instance_id: provider_id.and_then(InstanceId::from_provider_id),
        zone: zone.to_owned(),
        ready,
        cordoned: spec.and_then(|s| s.unschedulable).unwrap_or(false),
        managed: is_true(label(MANAGED_LABEL)),
        // Presence is enough (K3s writes `true`, kubeadm an empty value): erring towards "control
        // plane" only ever protects a node.
        control_plane: CONTROL_PLANE_LABELS.iter().any(|k| label(k).is_some()),
        scale_down_disabled: is_true(annotation(SCALE_DOWN_DISABLED_ANNOTATION)),
        lifecycle,
        allocatable: Resources::new(amount("cpu", quantity::cpu_millis)?, amount("memory", quantity::bytes)?),
        created_at: meta.creation_timestamp.as_ref().map(|t| t.0).unwrap_or_default(),
    })
}

/// `us-east-1a` out of `aws:///us-east-1a/i-0abc`.
fn zone_from_provider_id(provider_id: &str) -> Option<&str> {
    let path = provider_id.strip_prefix("aws://")?;
    let mut parts = path.rsplit('/');
    parts.next()?;
    parts.next().filter(|z| !z.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(json: serde_json::Value) -> k8s::Node {
        serde_json::from_value(json).expect("valid Node")
    }

    #[test]
    fn a_worker_is_read_with_its_identity_zone_and_capacity() {
        let n = to_node(&node(serde_json::json!({
            "metadata": {
                "name": "i-0abc", "creationTimestamp": "2026-03-01T10:00:00Z",
                "labels": {"topology.kubernetes.io/zone": "us-east-1b", "k3s-autoscaler/managed": "true",
                           "k3s-autoscaler/lifecycle": "spot"},
                "annotations": {"k3s-autoscaler/scale-down-disabled": "true"}
            },
            "spec": {"providerID": "aws:///us-east-1b/i-0abc", "unschedulable": true},
            "status": {
                "allocatable": {"cpu": "1950m", "memory": "1871Mi"},
                "conditions": [{"type": "MemoryPressure", "status": "False"}, {"type": "Ready", "status": "True"}]
            }
        })))
        .expect("maps");
        assert_eq!(n.name, "i-0abc");
        assert_eq!(n.instance_id, Some(InstanceId("i-0abc".into())));
        assert_eq!(n.zone, "us-east-1b");
        assert!(n.ready && n.cordoned && n.managed && n.scale_down_disabled && !n.control_plane);
        assert_eq!(n.lifecycle, Lifecycle::Spot);
        assert_eq!(n.allocatable, Resources::new(1950, 1871 * 1024 * 1024));
        assert_eq!(n.created_at.to_string(), "2026-03-01T10:00:00Z");
    }

    #[test]
    fn the_k3s_server_is_the_control_plane_and_not_ready_without_a_true_condition() {
        let n = to_node(&node(serde_json::json!({
            "metadata": {"name": "master", "labels": {"node-role.kubernetes.io/master": "true"}},
            "spec": {"providerID": "aws:///us-east-1a/i-0master"},
            "status": {"conditions": [{"type": "Ready", "status": "Unknown"}]}
        })))
        .expect("maps");
        assert!(n.control_plane && !n.ready && !n.managed && !n.cordoned);
        assert_eq!(n.zone, "us-east-1a", "zone falls back to the provider id");
        assert_eq!(n.lifecycle, Lifecycle::OnDemand);
        assert_eq!(n.allocatable, Resources::default());
    }

    #[test]
    fn a_node_without_provider_id_has_no_instance() {
        let n = to_node(&node(serde_json::json!({"metadata": {"name": "k3s-local"}}))).expect("maps");
        assert_eq!((n.instance_id, n.zone.as_str()), (None, ""));
    }
}
