//! A scale-down held by blocking pods is reported once, after `scale_down.report_held_after`,
//! with the reasons; a removal ends the hold.

use super::harness::Harness;
use crate::{OperationKind, notification::NotificationKind, testing::pod};

/// Low CPU re-sent every 5 minutes (as Alertmanager repeats it) with a tick every minute.
fn low_cpu_for(h: &mut Harness, minutes: u64) {
    for _ in 0..minutes / 5 {
        let m = h.low_cpu(10.0);
        h.send(&m).unwrap();
        h.run_ticks(300, 60);
    }
}

fn held(h: &Harness) -> Vec<crate::notification::Notification> {
    h.notifier.sent().into_iter().filter(|n| n.kind == NotificationKind::ScaleDownHeld).collect()
}

#[test]
fn a_scale_down_held_by_blocking_pods_is_reported_once_with_the_reasons() {
    // 3 workers at 10% need 2; coredns on every worker keeps each of them.
    let mut h = Harness::new(3);
    let names: Vec<String> = h.world.lock().nodes.iter().filter(|n| n.is_worker()).map(|n| n.name.clone()).collect();
    for n in &names {
        h.world.lock().pods.push(pod("kube-system", &format!("coredns-{n}"), n, 100));
    }
    low_cpu_for(&mut h, 55);
    assert!(held(&h).is_empty(), "not before the hour");
    assert!(h.state().scale_down_held_since.is_some());
    low_cpu_for(&mut h, 20);
    let notes = held(&h);
    assert_eq!(notes.len(), 1, "once per hold: {:?}", h.kinds());
    assert!(notes[0].summary.starts_with("3 workers for 1h"), "{}", notes[0].summary);
    assert!(notes[0].summary.ends_with("although the demand needs 2; none could be removed"), "{}", notes[0].summary);
    let why = format!("scale-down blocked: node {} runs kube-system/coredns-{} (no PDB)", names[0], names[0]);
    assert!(notes[0].reasons.contains(&why), "{:#?}", notes[0].reasons);
    assert_eq!(h.state().desired_count, 2, "the state says what the demand needs");

    // The operator moves coredns off one worker: it is removed, and the hold is over.
    h.world.lock().pods.retain(|p| p.name != format!("coredns-{}", names[2]));
    low_cpu_for(&mut h, 5);
    let op = h.state().operation.expect("a scale-down started");
    assert_eq!((op.kind, op.nodes.clone()), (OperationKind::ScaleDown, vec![names[2].clone()]));
    assert_eq!((h.state().scale_down_held_since, h.state().scale_down_held_reported), (None, false));
}
