//! Queue messages: the versioned envelope every producer writes (webhook, reconciler, scaler
//! follow-ups), the parsers of what arrives on the queue (envelopes and raw EventBridge events),
//! and the deterministic ids that make redelivery harmless. Pure.
//!
//! The queue contract is documented in `docs/QUEUE.md`.

pub mod alertmanager;
pub mod eventbridge;
pub mod id;

use serde::{Deserialize, Serialize};

use crate::{ClusterId, signal::Signal, time::Timestamp};

/// Version of the envelope schema; a consumer refuses versions it does not know.
pub const VERSION: u32 = 1;

/// Where a message came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// An Alertmanager alert (via the webhook).
    Alert,
    /// An EC2 or AWS Health event (via EventBridge).
    Ec2Event,
    /// A reconciler tick.
    Reconcile,
    /// A follow-up the scaler sends itself to advance a long operation.
    Advance,
}

/// The body of every message our own producers send.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Envelope {
    /// Schema version, `VERSION`.
    pub v: u32,
    /// Deterministic id, also the `MessageDeduplicationId` and the idempotency key.
    pub id: String,
    /// Where it came from.
    pub kind: Kind,
    /// The cluster (also the `MessageGroupId`).
    pub cluster: ClusterId,
    /// When the producer received or created it.
    pub received_at: Timestamp,
    /// What it says.
    pub signal: Signal,
}

/// A message body as the scaler understands it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Parsed {
    /// Its deterministic id.
    pub id: String,
    /// Where it came from.
    pub kind: Kind,
    /// The cluster.
    pub cluster: ClusterId,
    /// When it was produced.
    pub received_at: Timestamp,
    /// The signal, or `None` when the message is well-formed but not actionable.
    pub signal: Option<Signal>,
    /// Why it is not actionable, when it is not.
    pub ignored: Option<String>,
}

/// Why a message body could not be understood. The message is acknowledged (poison), logged
/// with this reason and counted; it never blocks the cluster's queue.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Not JSON at all.
    #[error("body is not JSON: {0}")]
    NotJson(String),
    /// JSON, but neither an envelope nor an EventBridge event.
    #[error(
        "body is neither a k3s-autoscaler envelope (`v`, `kind`) nor an EventBridge event (`detail-type`, `source`)"
    )]
    UnknownShape,
    /// An envelope of a version this build does not know.
    #[error("envelope version {0} is not supported (this build reads version {VERSION})")]
    Version(u32),
    /// A field is missing or wrong.
    #[error("{field}: {message}")]
    Field {
        /// Dotted path of the field.
        field: String,
        /// What is wrong.
        message: String,
    },
}

/// Parses a queue message body: an envelope, or a raw EventBridge event (whose cluster is the
/// queue's, `default_cluster`).
pub fn parse(body: &str, default_cluster: &ClusterId) -> Result<Parsed, ParseError> {
    let value: serde_json::Value = serde_json::from_str(body).map_err(|e| ParseError::NotJson(e.to_string()))?;
    let obj = value.as_object().ok_or(ParseError::UnknownShape)?;
    if obj.contains_key("v") && obj.contains_key("kind") {
        let v = obj.get("v").and_then(serde_json::Value::as_u64).unwrap_or(0);
        if v != u64::from(VERSION) {
            return Err(ParseError::Version(u32::try_from(v).unwrap_or(u32::MAX)));
        }
        let env: Envelope = serde_path_to_error::deserialize(value)
            .map_err(|e| ParseError::Field { field: e.path().to_string(), message: e.inner().to_string() })?;
        return Ok(Parsed {
            id: env.id,
            kind: env.kind,
            cluster: env.cluster,
            received_at: env.received_at,
            signal: Some(env.signal),
            ignored: None,
        });
    }
    if obj.contains_key("detail-type") && obj.contains_key("source") {
        return eventbridge::parse(value, default_cluster);
    }
    Err(ParseError::UnknownShape)
}

impl Envelope {
    /// A new envelope of the current version.
    pub fn new(id: String, kind: Kind, cluster: ClusterId, received_at: Timestamp, signal: Signal) -> Self {
        Self { v: VERSION, id, kind, cluster, received_at, signal }
    }

    /// The JSON body.
    pub fn to_body(&self) -> String {
        serde_json::to_string(self).expect("an envelope always serialises")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prod() -> ClusterId {
        ClusterId::new("prod").unwrap()
    }

    #[test]
    fn envelopes_round_trip() {
        let env = Envelope::new(
            "rc-prod-2026-03-02T12:00:00Z".into(),
            Kind::Reconcile,
            prod(),
            "2026-03-02T12:00:00Z".parse().unwrap(),
            Signal::Reconcile { at: "2026-03-02T12:00:00Z".parse().unwrap(), findings: vec!["count below min".into()] },
        );
        let parsed = parse(&env.to_body(), &prod()).unwrap();
        assert_eq!(parsed.id, env.id);
        assert_eq!(parsed.signal, Some(env.signal));
    }

    #[test]
    fn malformed_bodies_say_what_is_wrong() {
        let cases = [
            ("", "body is not JSON"),
            ("{\"v\":1", "body is not JSON"),
            ("[1,2]", "neither a k3s-autoscaler envelope"),
            ("{\"hello\":1}", "neither a k3s-autoscaler envelope"),
            ("{\"v\":2,\"kind\":\"alert\"}", "envelope version 2 is not supported"),
            ("{\"v\":1,\"kind\":\"alert\",\"id\":\"x\"}", "missing field `cluster`"),
            (
                "{\"v\":1,\"kind\":\"gossip\",\"id\":\"x\",\"cluster\":\"prod\",\"received_at\":\"2026-01-01T00:00:00Z\",\"signal\":{\"signal\":\"watchdog\",\"values\":{\"cpu_percent\":1}}}",
                "kind: unknown variant `gossip`",
            ),
        ];
        for (body, want) in cases {
            let err = parse(body, &prod()).unwrap_err().to_string();
            assert!(err.contains(want), "{body:?}: got {err:?}, want {want:?}");
        }
    }
}
