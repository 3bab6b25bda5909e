//! `EmfMetrics`: the [`Metrics`] port as CloudWatch Embedded Metric Format lines — one JSON object
//! per line on stdout, which Lambda ships to CloudWatch Logs and CloudWatch turns into metrics
//! without an API call. The writer and the clock are injectable so tests read the lines.

use std::{
    fmt,
    io::Write,
    sync::{Arc, Mutex},
};

use autoscaler_core::{
    metric::{Metric, Unit},
    ports::Metrics,
    time::Timestamp,
};
use serde_json::{Map, Value, json};
use tracing::warn;

/// The CloudWatch namespace of every metric.
pub const NAMESPACE: &str = "K3sAutoscaler";

type Clock = dyn Fn() -> Timestamp + Send + Sync;

/// Writes one EMF line per metric value. Cheap to clone; clones share the writer.
#[derive(Clone)]
pub struct EmfMetrics {
    out: Arc<Mutex<Box<dyn Write + Send>>>,
    now: Arc<Clock>,
}

impl fmt::Debug for EmfMetrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmfMetrics").field("namespace", &NAMESPACE).finish_non_exhaustive()
    }
}

impl EmfMetrics {
    /// Lines to stdout, stamped with the system clock (the Lambda services).
    pub fn stdout() -> Self {
        Self::new(std::io::stdout())
    }

    /// Lines to `out`, stamped with the system clock.
    pub fn new(out: impl Write + Send + 'static) -> Self {
        Self { out: Arc::new(Mutex::new(Box::new(out))), now: Arc::new(Timestamp::now) }
    }

    /// Stamps lines with `now` instead of the system clock.
    pub fn with_clock(mut self, now: impl Fn() -> Timestamp + Send + Sync + 'static) -> Self {
        self.now = Arc::new(now);
        self
    }
}

impl Metrics for EmfMetrics {
    fn emit(&self, metric: &Metric) {
        let Some(line) = line(metric, (self.now)()) else {
            warn!(metric = metric.name, value = metric.value, "Metric value is not a finite number; not emitted.");
            return;
        };
        // One write of the whole line under the lock, so lines of concurrent emitters never mix.
        let written =
            self.out.lock().map_err(|_| std::io::Error::other("metrics writer poisoned")).and_then(|mut out| {
                out.write_all(format!("{line}\n").as_bytes())?;
                out.flush()
            });
        if let Err(e) = written {
            warn!(metric = metric.name, error = %e, "Writing an EMF metric line failed.");
        }
    }
}

/// The EMF document for `metric` at `at`: the `_aws` envelope declaring the metric, its unit and
/// its dimension set, then each dimension and the value as top-level members. `None` for NaN or
/// infinite values, which JSON cannot carry.
pub fn line(metric: &Metric, at: Timestamp) -> Option<String> {
    if !metric.value.is_finite() {
        return None;
    }
    let dimension_keys: Vec<&str> = metric.dimensions.iter().map(|(k, _)| *k).collect();
    let mut doc = Map::new();
    doc.insert(
        "_aws".into(),
        json!({
            "Timestamp": at.as_millisecond(),
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [dimension_keys],
                "Metrics": [{"Name": metric.name, "Unit": unit(metric.unit)}],
            }],
        }),
    );
    for (key, value) in &metric.dimensions {
        doc.insert((*key).to_owned(), Value::String(value.clone()));
    }
    doc.insert(metric.name.to_owned(), json!(metric.value));
    Some(Value::Object(doc).to_string())
}

/// CloudWatch's spelling of a unit.
fn unit(unit: Unit) -> &'static str {
    match unit {
        Unit::Count => "Count",
        Unit::Seconds => "Seconds",
        Unit::None => "None",
    }
}
