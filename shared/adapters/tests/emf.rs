//! `EmfMetrics` lines as CloudWatch reads them: one JSON object per line with the `_aws` envelope
//! declaring the metric, its unit and its dimensions, and the values as top-level members.

use std::sync::{Arc, Mutex};

use autoscaler_adapters::emf::{EmfMetrics, NAMESPACE};
use autoscaler_core::{
    metric::{Metric, Unit, names},
    ports::Metrics,
    time::Timestamp,
};
use serde_json::{Value, json};

/// A writer into a shared buffer.
#[derive(Clone, Default)]
struct Lines(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Lines {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Lines {
    fn parsed(&self) -> Vec<Value> {
        let text = String::from_utf8(self.0.lock().expect("lock").clone()).expect("UTF-8");
        assert!(text.is_empty() || text.ends_with('\n'), "every line is terminated");
        text.lines().map(|l| serde_json::from_str(l).expect("each line is one JSON object")).collect()
    }
}

const AT: &str = "2026-01-01T10:00:00.250Z";

fn sink() -> (EmfMetrics, Lines) {
    let lines = Lines::default();
    let at: Timestamp = AT.parse().expect("valid");
    (EmfMetrics::new(lines.clone()).with_clock(move || at), lines)
}

/// Every metric name the services emit, with the unit and extra dimension they use.
fn every_metric() -> Vec<Metric> {
    use names::*;
    let count = |name| Metric::count(name, "prod");
    let seconds = |name, v| Metric::seconds(name, "prod", v);
    vec![
        count(DECISIONS).with("action", "scale_up"),
        count(SCALE_UPS).value(2.0),
        count(SCALE_DOWNS),
        count(FAILED_OPERATIONS).with("reason", "InsufficientInstanceCapacity"),
        seconds(DECISION_LATENCY, 61.5),
        seconds(NODE_JOIN_SECONDS, 94.0),
        seconds(DRAIN_SECONDS, 42.0),
        count(EVICTIONS_BLOCKED),
        count(MESSAGES_IGNORED).with("reason", "duplicate"),
        count(LEASE_CONFLICTS),
        count(DRIFT_FINDINGS).with("reason", "untracked_instance"),
        count(HEARTBEAT),
        Metric { name: WORKERS, value: 4.0, unit: Unit::None, dimensions: vec![("cluster", "prod".into())] },
        count(NOTIFICATIONS_FAILED).with("reason", "timeout"),
    ]
}

#[test]
fn every_metric_is_one_emf_line_declaring_its_name_unit_and_dimensions() {
    let (metrics, lines) = sink();
    let all = every_metric();
    for m in &all {
        metrics.emit(m);
    }
    let docs = lines.parsed();
    assert_eq!(docs.len(), all.len(), "one line per value");
    for (m, doc) in all.iter().zip(&docs) {
        let aws = &doc["_aws"];
        assert_eq!(aws["Timestamp"], json!(1_767_261_600_250i64), "{}: milliseconds since the epoch", m.name);
        let declared = &aws["CloudWatchMetrics"][0];
        assert_eq!(declared["Namespace"], NAMESPACE);
        let unit = match m.unit {
            Unit::Count => "Count",
            Unit::Seconds => "Seconds",
            Unit::None => "None",
        };
        assert_eq!(declared["Metrics"], json!([{"Name": m.name, "Unit": unit}]));
        let keys: Vec<&str> = m.dimensions.iter().map(|(k, _)| *k).collect();
        assert_eq!(declared["Dimensions"], json!([keys]), "{}", m.name);
        for (k, v) in &m.dimensions {
            assert_eq!(doc[*k], json!(v), "{}: dimension {k} is a top-level string", m.name);
        }
        assert_eq!(doc[m.name], json!(m.value), "{}: the value is a top-level number", m.name);
        let members = doc.as_object().expect("object").len();
        assert_eq!(members, 1 + m.dimensions.len() + 1, "{}: nothing else in the document", m.name);
    }
}

#[test]
fn a_value_json_cannot_carry_is_not_emitted() {
    let (metrics, lines) = sink();
    metrics.emit(&Metric::seconds(names::DRAIN_SECONDS, "prod", f64::NAN));
    metrics.emit(&Metric::seconds(names::DRAIN_SECONDS, "prod", f64::INFINITY));
    assert!(lines.parsed().is_empty());
}

#[test]
fn lines_from_concurrent_emitters_never_interleave() {
    let (metrics, lines) = sink();
    std::thread::scope(|s| {
        for t in 0..4 {
            let metrics = metrics.clone();
            s.spawn(move || {
                for i in 0..250 {
                    metrics.emit(&Metric::count(names::DECISIONS, "prod").with("action", format!("a{t}-{i}")));
                }
            });
        }
    });
    assert_eq!(lines.parsed().len(), 1000);
}
