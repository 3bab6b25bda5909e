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
    /// The body is not JSON: empty, truncated, not UTF-8, or trailing garbage.
    #[error("body is not valid JSON: {0}")]
    Syntax(String),
    /// The body is JSON but not of the payload's shape.
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
        matches!(self, PayloadError::Syntax(_))
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
    let payload: Payload = serde_path_to_error::deserialize(&mut *de).map_err(|e| {
        let inner = e.inner();
        if inner.is_syntax() || inner.is_eof() {
            PayloadError::Syntax(inner.to_string())
        } else {
            PayloadError::Shape { field: e.path().to_string(), message: inner.to_string() }
        }
    })?;
    de.end().map_err(|e| PayloadError::Syntax(e.to_string()))?;
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
        let number = |key: &str, required: bool| -> Result<Option<f64>, PayloadError> {
            // An empty annotation is an absent value: `{{ with query ... }}` renders nothing
            // when the query has no result.
            match alert.annotations.get(key).filter(|v| !v.trim().is_empty()) {
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
            "Overprovisioned" => Signal::Overprovisioned { status, starts_at, values: cpu(firing)? },
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
        // Resolved only for alerts we act on: an unrelated alert routed to this receiver need
        // not carry our `cluster` label.
        let cluster = match alert.labels.get("cluster") {
            Some(c) => ClusterId::new(c.clone()).map_err(|e| invalid(at("labels.cluster"), e.to_string()))?,
            None => default_cluster
                .cloned()
                .ok_or_else(|| invalid(at("labels.cluster"), "missing, and no default cluster is configured".into()))?,
        };
        let values: Vec<(&str, &str)> = ["cpu_percent", "demand_cores", "pending_pods", "value"]
            .iter()
            .filter_map(|k| alert.annotations.get(*k).map(|v| (*k, v.as_str())))
            .collect();
        // The minute of receipt joins the id: Alertmanager's retries of one notification come
        // within seconds and are deduplicated, while a periodic re-fire (a Watchdog whose
        // `startsAt` never changes, a steady LowCPU at night) is a fresh reading even when its
        // values recur. A retry that straddles a minute is processed twice, which is harmless:
        // it carries the same values, and an operation in flight blocks a second action.
        let msg_id = id::alert(&alert.fingerprint, &alert.status, &alert.starts_at, &values, received_at);
        out.messages.push(Envelope::new(msg_id, Kind::Alert, cluster, received_at, signal));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const AT: &str = "2026-03-02T12:00:00Z";

    fn payload(alert: &str) -> String {
        format!(r#"{{"version":"4","groupKey":"{{}}:{{}}","status":"firing","alerts":[{alert}]}}"#)
    }

    fn alert(name: &str, labels: &str, annotations: &str) -> String {
        format!(
            r#"{{"status":"firing","labels":{{"alertname":"{name}"{labels}}},"annotations":{{{annotations}}},"startsAt":"{AT}","endsAt":"0001-01-01T00:00:00Z","fingerprint":"f1"}}"#
        )
    }

    #[test]
    fn unreadable_bodies_are_syntax_errors_and_wrong_shapes_are_not() {
        let trailing = format!("{} x", payload(""));
        for body in ["", "{", trailing.as_str(), "\u{1}"] {
            let err = parse(body.as_bytes()).unwrap_err();
            assert!(err.is_syntax(), "{body:?}: {err}");
        }
        for (body, want) in [("{}", ".: missing field `version`"), ("7", ".: invalid type: integer `7`")] {
            let err = parse(body.as_bytes()).unwrap_err();
            assert!(!err.is_syntax(), "{body:?}: {err}");
            assert!(err.to_string().starts_with(want), "{body:?}: {err}");
        }
    }

    #[test]
    fn an_empty_annotation_is_an_absent_value() {
        let body = payload(&alert("HighCPU", r#","cluster":"prod""#, r#""cpu_percent":"82.50","demand_cores":"""#));
        let conv = convert(&parse(body.as_bytes()).unwrap(), None, AT.parse().unwrap()).unwrap();
        let Signal::HighCpu { values, .. } = &conv.messages[0].signal else { panic!("{conv:?}") };
        assert_eq!(*values, CpuValues { cpu_percent: 82.5, demand_cores: None });
    }

    #[test]
    fn unrelated_alerts_need_no_cluster_label() {
        let body = payload(&alert("DiskFull", "", ""));
        let conv = convert(&parse(body.as_bytes()).unwrap(), None, AT.parse().unwrap()).unwrap();
        assert!(conv.messages.is_empty());
        assert_eq!(conv.ignored, vec![("DiskFull".to_owned(), "not an alert k3s-autoscaler acts on".to_owned())]);
        let ours = payload(&alert("HighCPU", "", r#""cpu_percent":"82.50""#));
        let err = convert(&parse(ours.as_bytes()).unwrap(), None, AT.parse().unwrap()).unwrap_err();
        assert_eq!(err.to_string(), "alerts[0].labels.cluster: missing, and no default cluster is configured");
    }
}
