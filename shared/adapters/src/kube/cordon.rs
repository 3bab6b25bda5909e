//! The merge patches that cordon and uncordon a node: `spec.unschedulable` plus the drain taint,
//! computed from the node as read so that every other taint is kept. Pure.
//!
//! Why a read-then-merge-patch and not a JSON patch: `spec.taints` has no merge key, so both a
//! JSON merge patch and a strategic merge patch replace the whole list. We therefore send the full
//! list we computed, and guard it with the `resourceVersion` we read: if anything (the kubelet, an
//! operator's `kubectl taint`) changed the node in between, the API server answers 409 and the
//! caller reads again, so no taint added meanwhile is lost. A JSON patch with a `test` operation
//! would give the same guarantee but needs kube's `jsonpatch` feature and index-based paths.

use k8s_openapi::api::core::v1 as k8s;
use serde_json::{Value, json};

/// Key of the taint put on a node being drained (`k3s-autoscaler/draining=true:NoSchedule`).
pub const DRAIN_TAINT_KEY: &str = "k3s-autoscaler/draining";
/// Value of the drain taint.
pub const DRAIN_TAINT_VALUE: &str = "true";
/// Effect of the drain taint.
pub const DRAIN_TAINT_EFFECT: &str = "NoSchedule";

/// The patch that cordons `node`, or `None` when it is already cordoned and tainted.
pub fn cordon_patch(node: &k8s::Node) -> Option<Value> {
    let spec = node.spec.as_ref();
    let taints = spec.and_then(|s| s.taints.as_deref()).unwrap_or_default();
    let unschedulable = spec.and_then(|s| s.unschedulable).unwrap_or(false);
    let has_ours = taints.iter().any(|t| {
        t.key == DRAIN_TAINT_KEY && t.effect == DRAIN_TAINT_EFFECT && t.value.as_deref() == Some(DRAIN_TAINT_VALUE)
    });
    if unschedulable && has_ours {
        return None;
    }
    let mut kept = without_ours(taints);
    kept.push(k8s::Taint {
        key: DRAIN_TAINT_KEY.to_owned(),
        value: Some(DRAIN_TAINT_VALUE.to_owned()),
        effect: DRAIN_TAINT_EFFECT.to_owned(),
        time_added: None,
    });
    Some(guarded(node, json!({"unschedulable": true, "taints": kept})))
}

/// The patch that reverts [`cordon_patch`], or `None` when there is nothing to revert.
pub fn uncordon_patch(node: &k8s::Node) -> Option<Value> {
    let spec = node.spec.as_ref();
    let taints = spec.and_then(|s| s.taints.as_deref()).unwrap_or_default();
    let unschedulable = spec.and_then(|s| s.unschedulable).unwrap_or(false);
    let has_ours = taints.iter().any(|t| t.key == DRAIN_TAINT_KEY);
    if !unschedulable && !has_ours {
        return None;
    }
    let kept = without_ours(taints);
    // `null` deletes the field in a merge patch, as `kubectl uncordon` leaves it.
    Some(guarded(node, json!({"unschedulable": null, "taints": kept})))
}

fn without_ours(taints: &[k8s::Taint]) -> Vec<k8s::Taint> {
    taints.iter().filter(|t| t.key != DRAIN_TAINT_KEY).cloned().collect()
}

/// `{"metadata": {"resourceVersion": …}, "spec": spec}`: applied only to the version we read.
fn guarded(node: &k8s::Node, spec: Value) -> Value {
    match &node.metadata.resource_version {
        Some(rv) => json!({"metadata": {"resourceVersion": rv}, "spec": spec}),
        None => json!({"spec": spec}),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(v: Value) -> k8s::Node {
        serde_json::from_value(v).expect("valid Node")
    }

    #[test]
    fn cordoning_keeps_other_taints_and_guards_on_the_version_read() {
        let n = node(json!({"metadata": {"name": "i-1", "resourceVersion": "42"}, "spec": {"taints": [
            {"key": "dedicated", "value": "gpu", "effect": "NoExecute"}]}}));
        assert_eq!(
            cordon_patch(&n),
            Some(json!({"metadata": {"resourceVersion": "42"}, "spec": {"unschedulable": true, "taints": [
                {"key": "dedicated", "value": "gpu", "effect": "NoExecute"},
                {"key": "k3s-autoscaler/draining", "value": "true", "effect": "NoSchedule"}]}}))
        );
    }

    #[test]
    fn cordoning_twice_is_a_no_op_and_uncordoning_reverts_both() {
        let n = node(json!({"metadata": {"name": "i-1", "resourceVersion": "7"}, "spec": {"unschedulable": true,
            "taints": [{"key": "a", "effect": "NoSchedule"},
                       {"key": "k3s-autoscaler/draining", "value": "true", "effect": "NoSchedule"}]}}));
        assert_eq!(cordon_patch(&n), None);
        assert_eq!(
            uncordon_patch(&n),
            Some(json!({"metadata": {"resourceVersion": "7"}, "spec": {"unschedulable": null, "taints": [
                {"key": "a", "effect": "NoSchedule"}]}}))
        );
        assert_eq!(uncordon_patch(&node(json!({"metadata": {"name": "i-1"}, "spec": {}}))), None);
    }

    #[test]
    fn a_drain_taint_with_another_effect_is_replaced() {
        let n = node(json!({"metadata": {"name": "i-1"}, "spec": {"unschedulable": true, "taints": [
            {"key": "k3s-autoscaler/draining", "value": "true", "effect": "PreferNoSchedule"}]}}));
        let patch = cordon_patch(&n).expect("needs a patch");
        assert_eq!(
            patch["spec"]["taints"],
            json!([{"key": "k3s-autoscaler/draining", "value": "true",
            "effect": "NoSchedule"}])
        );
    }
}
