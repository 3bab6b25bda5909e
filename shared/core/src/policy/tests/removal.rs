//! Removal: blocking pods, PDBs, which workers may be candidates, tie-breaks and the drain plan.

use super::*;
use crate::{Lifecycle, OwnerKind, Pdb, pdb::LabelSelector, pod::SAFE_TO_EVICT_CA, testing::pod};

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
