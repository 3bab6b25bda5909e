//! The Alertmanager webhook payload (version 4) and its mapping to queue envelopes: one envelope
//! per relevant alert, keyed by a deterministic id. Unknown alert names are accepted and ignored,
//! so a shared Alertmanager does not retry them. Pure.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{Envelope, Kind, id};
use crate::{
    ClusterId,
    signal::{AlertStatus, CpuValues, Signal},
    time::Timestamp,
};

/// The payload version this parser reads.
pub const PAYLOAD_VERSION: &str = "4";

/// An Alertmanager webhook notification.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Payload {
    /// Payload schema version; must be `"4"`.
    pub version: String,
    /// Identifies the alert group (for logs).
    pub group_key: String,
    /// Alerts left out because of `max_alerts`.
    #[serde(default)]
    pub truncated_alerts: u64,
    /// `firing` if any alert of the group fires.
    pub status: String,
    /// The receiver's name.
    #[serde(default)]
    pub receiver: String,
    /// The alerts.
    pub alerts: Vec<Alert>,
}

/// One alert of a notification.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Alert {
    /// `firing` or `resolved`.
    pub status: String,
    /// Labels, `alertname` and `cluster` among them.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Annotations carrying the values.
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// When it started firing (RFC 3339).
    pub starts_at: String,
    /// When it resolved, or the zero time while firing.
    #[serde(default)]
    pub ends_at: Option<String>,
    /// Alertmanager's fingerprint of the label set.
    pub fingerprint: String,
}

/// Why a payload was refused. Each names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    /// The body is not JSON or not of the payload's shape.
    #[error("{field}: {message}")]
    Shape {
        /// Dotted path (`alerts[0].startsAt`), or `.` for the document.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// A payload version other than 4.
    #[error("version: {0:?} is not supported (expected \"4\")")]
    Version(String),
    /// A value is well-typed but wrong.
    #[error("{field}: {message}")]
    Invalid {
        /// Dotted path.
        field: String,
        /// What is wrong.
        message: String,
    },
}

impl PayloadError {
    /// Whether the body was unreadable (400) rather than readable but invalid (422).
    pub fn is_syntax(&self) -> bool {
        matches!(self, PayloadError::Shape { field, .. } if field == ".")
    }
}

/// The messages a payload becomes.
#[derive(Debug, Clone, PartialEq)]
pub struct Conversion {
    /// One envelope per relevant alert, in payload order.
    pub messages: Vec<Envelope>,
    /// Alerts accepted and ignored: `(alertname, why)`.
    pub ignored: Vec<(String, String)>,
}

/// Parses a webhook body. Errors name the field.
pub fn parse(body: &[u8]) -> Result<Payload, PayloadError> {
    let de = &mut serde_json::Deserializer::from_slice(body);
    let payload: Payload = serde_path_to_error::deserialize(de).map_err(|e| {
        let inner = e.inner();
        let field = if inner.is_syntax() || inner.is_eof() { ".".to_owned() } else { e.path().to_string() };
        PayloadError::Shape { field, message: inner.to_string() }
    })?;
    if payload.version != PAYLOAD_VERSION {
        return Err(PayloadError::Version(payload.version));
    }
    Ok(payload)
}

/// Maps every alert to an envelope. `default_cluster` is used for alerts without a `cluster`
/// label; without either, the payload is refused.
pub fn convert(
    payload: &Payload,
    default_cluster: Option<&ClusterId>,
    received_at: Timestamp,
) -> Result<Conversion, PayloadError> {
    let mut out = Conversion { messages: Vec::new(), ignored: Vec::new() };
    for (i, alert) in payload.alerts.iter().enumerate() {
        let at = |f: &str| format!("alerts[{i}].{f}");
        let invalid = |field: String, message: String| PayloadError::Invalid { field, message };
        let name = alert.labels.get("alertname").cloned().unwrap_or_default();
        let status = match alert.status.as_str() {
            "firing" => AlertStatus::Firing,
            "resolved" => AlertStatus::Resolved,
            other => return Err(invalid(at("status"), format!("{other:?} is neither \"firing\" nor \"resolved\""))),
        };
        let starts_at: Timestamp = alert
            .starts_at
            .parse()
            .map_err(|e| invalid(at("startsAt"), format!("{:?} is not an RFC 3339 time: {e}", alert.starts_at)))?;
        if let Some(ends) = &alert.ends_at {
            ends.parse::<Timestamp>()
                .map_err(|e| invalid(at("endsAt"), format!("{ends:?} is not an RFC 3339 time: {e}")))?;
        }
        if alert.fingerprint.is_empty() {
            return Err(invalid(at("fingerprint"), "must not be empty".into()));
        }
        let cluster = match alert.labels.get("cluster") {
            Some(c) => ClusterId::new(c.clone()).map_err(|e| invalid(at("labels.cluster"), e.to_string()))?,
            None => default_cluster
                .cloned()
                .ok_or_else(|| invalid(at("labels.cluster"), "missing, and no default cluster is configured".into()))?,
        };
        let number = |key: &str, required: bool| -> Result<Option<f64>, PayloadError> {
            match alert.annotations.get(key) {
                Some(v) => v
                    .trim()
                    .parse::<f64>()
                    .ok()
                    .filter(|x| x.is_finite())
                    .map(Some)
                    .ok_or_else(|| invalid(at(&format!("annotations.{key}")), format!("{v:?} is not a number"))),
                None if required => Err(invalid(at(&format!("annotations.{key}")), "missing".into())),
                None => Ok(None),
            }
        };
        let firing = status == AlertStatus::Firing;
        let cpu = |required: bool| -> Result<CpuValues, PayloadError> {
            let cpu_percent = number("cpu_percent", required)?.unwrap_or(0.0);
            if !(0.0..=100.0).contains(&cpu_percent) {
                return Err(invalid(at("annotations.cpu_percent"), format!("{cpu_percent} is outside 0-100")));
            }
            Ok(CpuValues { cpu_percent, demand_cores: number("demand_cores", false)? })
        };
        let signal = match name.as_str() {
            "HighCPU" => Signal::HighCpu { status, starts_at, values: cpu(firing)? },
            "LowCPU" => Signal::LowCpu { status, starts_at, values: cpu(firing)? },
            "PendingPods" => Signal::PendingPods {
                status,
                starts_at,
                pending_pods: number("pending_pods", false)?.unwrap_or(0.0).max(0.0) as u32,
            },
            "Watchdog" if firing => Signal::Watchdog { values: cpu(true)? },
            "ApiLatencyHigh" | "ErrorRateHigh" | "QueueDepthHigh" => {
                Signal::AppMetric { name: name.clone(), status, value: number("value", false)? }
            }
            "Watchdog" => {
                out.ignored.push((name, "a resolved Watchdog carries no information".into()));
                continue;
            }
            "" => {
                out.ignored.push(("".into(), "alert has no alertname label".into()));
                continue;
            }
            _ => {
                out.ignored.push((name, "not an alert k3s-autoscaler acts on".into()));
                continue;
            }
        };
        let values: Vec<(&str, &str)> = ["cpu_percent", "demand_cores", "pending_pods", "value"]
            .iter()
            .filter_map(|k| alert.annotations.get(*k).map(|v| (*k, v.as_str())))
            .collect();
        let msg_id = id::alert(&alert.fingerprint, &alert.status, &alert.starts_at, &values);
        out.messages.push(Envelope::new(msg_id, Kind::Alert, cluster, received_at, signal));
    }
    Ok(out)
}
