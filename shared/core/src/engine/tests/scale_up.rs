//! Scale-up through the engine: launches sized and spread until Ready, nodes that never join,
//! quota and capacity errors.

use std::time::Duration;

use super::*;
use crate::{OperationKind, Phase, memory::world::ScriptedError};

#[test]
fn high_cpu_launches_the_sized_count_and_completes_when_nodes_are_ready() {
    let mut h = Harness::new(5);
    let m = h.high_cpu(85.0);
    let out = h.send(&m).unwrap();
    let Outcome::Processed { decision: Some(d), .. } = out else { panic!("{out:?}") };
    assert_eq!((d.action, d.count), (crate::Action::ScaleUp, 2), "{:?}", d.reasons);
    assert_eq!(h.calls("launch").len(), 2);
    let op = h.state().operation.unwrap();
    assert_eq!((op.kind, op.phase, op.instances.len()), (OperationKind::ScaleUp, Phase::WaitingReady, 2));
    // Spread across both zones, fewest workers first (b has 2, a has 3).
    assert!(h.calls("launch")[0].contains("us-east-1b"), "{:?}", h.calls("launch"));
    h.run_ticks(120, 60);
    let s = h.state();
    assert_eq!(s.operation.as_ref().unwrap().phase, Phase::Done);
    assert_eq!(s.last_scale_up_at, Some(h.now()));
    assert_eq!(h.workers(), 7);
    assert_eq!(h.kinds(), vec![NotificationKind::ScaleUpStarted, NotificationKind::ScaleUpDone]);
}

#[test]
fn node_never_ready_is_terminated_and_backs_off() {
    let mut h = Harness::new(5);
    h.world.lock().boot_delay = Duration::from_secs(3600);
    let m = h.high_cpu(75.0);
    h.send(&m).unwrap();
    h.run_ticks(540, 60);
    assert_eq!(h.state().operation.unwrap().phase, Phase::WaitingReady);
    h.run_ticks(60, 60);
    let s = h.state();
    assert_eq!(s.operation.unwrap().phase, Phase::Failed);
    assert_eq!(h.calls("terminate").len(), 1);
    assert!(s.backoff_until.unwrap() > h.now());
    assert!(h.kinds().contains(&NotificationKind::NodeNeverReady));
    // No launch while backing off, even with CPU still high.
    let m = h.high_cpu(95.0);
    h.send(&m).unwrap();
    assert_eq!(h.calls("launch").len(), 1);
}

#[test]
fn quota_errors_fail_fast_with_one_notification_and_no_retry_loop() {
    let mut h = Harness::new(5);
    let (from, until) = (h.now(), after(h.now(), Duration::from_secs(3600)));
    h.world.lock().errors.push(ScriptedError { code: "VcpuLimitExceeded".into(), zone: None, from, until });
    let m = h.high_cpu(85.0);
    assert!(matches!(h.send(&m).unwrap(), Outcome::Processed { .. }));
    h.run_ticks(240, 60);
    let m = h.high_cpu(85.0);
    h.send(&m).unwrap();
    let failed: Vec<_> = h.notifier.sent().into_iter().filter(|n| n.kind == NotificationKind::LaunchFailed).collect();
    assert_eq!(failed.len(), 1);
    assert!(failed[0].reasons[0].contains("VcpuLimitExceeded"));
    assert_eq!(h.metrics.total(names::FAILED_OPERATIONS, &[("reason", "VcpuLimitExceeded")]), 1.0);
}

#[test]
fn capacity_errors_in_one_zone_fall_back_to_the_other() {
    let mut h = Harness::new(4);
    let (from, until) = (h.now(), after(h.now(), Duration::from_secs(3600)));
    h.world.lock().errors.push(ScriptedError {
        code: "InsufficientInstanceCapacity".into(),
        zone: Some("us-east-1a".into()),
        from,
        until,
    });
    let m = h.high_cpu(90.0);
    h.send(&m).unwrap();
    let launches = h.calls("launch");
    assert!(!launches.is_empty() && launches.iter().all(|l| l.contains("us-east-1b")), "{launches:?}");
    let started = &h.notifier.sent()[0];
    assert!(
        started.reasons.iter().any(|r| r.contains("capacity fallback: InsufficientInstanceCapacity in us-east-1a"))
    );
}
