//! Table-driven tests of every rule and boundary of the policy, and proptest invariants.

use std::time::Duration;

use super::*;
use crate::{
    Lifecycle, OperationKind, OwnerKind, Pdb, Phase,
    operation::Operation,
    pdb::LabelSelector,
    pod::SAFE_TO_EVICT_CA,
    testing::{master, pending, pod, snapshot, worker},
    time::{after, before},
};

fn now() -> Timestamp {
    "2026-03-02T12:00:00Z".parse().unwrap()
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// `n` idle workers (one small pod each) across two zones, plus the master.
fn fleet(n: usize) -> (Vec<Node>, Vec<Pod>) {
    let mut nodes = vec![master()];
    let mut pods = vec![];
    for i in 0..n {
        let name = format!("i-{i:03}");
        nodes.push(worker(&name, if i % 2 == 0 { "a" } else { "b" }));
        pods.push(pod("shop", &format!("web-{i}"), &name, 200));
    }
    (nodes, pods)
}

/// A snapshot of `n` workers at `cpu` percent.
fn at(n: usize, cpu: f64) -> Snapshot {
    let (nodes, pods) = fleet(n);
    snapshot(nodes, pods, cpu, now())
}

use crate::{Node, Pod};

#[test]
fn cpu_threshold_is_strictly_above_70_percent() {
    let cases = [(70.0, Action::None), (70.1, Action::ScaleUp), (69.9, Action::None), (95.0, Action::ScaleUp)];
    for (cpu, want) in cases {
        let d = decide(&at(5, cpu), &Policy::default(), now());
        assert_eq!(d.action, want, "cpu {cpu}: {:?}", d.reasons);
    }
}

#[test]
fn high_cpu_must_hold_for_its_window() {
    for (held, want) in [(59, Action::None), (60, Action::ScaleUp)] {
        let mut s = at(5, 80.0);
        s.state.cpu.high_since = Some(before(now(), secs(held)));
        assert_eq!(decide(&s, &Policy::default(), now()).action, want, "held {held}s");
    }
}

#[test]
fn pending_pods_trigger_at_exactly_180_seconds() {
    for (age, want) in [(179, Action::None), (180, Action::ScaleUp), (600, Action::ScaleUp)] {
        let mut s = at(3, 50.0);
        s.pods.push(pending("shop", "web-new", 500, before(now(), secs(age))));
        let d = decide(&s, &Policy::default(), now());
        assert_eq!(d.action, want, "pending {age}s: {:?}", d.reasons);
    }
}

#[test]
fn pending_pods_are_sized_by_their_requests() {
    // 3 workers with 1800m free each; 6 pods of 1500m: 3 fit, 3 need 3 new workers.
    let mut s = at(3, 50.0);
    for i in 0..6 {
        s.pods.push(pending("shop", &format!("big-{i}"), 1500, before(now(), secs(200))));
    }
    let d = decide(&s, &Policy::default(), now());
    assert_eq!((d.action, d.count), (Action::ScaleUp, 3), "{:?}", d.reasons);
}

#[test]
fn pods_larger_than_a_worker_never_trigger_growth_beyond_one() {
    let mut s = at(3, 50.0);
    s.pods.push(pending("shop", "huge", 64_000, before(now(), secs(300))));
    let d = decide(&s, &Policy::default(), now());
    // The trigger holds, but sizing adds nothing for a pod no worker could hold: the minimum step.
    assert_eq!((d.action, d.count), (Action::ScaleUp, 1), "{:?}", d.reasons);
}

#[test]
fn cpu_step_is_proportional_and_capped() {
    let cases = [
        // (workers, cpu, expected step): demand = cpu% × 2 cores × workers; target at 65%.
        (5, 75.0, 1),  // 7.5 cores → ceil(7.5/1.3)=6 → +1
        (5, 85.0, 2),  // 8.5 → 7 → +2
        (4, 89.0, 2),  // 7.12 → 6 → +2
        (2, 89.0, 1),  // 3.56 → 3 → +1
        (3, 100.0, 2), // 6 → 5 → +2, burst allows up to 6
        (5, 100.0, 3), // 10 → 8 → +3
    ];
    for (n, cpu, step) in cases {
        let d = decide(&at(n, cpu), &Policy::default(), now());
        assert_eq!((d.action, d.count), (Action::ScaleUp, step), "{n} workers at {cpu}%: {:?}", d.reasons);
    }
}

#[test]
fn flash_sale_doubles_the_step_above_90_percent() {
    let mut p = Policy::default();
    p.scale_up.max_step = 2;
    // 6 workers at 100% = 12 cores → 10 workers wanted → +4.
    assert_eq!(decide(&at(6, 89.9), &p, now()).count, 2);
    let d = decide(&at(6, 100.0), &p, now());
    assert_eq!((d.action, d.count), (Action::ScaleUp, 4), "{:?}", d.reasons);
}

#[test]
fn bounds_are_kept() {
    let p = Policy::default();
    let d = decide(&at(10, 99.0), &p, now());
    assert_eq!(d.action, Action::None);
    assert!(d.reasons.iter().any(|r| r.contains("already at max_workers (10)")), "{:?}", d.reasons);
    let d = decide(&at(9, 99.0), &p, now());
    assert_eq!((d.action, d.count), (Action::ScaleUp, 1));
    let d = decide(&at(2, 5.0), &p, now());
    assert_eq!(d.action, Action::None);
    assert!(d.reasons.iter().any(|r| r.contains("at min_workers (2)")), "{:?}", d.reasons);
    let d = decide(&at(1, 50.0), &p, now());
    assert_eq!((d.action, d.count), (Action::ScaleUp, 1), "{:?}", d.reasons);
    let d = decide(&at(0, 50.0), &p, now());
    assert_eq!((d.action, d.count), (Action::ScaleUp, 2), "{:?}", d.reasons);
    let d = decide(&at(12, 50.0), &p, now());
    assert_eq!((d.action, d.count), (Action::ScaleDown, 1), "{:?}", d.reasons);
}

#[test]
fn low_cpu_must_hold_for_ten_minutes() {
    for (held, want) in [(599, Action::None), (600, Action::ScaleDown)] {
        let mut s = at(5, 20.0);
        s.state.cpu.low_since = Some(before(now(), secs(held)));
        let d = decide(&s, &Policy::default(), now());
        assert_eq!(d.action, want, "held {held}s: {:?}", d.reasons);
    }
}

#[test]
fn scale_down_targets_the_utilisation_not_the_threshold() {
    // 5 workers at 25% = 2.5 cores: target ceil(2.5/1.3) = 2, so removal goes on toward 2.
    let d = decide(&at(5, 25.0), &Policy::default(), now());
    assert_eq!((d.action, d.count, d.target), (Action::ScaleDown, 1, 2), "{:?}", d.reasons);
}

#[test]
fn scale_down_continues_toward_target_while_cpu_rises_inside_the_band() {
    let mut s = at(4, 31.0); // LowCPU resolved, but 2.48 cores still need only 2 workers.
    s.state.cpu.low_since = None;
    assert_eq!(decide(&s, &Policy::default(), now()).action, Action::None);
    s.state.scale_down_target = Some(2);
    let d = decide(&s, &Policy::default(), now());
    assert_eq!((d.action, d.target), (Action::ScaleDown, 2), "{:?}", d.reasons);
}

#[test]
fn consolidation_removes_surplus_workers_after_its_window() {
    // 10 workers at 40% after a peak: 8 busy cores, inside the 30-70% band, need ceil(8/1.3) = 7.
    for (held, want) in [(1799, Action::None), (1800, Action::ScaleDown)] {
        let mut s = at(10, 40.0);
        s.state.cpu.low_since = None;
        s.state.cpu.surplus_since = Some(before(now(), secs(held)));
        let d = decide(&s, &Policy::default(), now());
        assert_eq!(d.action, want, "held {held}s: {:?}", d.reasons);
        if want == Action::ScaleDown {
            assert_eq!((d.count, d.target), (1, 7), "{:?}", d.reasons);
            assert!(d.reasons[0].starts_with("consolidating: one worker fewer would have run at or below 65%"));
        } else {
            assert_eq!(d.reasons, vec!["CPU 40.0%: one worker fewer would suffice, for 29m 59s of 30m: waiting"]);
        }
    }
}

#[test]
fn consolidation_keeps_a_fleet_the_demand_needs_and_can_be_turned_off() {
    // 7 workers at 57%: 7.98 cores need ceil(7.98/1.3) = 7 workers; a stale surplus window (the
    // alert has not resolved yet) does not remove one.
    let mut s = at(7, 57.0);
    s.state.cpu.low_since = None;
    s.state.cpu.surplus_since = Some(before(now(), secs(3600)));
    let d = decide(&s, &Policy::default(), now());
    assert_eq!(d.action, Action::None, "{:?}", d.reasons);
    assert!(d.reasons[1].contains("needs 7 workers at 65%: keeping 7"), "{:?}", d.reasons);

    let mut s = at(10, 40.0);
    s.state.cpu.low_since = None;
    s.state.cpu.surplus_since = Some(before(now(), secs(3600)));
    let mut off = Policy::default();
    off.scale_down.consolidation.enabled = false;
    let d = decide(&s, &off, now());
    assert_eq!(d.action, Action::None);
    assert_eq!(d.reasons, vec!["CPU 40.0% is within the band: nothing to do"]);
    assert_eq!(decide(&s, &Policy::default(), now()).action, Action::ScaleDown);
}

#[test]
fn nothing_is_removed_while_anything_is_pending() {
    let mut s = at(5, 10.0);
    s.pods.push(pending("shop", "web-x", 100, before(now(), secs(10))));
    let d = decide(&s, &Policy::default(), now());
    assert_eq!(d.action, Action::None);
    assert_eq!(d.reasons, vec!["scale-down blocked: 1 pods Pending".to_string()]);
}

#[test]
fn cooldown_edges() {
    let p = Policy::default();
    // Scale-up cooldown: 60 s after the last scale-up completed.
    for (ago, want) in [(59, Action::None), (60, Action::ScaleUp)] {
        let mut s = at(5, 90.0);
        s.state.last_scale_up_at = Some(before(now(), secs(ago)));
        assert_eq!(decide(&s, &p, now()).action, want, "scale-up {ago}s after the last");
    }
    // No scale-down within 10 minutes of a scale-up.
    for (ago, want) in [(599, Action::None), (600, Action::ScaleDown)] {
        let mut s = at(5, 10.0);
        s.state.last_scale_up_at = Some(before(now(), secs(ago)));
        assert_eq!(decide(&s, &p, now()).action, want, "scale-down {ago}s after a scale-up");
    }
    // 2-minute pause between removals.
    for (ago, want) in [(119, Action::None), (120, Action::ScaleDown)] {
        let mut s = at(5, 10.0);
        s.state.last_scale_down_at = Some(before(now(), secs(ago)));
        assert_eq!(decide(&s, &p, now()).action, want, "removal {ago}s after the last");
    }
}

#[test]
fn backoff_blocks_scale_up_until_it_expires() {
    let mut s = at(5, 90.0);
    s.state.backoff_until = Some(after(now(), secs(1)));
    let d = decide(&s, &Policy::default(), now());
    assert_eq!(d.action, Action::None);
    assert!(d.reasons.last().unwrap().contains("backing off"));
    s.state.backoff_until = Some(now());
    assert_eq!(decide(&s, &Policy::default(), now()).action, Action::ScaleUp);
}

#[test]
fn an_operation_in_flight_blocks_every_decision() {
    for cpu in [95.0, 10.0] {
        let mut s = at(5, cpu);
        s.state.operation = Some(Operation {
            id: "op-7".into(),
            kind: OperationKind::ScaleUp,
            phase: Phase::WaitingReady,
            started_at: now(),
            deadline: after(now(), secs(600)),
            launch_count: 1,
            instances: vec![],
            nodes: vec![],
            avoid: vec![],
            reasons: vec![],
            result: None,
        });
        let d = decide(&s, &Policy::default(), now());
        assert_eq!(d.action, Action::None);
        assert!(d.reasons[0].starts_with("operation op-7 (ScaleUp, WaitingReady) in flight"), "{:?}", d.reasons);
        s.state.operation.as_mut().unwrap().phase = Phase::Done;
        assert_ne!(decide(&s, &Policy::default(), now()).action, Action::None);
    }
}

#[test]
fn stale_cpu_readings_are_not_acted_on() {
    for cpu in [95.0, 10.0] {
        let mut s = at(5, cpu);
        s.state.cpu.observed_at = Some(before(now(), secs(601)));
        assert_eq!(decide(&s, &Policy::default(), now()).action, Action::None, "stale {cpu}%");
    }
}

/// Builds a 3-worker low-CPU snapshot where worker `i-000` carries `extra` and the others are
/// kept from removal, so the test isolates one rule.
fn only_candidate_has(extra: Pod) -> Snapshot {
    let mut s = at(3, 10.0);
    for n in s.nodes.iter_mut().filter(|n| n.name != "i-000" && n.is_worker()) {
        n.scale_down_disabled = true;
    }
    s.pods.push(extra);
    s
}

#[test]
fn blocking_pods_keep_their_node_with_a_readable_reason() {
    let on = |mut p: Pod, f: &dyn Fn(&mut Pod)| {
        f(&mut p);
        p
    };
    let base = pod("shop", "cart", "i-000", 100);
    let cases: Vec<(Pod, &str)> = vec![
        (on(pod("kube-system", "coredns", "i-000", 100), &|_| {}), "node i-000 runs kube-system/coredns (no PDB)"),
        (
            on(base.clone(), &|p| {
                p.annotations.insert(SAFE_TO_EVICT_CA.into(), "false".into());
            }),
            "node i-000 runs shop/cart (annotated safe-to-evict=false)",
        ),
        (
            on(base.clone(), &|p| p.owner = OwnerKind::None),
            "node i-000 runs shop/cart (bare pod: no controller would recreate it)",
        ),
        (
            on(base.clone(), &|p| p.local_storage = true),
            "node i-000 runs shop/cart (uses local storage (emptyDir/hostPath))",
        ),
        (
            on(base.clone(), &|p| p.priority_class = Some("system-cluster-critical".into())),
            "node i-000 runs shop/cart (no PDB)",
        ),
    ];
    for (extra, want) in cases {
        let d = decide(&only_candidate_has(extra), &Policy::default(), now());
        assert_eq!(d.action, Action::None, "{want}");
        // The answer keeps what the demand needs (2 of 3), so a lasting hold can be reported.
        assert_eq!((d.current, d.target), (3, 2), "{want}");
        assert!(
            d.reasons.iter().any(|r| r == &format!("scale-down blocked: {want}")),
            "want {want:?} in {:#?}",
            d.reasons
        );
    }
}

#[test]
fn pdbs_block_only_when_they_allow_no_disruption() {
    for (allowed, want) in [(0, Action::None), (1, Action::ScaleDown)] {
        let mut s = only_candidate_has(pod("shop", "cart", "i-000", 100));
        s.pdbs.push(Pdb {
            namespace: "shop".into(),
            name: "cart".into(),
            selector: LabelSelector { match_labels: [("app".into(), "cart".into())].into(), ..Default::default() },
            disruptions_allowed: allowed,
        });
        let d = decide(&s, &Policy::default(), now());
        assert_eq!(d.action, want, "allowed {allowed}: {:?}", d.reasons);
        if allowed == 0 {
            assert!(d.reasons.iter().any(|r| r.contains("shop/cart (PDB shop/cart allows 0 disruptions)")));
        }
    }
}

#[test]
fn safe_to_evict_true_overrides_local_storage_and_bare_pods_but_not_pdbs() {
    let mut p = pod("shop", "cache", "i-000", 100);
    p.local_storage = true;
    p.owner = OwnerKind::None;
    p.annotations.insert(SAFE_TO_EVICT_CA.into(), "true".into());
    let d = decide(&only_candidate_has(p), &Policy::default(), now());
    assert_eq!((d.action, d.nodes.clone()), (Action::ScaleDown, vec!["i-000".to_string()]), "{:?}", d.reasons);
}

#[test]
fn daemonset_and_finished_pods_do_not_block() {
    let mut ds = pod("kube-system", "svclb", "i-000", 100);
    ds.owner = OwnerKind::DaemonSet;
    let mut s = only_candidate_has(ds);
    let mut done = pod("kube-system", "helm-install", "i-000", 100);
    done.phase = crate::PodPhase::Succeeded;
    done.owner = OwnerKind::Job;
    s.pods.push(done);
    let d = decide(&s, &Policy::default(), now());
    assert_eq!(d.nodes, vec!["i-000".to_string()], "{:?}", d.reasons);
}

#[test]
fn unmanaged_not_ready_cordoned_and_master_nodes_are_never_chosen() {
    let mut s = at(4, 10.0);
    let reasons = ["was not launched by the autoscaler", "is not Ready", "is already cordoned"];
    s.nodes[1].managed = false;
    s.nodes[2].ready = false;
    s.nodes[3].cordoned = true;
    let d = decide(&s, &Policy::default(), now());
    assert_eq!(d.nodes, vec!["i-003".to_string()], "{:?}", d.reasons);
    s.nodes[4].scale_down_disabled = true;
    let d = decide(&s, &Policy::default(), now());
    assert_eq!(d.action, Action::None);
    for (i, why) in reasons.iter().enumerate() {
        assert!(d.reasons.contains(&format!("scale-down blocked: node i-{i:03} {why}")), "{:?}", d.reasons);
    }
    assert!(!d.reasons.iter().any(|r| r.contains("master")), "the master is not a worker: {:?}", d.reasons);
}

#[test]
fn a_node_whose_pods_do_not_fit_elsewhere_is_kept() {
    let mut s = only_candidate_has(pod("shop", "heavy", "i-000", 1700));
    // The other two workers have 1800m free each; fill them.
    s.pods.push(pod("shop", "fill-1", "i-001", 1000));
    s.pods.push(pod("shop", "fill-2", "i-002", 1000));
    for n in s.nodes.iter_mut() {
        n.scale_down_disabled = false;
    }
    s.nodes[2].scale_down_disabled = true;
    s.nodes[3].scale_down_disabled = true;
    let d = decide(&s, &Policy::default(), now());
    assert_eq!(d.action, Action::None, "{:?}", d.reasons);
    assert!(d.reasons.iter().any(|r| r.contains("would not fit on the other workers")), "{:?}", d.reasons);
}

#[test]
fn tie_breaks_balance_zones_then_least_requested_then_spot() {
    // Zone a holds 3 workers, zone b 2: remove from a.
    let (mut nodes, mut pods) = fleet(5);
    pods[0].requests.cpu_millis = 500; // i-000 busier than i-002 and i-004
    nodes[5].lifecycle = Lifecycle::Spot; // i-004
    let s = snapshot(nodes.clone(), pods.clone(), 10.0, now());
    assert_eq!(decide(&s, &Policy::default(), now()).nodes, vec!["i-004".to_string()]);
    // Same load and lifecycle: name decides, deterministically.
    nodes[5].lifecycle = Lifecycle::OnDemand;
    let s = snapshot(nodes, pods, 10.0, now());
    assert_eq!(decide(&s, &Policy::default(), now()).nodes, vec!["i-002".to_string()]);
}

#[test]
fn drain_plan_separates_evicted_skipped_and_blocking() {
    let mut ds = pod("kube-system", "node-exporter", "n", 50);
    ds.owner = OwnerKind::DaemonSet;
    let mut mirror = pod("kube-system", "static", "n", 50);
    mirror.owner = OwnerKind::Node;
    let web = pod("shop", "web", "n", 100);
    let dns = pod("kube-system", "coredns", "n", 100);
    let plan = plan_drain([&ds, &mirror, &web, &dns], &[], &Policy::default());
    assert_eq!(plan.evict, vec!["shop/web"]);
    assert_eq!(
        plan.skipped,
        vec![("kube-system/node-exporter".into(), Skip::DaemonSet), ("kube-system/static".into(), Skip::Mirror)]
    );
    assert_eq!(plan.blocking, vec!["kube-system/coredns (no PDB)"]);
}

mod invariants {
    use proptest::prelude::*;

    use super::*;

    fn arb_snapshot() -> impl Strategy<Value = (Snapshot, Policy)> {
        (
            0usize..14,
            0.0f64..100.0,
            proptest::collection::vec((0u8..8, 0u64..2500, 0u64..900), 0..40),
            (0u64..1200, 0u64..1200, 0u64..1200, any::<bool>(), 0u64..3600),
            (1u32..4, 0u32..6, 1u32..4),
        )
            .prop_map(|(n, cpu, extras, (since, up_ago, down_ago, target, surplus), (min, span, step))| {
                let mut policy = Policy { min_workers: min, max_workers: min + span, ..Policy::default() };
                policy.scale_up.max_step = step;
                let mut s = at(n, cpu);
                s.state.cpu.low_since = Some(before(now(), secs(since)));
                s.state.cpu.high_since = Some(before(now(), secs(since)));
                s.state.cpu.surplus_since = Some(before(now(), secs(surplus)));
                s.state.last_scale_up_at = Some(before(now(), secs(up_ago)));
                s.state.last_scale_down_at = Some(before(now(), secs(down_ago)));
                s.state.scale_down_target = target.then_some(min);
                for (k, (kind, cpu_m, age)) in extras.into_iter().enumerate() {
                    let node = if n == 0 { None } else { Some(format!("i-{:03}", k % n).into()) };
                    let mut p = pod(["shop", "kube-system"][usize::from(kind % 2)], &format!("x-{k}"), "", cpu_m);
                    p.node = node;
                    match kind {
                        0 | 1 => {}
                        2 => p.owner = OwnerKind::None,
                        3 => p.local_storage = true,
                        4 => p.owner = OwnerKind::DaemonSet,
                        5 => {
                            p.annotations.insert(SAFE_TO_EVICT_CA.into(), "false".into());
                        }
                        _ => {
                            p.node = None;
                            p.phase = crate::PodPhase::Pending;
                            p.pending_since = Some(before(now(), secs(age)));
                        }
                    }
                    if p.node.is_none() && p.phase != crate::PodPhase::Pending {
                        continue;
                    }
                    s.pods.push(p);
                }
                (s, policy)
            })
    }

    proptest! {
        #[test]
        fn decisions_keep_every_invariant((snap, policy) in arb_snapshot()) {
            let d = decide(&snap, &policy, now());
            let current = snap.nodes.iter().filter(|n| n.is_worker()).count() as u32;
            prop_assert_eq!(d.current, current);
            // Deterministic.
            prop_assert_eq!(&d, &decide(&snap, &policy, now()));
            match d.action {
                Action::ScaleUp => {
                    prop_assert!(d.count >= 1);
                    prop_assert!(current + d.count <= policy.max_workers, "above max: {:?}", d);
                    let cooling = snap.state.last_scale_up_at
                        .is_some_and(|t| elapsed(now(), t) < policy.scale_up.cooldown);
                    prop_assert!(!cooling || current < policy.min_workers, "scaled up in cooldown: {:?}", d);
                }
                Action::ScaleDown => {
                    prop_assert_eq!(d.count, 1);
                    prop_assert_eq!(d.nodes.len(), 1);
                    prop_assert!(current > policy.min_workers, "below min: {:?}", d);
                    let pending = snap.pods.iter().any(|p| p.is_unschedulable());
                    prop_assert!(!pending, "scaled down with pods Pending: {:?}", d);
                    let node = snap.nodes.iter().find(|n| n.name == d.nodes[0]).unwrap();
                    prop_assert!(node.managed && node.ready && !node.cordoned && node.is_worker());
                    let on_node = snap.pods.iter().filter(|p| p.node.as_deref() == Some(node.name.as_str()));
                    let plan = plan_drain(on_node, &snap.pdbs, &policy);
                    prop_assert!(plan.is_clear(), "removed a node with blocking pods: {:?}", plan);
                    if current <= policy.max_workers {
                        let up = snap.state.last_scale_up_at
                            .is_some_and(|t| elapsed(now(), t) < policy.scale_down.after_scale_up);
                        let down = snap.state.last_scale_down_at
                            .is_some_and(|t| elapsed(now(), t) < policy.scale_down.removal_pause);
                        prop_assert!(!up && !down, "scaled down in cooldown: {:?}", d);
                    }
                }
                Action::None => prop_assert_eq!(d.count, 0),
            }
            prop_assert!(!d.reasons.is_empty());
        }
    }
}
