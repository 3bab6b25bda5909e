//! The per-message pipeline: idempotency, leases, poison and foreign messages, dry run, decision
//! records, metrics and drift reports.

use std::time::Duration;

use futures_executor::block_on;

use super::*;
use crate::{
    Policy,
    message::{Envelope, Kind},
};

#[test]
fn a_redelivered_message_never_launches_twice() {
    let mut h = Harness::new(5);
    let m = h.high_cpu(85.0);
    h.send(&m).unwrap();
    assert_eq!(h.send(&m).unwrap(), Outcome::Duplicate);
    assert_eq!(h.calls("launch").len(), 2);
    assert_eq!(h.metrics.total(names::MESSAGES_IGNORED, &[("reason", "duplicate")]), 1.0);
}

#[test]
fn a_held_lease_fails_the_message_for_retry_and_changes_nothing() {
    let mut h = Harness::new(5);
    block_on(h.store.acquire(&cluster(), "other", h.now(), after(h.now(), Duration::from_secs(60)))).unwrap();
    let m = h.high_cpu(85.0);
    let err = h.send(&m).unwrap_err();
    assert!(matches!(err, EngineError::Store(StoreError::LeaseHeld { .. })), "{err:?}");
    assert!(err.retryable());
    assert!(h.calls("launch").is_empty());
    assert_eq!(h.metrics.total(names::LEASE_CONFLICTS, &[]), 1.0);
    // After the holder's lease expires, the retried message is processed.
    h.wait(61);
    assert!(matches!(h.send(&m).unwrap(), Outcome::Processed { .. }));
    assert_eq!(h.calls("launch").len(), 2);
}

#[test]
fn poison_and_foreign_messages_are_acknowledged_and_counted() {
    let h = Harness::new(2);
    assert!(matches!(h.send("{not json").unwrap(), Outcome::Poison(_)));
    let other = Envelope::new(
        "x".into(),
        Kind::Reconcile,
        ClusterId::new("staging").unwrap(),
        h.now(),
        Signal::Reconcile { at: h.now(), findings: vec![] },
    );
    assert!(matches!(h.send(&other.to_body()).unwrap(), Outcome::Ignored(_)));
    assert_eq!(h.metrics.total(names::MESSAGES_IGNORED, &[("reason", "poison")]), 1.0);
    assert_eq!(h.metrics.total(names::MESSAGES_IGNORED, &[("reason", "other_cluster")]), 1.0);
    assert!(h.store.state(&cluster()).is_none(), "nothing was written");
}

#[test]
fn dry_run_decides_records_and_notifies_but_mutates_nothing() {
    let mut h = Harness::new(5);
    h.engine.settings.policy.dry_run = true;
    let m = h.high_cpu(85.0);
    h.send(&m).unwrap();
    let m = h.low_cpu(5.0);
    h.send(&m).unwrap();
    assert!(h.world.lock().calls.is_empty(), "{:?}", h.world.lock().calls);
    let notes = h.notifier.sent();
    assert!(notes[0].summary.starts_with("Dry run: would scale up by 2 (5 → 7)"), "{}", notes[0].summary);
    assert!(notes[0].reasons[0].contains("CPU 85.0% > 70%"));
    assert_eq!(h.store.decisions().len(), 2);
    assert!(h.store.decisions().iter().all(|d| d.dry_run));
}

#[test]
fn every_decision_is_recorded_with_inputs_and_config_version() {
    let mut h = Harness::new(5);
    let m = h.high_cpu(85.0);
    h.send(&m).unwrap();
    let d = &h.store.decisions()[0];
    assert_eq!(d.decision.action, crate::Action::ScaleUp);
    assert_eq!(d.config_version, Policy::default().version());
    assert_eq!(d.inputs["cpu_percent"], 85.0);
    assert_eq!(d.inputs["workers"], 5);
    assert_eq!(h.metrics.total(names::DECISIONS, &[("action", "scale_up")]), 1.0);
    assert_eq!(h.metrics.total(names::SCALE_UPS, &[]), 2.0);
    // Condition true 30 s before the alert's start plus the 1 m window: 90 s latency.
    assert_eq!(h.metrics.total(names::DECISION_LATENCY, &[("action", "scale_up")]), 90.0);
}

#[test]
fn node_join_and_drain_durations_are_measured() {
    let mut h = Harness::new(5);
    let m = h.high_cpu(75.0);
    h.send(&m).unwrap();
    h.run_ticks(120, 60);
    assert_eq!(h.metrics.total(names::NODE_JOIN_SECONDS, &[]), 120.0);
    h.wait(700);
    let m = h.low_cpu(10.0);
    h.send(&m).unwrap();
    // The least-requested worker is a new one holding only a DaemonSet pod: empty at once.
    let drains: Vec<_> = h.metrics.emitted().into_iter().filter(|m| m.name == names::DRAIN_SECONDS).collect();
    assert_eq!(drains.len(), 1);
    assert_eq!(drains[0].value, 0.0);
}

#[test]
fn reconciler_findings_are_reported_as_drift() {
    let mut h = Harness::new(2);
    let at = h.now();
    let m = h.envelope(
        Kind::Reconcile,
        Signal::Reconcile { at, findings: vec!["instance i-1 running 12m without a node".into()] },
    );
    h.send(&m).unwrap();
    assert!(h.kinds().contains(&NotificationKind::Drift));
    assert_eq!(h.metrics.total(names::DRIFT_FINDINGS, &[]), 0.0, "the reconciler counts findings, not the scaler");
}
