//! docs/QUEUE.md stays true: every JSON example in it is a body the scaler parses, envelopes are
//! byte for byte what a producer writes, and the signal table names every signal.

use autoscaler_core::{
    ClusterId, InstanceId,
    message::{self, Envelope},
    signal::{AlertStatus, CpuValues, InstanceState, Signal},
};

fn doc() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/QUEUE.md")).unwrap()
}

fn examples(doc: &str) -> Vec<&str> {
    doc.split("```json\n").skip(1).map(|block| block.split("\n```").next().unwrap().trim()).collect()
}

#[test]
fn every_example_parses_and_envelopes_are_written_exactly_so() {
    let doc = doc();
    let examples = examples(&doc);
    assert!(examples.len() >= 8, "{} examples", examples.len());
    let prod = ClusterId::new("prod").unwrap();
    let mut signals = Vec::new();
    for example in examples {
        let parsed = message::parse(example, &prod).unwrap_or_else(|e| panic!("{example}: {e}"));
        let signal = parsed.signal.unwrap_or_else(|| panic!("{example}: not actionable"));
        signals.push(serde_json::to_value(&signal).unwrap()["signal"].as_str().unwrap().to_owned());
        if example.starts_with("{\"v\":") {
            let envelope: Envelope = serde_json::from_str(example).unwrap();
            assert_eq!(envelope.to_body(), example, "a producer writes this envelope differently");
        } else {
            assert_eq!(parsed.id, "eb-12345678-1234-1234-1234-123456789012");
        }
    }
    for tag in
        ["high_cpu", "low_cpu", "pending_pods", "watchdog", "app_metric", "reconcile", "advance", "spot_interruption"]
    {
        assert!(signals.iter().any(|s| s == tag), "no example of {tag}");
    }
}

/// The tag of each signal. The match is exhaustive: a new signal does not compile until it is
/// listed here, and then the test below wants it documented.
fn tag(signal: &Signal) -> &'static str {
    match signal {
        Signal::HighCpu { .. } => "high_cpu",
        Signal::PendingPods { .. } => "pending_pods",
        Signal::LowCpu { .. } => "low_cpu",
        Signal::Overprovisioned { .. } => "overprovisioned",
        Signal::Watchdog { .. } => "watchdog",
        Signal::AppMetric { .. } => "app_metric",
        Signal::SpotInterruption { .. } => "spot_interruption",
        Signal::Rebalance { .. } => "rebalance",
        Signal::InstanceStateChange { .. } => "instance_state_change",
        Signal::ScheduledChange { .. } => "scheduled_change",
        Signal::Advance { .. } => "advance",
        Signal::Reconcile { .. } => "reconcile",
    }
}

#[test]
fn the_signal_table_names_every_signal() {
    let doc = doc();
    let at: autoscaler_core::time::Timestamp = "2026-03-02T12:00:00Z".parse().unwrap();
    let cpu = CpuValues { cpu_percent: 50.0, demand_cores: None };
    let instance = || InstanceId("i-0123456789abcdef0".into());
    let all = [
        Signal::HighCpu { status: AlertStatus::Firing, starts_at: at, values: cpu },
        Signal::PendingPods { status: AlertStatus::Firing, starts_at: at, pending_pods: 1 },
        Signal::LowCpu { status: AlertStatus::Firing, starts_at: at, values: cpu },
        Signal::Overprovisioned { status: AlertStatus::Firing, starts_at: at, values: cpu },
        Signal::Watchdog { values: cpu },
        Signal::AppMetric { name: "ApiLatencyHigh".into(), status: AlertStatus::Firing, value: None },
        Signal::SpotInterruption { instance_id: instance(), action_at: at },
        Signal::Rebalance { instance_id: instance() },
        Signal::InstanceStateChange { instance_id: instance(), state: InstanceState::Running },
        Signal::ScheduledChange { instance_ids: vec![instance()], start_at: None },
        Signal::Advance { operation_id: "op-1".into(), step: 1 },
        Signal::Reconcile { at, findings: vec![] },
    ];
    for signal in &all {
        // The tag the serialiser writes is the one documented.
        assert_eq!(serde_json::to_value(signal).unwrap()["signal"], tag(signal));
        assert!(doc.contains(&format!("| `{}` |", tag(signal))), "docs/QUEUE.md does not describe `{}`", tag(signal));
    }
}
