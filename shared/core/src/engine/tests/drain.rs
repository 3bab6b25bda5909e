//! Scale-down through the engine: one drain at a time toward the target, PDBs honoured pod by
//! pod and timing out, DaemonSet and kube-system pods.

use super::*;
use crate::{OperationKind, Phase, pdb::LabelSelector, testing::pod};

#[test]
fn low_cpu_drains_one_node_then_terminates_it() {
    let mut h = Harness::new(4);
    let m = h.low_cpu(10.0);
    h.send(&m).unwrap();
    let op = h.state().operation.unwrap();
    assert_eq!(op.kind, OperationKind::ScaleDown);
    let node = op.nodes[0].clone();
    assert_eq!(h.calls("cordon"), vec![format!("cordon {node}")]);
    assert_eq!(h.calls("evict").len(), 1, "one web pod to move: {:?}", h.calls("evict"));
    h.run_ticks(60, 60);
    assert_eq!(h.state().operation.unwrap().phase, Phase::Done);
    assert_eq!(h.calls("terminate"), vec![format!("terminate {node}")]);
    assert_eq!(h.calls("delete-node"), vec![format!("delete-node {node}")]);
    assert_eq!(h.workers(), 3);
    assert_eq!(h.metrics.total(names::SCALE_DOWNS, &[]), 1.0);
    assert_eq!(h.metrics.total(names::DRAIN_SECONDS, &[]), 60.0, "cordon at 0 s, empty at the 60 s tick");
    // The evicted pod was rescheduled elsewhere, never lost.
    assert!(h.world.lock().pods.iter().filter(|p| p.namespace == "shop").all(|p| p.node.is_some()));
}

#[test]
fn scale_down_continues_toward_the_target_with_a_pause_between_removals() {
    let mut h = Harness::new(5);
    let m = h.low_cpu(10.0);
    h.send(&m).unwrap();
    assert_eq!(h.state().scale_down_target, Some(2));
    // The reconciler's ticks carry the scale-down on between alerts (the CPU reading stays fresh
    // through Watchdog re-fires in production; here a re-fired LowCPU every 5 minutes).
    for _ in 0..4 {
        h.run_ticks(300, 60);
        let m = h.low_cpu(10.0);
        h.send(&m).unwrap();
    }
    h.run_ticks(300, 60);
    assert_eq!(h.workers(), 2, "{:?}", h.calls(""));
    assert_eq!(h.calls("terminate").len(), 3);
}

fn pdb(h: &Harness, app: &str, min_available: u32) {
    let selector = LabelSelector { match_labels: [("app".into(), app.into())].into(), ..Default::default() };
    let p = crate::Pdb { namespace: "shop".into(), name: app.into(), selector, disruptions_allowed: 0 };
    h.world.lock().pdbs.push((p, min_available));
    h.world.tick();
}

#[test]
fn a_pdb_allowing_one_of_three_drains_pod_by_pod() {
    let mut h = Harness::new(3);
    // Three api pods on the first worker; the PDB keeps two available.
    let first = h.world.lock().nodes[0].name.clone();
    for i in 0..3 {
        h.world.lock().pods.push(pod("shop", &format!("api-{i}"), &first, 100));
    }
    for n in h.world.lock().nodes.iter_mut().skip(1) {
        n.scale_down_disabled = true;
    }
    pdb(&h, "api", 2);
    let m = h.low_cpu(10.0);
    h.send(&m).unwrap();
    let evicted = |h: &Harness| h.calls("evict shop/api").len();
    let blocked = |h: &Harness| h.calls("evict-blocked").len();
    assert_eq!((evicted(&h), blocked(&h)), (1, 2), "first pass evicts one, PDB refuses two");
    h.run_ticks(60, 60);
    assert_eq!(evicted(&h), 2);
    h.run_ticks(60, 60);
    assert_eq!(evicted(&h), 3);
    h.run_ticks(120, 60);
    assert_eq!(h.state().operation.unwrap().phase, Phase::Done);
    assert!(h.metrics.total(names::EVICTIONS_BLOCKED, &[]) >= 2.0);
}

#[test]
fn a_pdb_allowing_nothing_times_out_at_five_minutes_and_uncordons() {
    let mut h = Harness::new(3);
    let first = h.world.lock().nodes[0].name.clone();
    h.world.lock().pods.push(pod("shop", "db-0", &first, 100));
    for n in h.world.lock().nodes.iter_mut().skip(1) {
        n.scale_down_disabled = true;
    }
    h.world.lock().pods.push(pod("shop", "db-1", &first, 100));
    // The budget allows one disruption when the node is chosen …
    pdb(&h, "db", 1);
    let m = h.low_cpu(10.0);
    h.send(&m).unwrap();
    assert_eq!(h.calls("evict shop/db"), vec!["evict shop/db-0".to_string()]);
    // … then its owner tightens it: nothing more may go.
    h.world.lock().pdbs[0].1 = 10;
    h.run_ticks(240, 60);
    assert_eq!(h.state().operation.unwrap().phase, Phase::Draining, "still waiting at 4 minutes");
    h.run_ticks(60, 60);
    let op = h.state().operation.unwrap();
    assert_eq!(op.phase, Phase::Aborted);
    assert!(op.result.unwrap().starts_with("drain timed out after 5m"));
    assert_eq!(h.calls("uncordon"), vec![format!("uncordon {first}")]);
    assert!(h.calls("terminate").is_empty(), "nothing force-removed");
    assert!(h.kinds().contains(&NotificationKind::DrainTimedOut));
    assert_eq!(h.metrics.total(names::FAILED_OPERATIONS, &[("reason", "drain_timeout")]), 1.0);
}

#[test]
fn daemonset_pods_are_never_evicted_and_kube_system_nodes_never_chosen() {
    let mut h = Harness::new(3);
    let names: Vec<String> = h.world.lock().nodes.iter().map(|n| n.name.clone()).collect();
    // coredns on the first two workers: only the third can go.
    for n in &names[..2] {
        h.world.lock().pods.push(pod("kube-system", &format!("coredns-{n}"), n, 100));
    }
    let m = h.low_cpu(10.0);
    h.send(&m).unwrap();
    assert_eq!(h.state().operation.unwrap().nodes, vec![names[2].clone()]);
    h.run_ticks(120, 60);
    assert!(h.calls("evict").iter().all(|c| !c.contains("node-exporter")), "{:?}", h.calls("evict"));
    assert!(h.calls("evict").iter().all(|c| !c.contains("coredns")));
}
