//! How a signal changes the remembered state (CPU values, alert windows, pipeline liveness)
//! before anything is decided. Pure.

use crate::{
    ClusterState, Policy,
    signal::{AlertStatus, CpuValues, Signal},
    time::{Timestamp, before},
};

/// Applies an alert signal to the state; instance events and ticks change nothing here.
pub fn apply(state: &mut ClusterState, signal: &Signal, policy: &Policy, received_at: Timestamp) {
    let record = |state: &mut ClusterState, v: &CpuValues| {
        state.cpu.percent = Some(v.cpu_percent);
        state.cpu.demand_cores = v.demand_cores;
        state.cpu.observed_at = Some(received_at);
    };
    match signal {
        // The alert fires after its condition held for `for:`; the condition began that long
        // before `startsAt`.
        Signal::HighCpu { status: AlertStatus::Firing, starts_at, values } => {
            state.cpu.high_since = Some(before(*starts_at, policy.scale_up.cpu_for));
            state.cpu.low_since = None;
            state.cpu.surplus_since = None;
            record(state, values);
        }
        Signal::HighCpu { status: AlertStatus::Resolved, .. } => state.cpu.high_since = None,
        Signal::LowCpu { status: AlertStatus::Firing, starts_at, values } => {
            state.cpu.low_since = Some(before(*starts_at, policy.scale_down.cpu_for));
            state.cpu.high_since = None;
            record(state, values);
        }
        Signal::LowCpu { status: AlertStatus::Resolved, .. } => state.cpu.low_since = None,
        Signal::Overprovisioned { status: AlertStatus::Firing, starts_at, values } => {
            state.cpu.surplus_since = Some(before(*starts_at, policy.scale_down.consolidation.after));
            state.cpu.high_since = None;
            record(state, values);
        }
        Signal::Overprovisioned { status: AlertStatus::Resolved, .. } => state.cpu.surplus_since = None,
        Signal::PendingPods { status: AlertStatus::Firing, starts_at, .. } => {
            state.pending_alert_since = Some(before(*starts_at, policy.scale_up.pending_for));
        }
        Signal::PendingPods { status: AlertStatus::Resolved, .. } => state.pending_alert_since = None,
        Signal::Watchdog { values } => {
            state.last_watchdog_at = Some(received_at);
            record(state, values);
        }
        Signal::AppMetric { .. }
        | Signal::SpotInterruption { .. }
        | Signal::Rebalance { .. }
        | Signal::InstanceStateChange { .. }
        | Signal::ScheduledChange { .. }
        | Signal::Advance { .. }
        | Signal::Reconcile { .. } => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ClusterId;

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn alerts_set_and_clear_their_windows() {
        let p = Policy::default();
        let mut s = ClusterState::new(ClusterId::new("c").unwrap());
        let values = CpuValues { cpu_percent: 82.0, demand_cores: Some(8.2) };
        let high = Signal::HighCpu { status: AlertStatus::Firing, starts_at: t("2026-01-01T10:01:00Z"), values };
        apply(&mut s, &high, &p, t("2026-01-01T10:01:10Z"));
        assert_eq!(s.cpu.high_since, Some(t("2026-01-01T10:00:00Z")));
        assert_eq!(s.cpu.percent, Some(82.0));
        assert_eq!(s.cpu.observed_at, Some(t("2026-01-01T10:01:10Z")));
        let resolved = Signal::HighCpu { status: AlertStatus::Resolved, starts_at: t("2026-01-01T10:01:00Z"), values };
        apply(&mut s, &resolved, &p, t("2026-01-01T10:05:00Z"));
        assert_eq!(s.cpu.high_since, None);
        // A resolved alert's values are stale: the reading is kept as it was.
        assert_eq!(s.cpu.observed_at, Some(t("2026-01-01T10:01:10Z")));
        let low = Signal::LowCpu {
            status: AlertStatus::Firing,
            starts_at: t("2026-01-01T23:10:00Z"),
            values: CpuValues { cpu_percent: 20.0, demand_cores: None },
        };
        apply(&mut s, &low, &p, t("2026-01-01T23:10:05Z"));
        assert_eq!(s.cpu.low_since, Some(t("2026-01-01T23:00:00Z")));
        assert_eq!(s.cpu.demand_cores, None);
    }

    #[test]
    fn overprovisioned_sets_the_surplus_window_and_high_cpu_clears_it() {
        let p = Policy::default();
        let mut s = ClusterState::new(ClusterId::new("c").unwrap());
        let values = CpuValues { cpu_percent: 41.0, demand_cores: Some(8.2) };
        let over =
            Signal::Overprovisioned { status: AlertStatus::Firing, starts_at: t("2026-01-01T16:30:00Z"), values };
        apply(&mut s, &over, &p, t("2026-01-01T16:30:05Z"));
        // The condition began one consolidation window (30m) before the alert fired.
        assert_eq!(s.cpu.surplus_since, Some(t("2026-01-01T16:00:00Z")));
        assert_eq!(s.cpu.demand_cores, Some(8.2));
        let resolved =
            Signal::Overprovisioned { status: AlertStatus::Resolved, starts_at: t("2026-01-01T16:30:00Z"), values };
        apply(&mut s, &resolved, &p, t("2026-01-01T16:40:00Z"));
        assert_eq!(s.cpu.surplus_since, None);
        apply(&mut s, &over, &p, t("2026-01-01T16:45:00Z"));
        let high = Signal::HighCpu {
            status: AlertStatus::Firing,
            starts_at: t("2026-01-01T17:00:00Z"),
            values: CpuValues { cpu_percent: 75.0, demand_cores: Some(10.5) },
        };
        apply(&mut s, &high, &p, t("2026-01-01T17:00:05Z"));
        assert_eq!(s.cpu.surplus_since, None);
    }
}
