//! Proptest invariants: every decision on an arbitrary snapshot and policy keeps the bounds,
//! the cooldowns and the blocking rules, and is deterministic.

use proptest::prelude::*;

use super::*;
use crate::{OwnerKind, pod::SAFE_TO_EVICT_CA, testing::pod, time::before};

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
