//! The consolidation trigger end to end through the engine: an Overprovisioned alert removes the
//! workers the demand no longer needs, one drain at a time, and stops at the target.

use std::time::Duration;

use super::harness::Harness;
use crate::{
    OperationKind, Phase,
    message::Kind,
    metric::names,
    signal::{AlertStatus, CpuValues, Signal},
    time::before,
};

impl Harness {
    /// An Overprovisioned alert that started firing a minute ago, with `cores` busy.
    fn overprovisioned(&mut self, pct: f64, cores: f64) -> String {
        let starts_at = before(self.now(), Duration::from_secs(60));
        let values = CpuValues { cpu_percent: pct, demand_cores: Some(cores) };
        self.envelope(Kind::Alert, Signal::Overprovisioned { status: AlertStatus::Firing, starts_at, values })
    }
}

#[test]
fn overprovisioned_removes_surplus_workers_down_to_the_target_and_no_further() {
    // 5 workers (10 cores) at 50%: 5 busy cores need ceil(5 / 1.3) = 4 workers.
    let mut h = Harness::new(5);
    let m = h.overprovisioned(50.0, 5.0);
    h.send(&m).unwrap();
    let op = h.state().operation.expect("a scale-down started");
    assert_eq!(op.kind, OperationKind::ScaleDown);
    assert_eq!(h.state().scale_down_target, Some(4));
    // The condition became true when the alert fired (its start is the end of its 30m window).
    assert_eq!(h.metrics.total(names::DECISION_LATENCY, &[("action", "scale_down")]), 60.0);
    h.run_ticks(600, 60);
    assert_eq!(h.state().operation.unwrap().phase, Phase::Done);
    assert_eq!(h.workers(), 4);
    // The same demand re-sent on 4 workers (8 cores, 62.5%): nothing more to remove.
    let m = h.overprovisioned(62.5, 5.0);
    h.send(&m).unwrap();
    h.run_ticks(600, 60);
    assert_eq!(h.workers(), 4, "{:?}", h.calls("terminate"));
    assert_eq!(h.calls("terminate").len(), 1);
}

#[test]
fn a_high_cpu_alert_ends_the_surplus_window() {
    let mut h = Harness::new(5);
    let m = h.high_cpu(75.0);
    h.send(&m).unwrap();
    let m = h.overprovisioned(50.0, 5.0);
    h.send(&m).ok();
    assert!(h.state().cpu.surplus_since.is_some());
    let m = h.high_cpu(75.0);
    h.send(&m).ok();
    assert_eq!(h.state().cpu.surplus_since, None);
}
