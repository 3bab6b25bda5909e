//! Drift detection for the reconciler: what the state, EC2 and K3s disagree on. Pure; the
//! reconciler only reports (as a `reconcile` message), the scaler acts.

use crate::{
    ClusterState, Node, Policy,
    ports::Instance,
    signal::InstanceState,
    time::{Timestamp, elapsed, human},
};

/// Every drift finding, one readable line each, in a stable order.
pub fn findings(
    state: Option<&ClusterState>,
    instances: &[Instance],
    nodes: &[Node],
    policy: &Policy,
    now: Timestamp,
) -> Vec<String> {
    let mut out = Vec::new();
    let join_timeout = policy.worker.ready_timeout;
    for i in instances.iter().filter(|i| i.state == InstanceState::Running) {
        let has_node = nodes.iter().any(|n| n.instance_id.as_ref() == Some(&i.id) || n.name == i.id.0);
        if !has_node && elapsed(now, i.launched_at) > join_timeout {
            out.push(format!(
                "instance {} running {} without a node (join timeout {})",
                i.id,
                human(elapsed(now, i.launched_at)),
                human(join_timeout)
            ));
        }
    }
    for n in nodes.iter().filter(|n| n.managed && n.is_worker()) {
        let backed = n.instance_id.as_ref().is_some_and(|id| instances.iter().any(|i| &i.id == id));
        // A reclaimed Spot worker is cleaned up when its `terminated` event arrives: not drift.
        let reclaimed = n.instance_id.as_ref().is_some_and(|id| state.is_some_and(|s| s.interrupted.contains(id)));
        if !backed && !reclaimed {
            out.push(format!("node {} has no running instance behind it", n.name));
        }
    }
    let workers = nodes.iter().filter(|n| n.is_worker() && n.ready).count() as u32;
    if workers < policy.min_workers {
        out.push(format!("{workers} Ready workers is below min_workers ({})", policy.min_workers));
    }
    let Some(state) = state else {
        out.push("no cluster state yet: the scaler has not processed a message".into());
        out.push(format!("{PIPELINE_SILENT}: no Watchdog alert seen yet"));
        return out;
    };
    if let Some(op) = state.active_operation()
        && op.overdue(now)
    {
        out.push(format!(
            "operation {} ({:?}, {:?}) is {} past its deadline",
            op.id,
            op.kind,
            op.phase,
            human(elapsed(now, op.deadline))
        ));
    }
    let in_op = |name: &str| state.active_operation().is_some_and(|o| o.nodes.iter().any(|n| n == name));
    for n in nodes.iter().filter(|n| n.managed && n.cordoned && n.is_worker()) {
        let interrupted = n.instance_id.as_ref().is_some_and(|id| state.interrupted.contains(id));
        if !in_op(&n.name) && !interrupted {
            out.push(format!("node {} is cordoned but no operation is draining it", n.name));
        }
    }
    match state.last_watchdog_at {
        Some(at) if elapsed(now, at) > policy.signals.watchdog_silent_after => {
            out.push(format!("{PIPELINE_SILENT}: no Watchdog alert for {}", human(elapsed(now, at))));
        }
        None => out.push(format!("{PIPELINE_SILENT}: no Watchdog alert seen yet")),
        _ => {}
    }
    out
}

/// The prefix of the finding that says the alert pipeline is silent.
pub const PIPELINE_SILENT: &str = "alert pipeline silent";

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::{ClusterId, InstanceId, Lifecycle, testing::worker, time::before};

    fn now() -> Timestamp {
        "2026-06-01T12:00:00Z".parse().unwrap()
    }

    fn instance(id: &str, launched_mins_ago: u64) -> Instance {
        Instance {
            id: InstanceId(id.into()),
            zone: "a".into(),
            instance_type: "t3.small".into(),
            lifecycle: Lifecycle::OnDemand,
            state: InstanceState::Running,
            launched_at: before(now(), Duration::from_secs(launched_mins_ago * 60)),
            operation: None,
        }
    }

    #[test]
    fn a_healthy_cluster_has_no_findings() {
        let mut state = ClusterState::new(ClusterId::new("c").unwrap());
        state.last_watchdog_at = Some(before(now(), Duration::from_secs(60)));
        let nodes = vec![worker("i-1", "a"), worker("i-2", "b")];
        let instances = vec![instance("i-1", 60), instance("i-2", 60)];
        assert_eq!(findings(Some(&state), &instances, &nodes, &Policy::default(), now()), Vec::<String>::new());
    }

    #[test]
    fn drift_is_found_and_explained() {
        let mut state = ClusterState::new(ClusterId::new("c").unwrap());
        state.last_watchdog_at = Some(before(now(), Duration::from_secs(900)));
        let mut cordoned = worker("i-2", "b");
        cordoned.cordoned = true;
        let nodes = vec![cordoned, worker("i-9", "a")];
        let instances = vec![instance("i-1", 12), instance("i-2", 60), instance("i-3", 5)];
        let f = findings(Some(&state), &instances, &nodes, &Policy::default(), now());
        assert_eq!(
            f,
            vec![
                "instance i-1 running 12m without a node (join timeout 10m)".to_string(),
                "node i-9 has no running instance behind it".into(),
                "node i-2 is cordoned but no operation is draining it".into(),
                "alert pipeline silent: no Watchdog alert for 15m".into(),
            ]
        );
    }

    #[test]
    fn too_few_ready_workers_is_drift() {
        let nodes = vec![worker("i-1", "a")];
        let f = findings(None, &[instance("i-1", 60)], &nodes, &Policy::default(), now());
        assert!(f.contains(&"1 Ready workers is below min_workers (2)".to_string()), "{f:?}");
    }
}
