//! EventBridge events that arrive raw on the queue: EC2 Spot interruption warnings, rebalance
//! recommendations, instance state changes, and AWS Health scheduled changes. Each kind has its
//! own small parser; unknown kinds are well-formed but not actionable. `account` is optional
//! (some emitters omit it).

use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use super::{Kind, ParseError, Parsed, id};
use crate::{
    ClusterId, InstanceId,
    signal::{InstanceState, Signal},
    time::{Timestamp, after},
};

/// How long EC2 gives a Spot instance after the interruption warning.
pub const SPOT_NOTICE: Duration = Duration::from_secs(120);

/// The EventBridge envelope fields we read.
#[derive(Debug, Deserialize)]
struct Event {
    id: String,
    #[serde(rename = "detail-type")]
    detail_type: String,
    source: String,
    #[serde(default)]
    #[allow(dead_code)]
    account: Option<String>,
    time: Timestamp,
    #[serde(default)]
    resources: Vec<String>,
    detail: Value,
}

#[derive(Debug, Deserialize)]
struct InstanceDetail {
    #[serde(rename = "instance-id")]
    instance_id: String,
}

#[derive(Debug, Deserialize)]
struct StateDetail {
    #[serde(rename = "instance-id")]
    instance_id: String,
    state: InstanceState,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct HealthDetail {
    service: String,
    event_type_category: String,
    #[serde(default)]
    start_time: Option<String>,
    #[serde(default)]
    affected_entities: Vec<AffectedEntity>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AffectedEntity {
    entity_value: String,
}

fn field(prefix: &str, e: serde_path_to_error::Error<serde_json::Error>) -> ParseError {
    let path = e.path().to_string();
    let field = if path == "." { prefix.to_owned() } else { format!("{prefix}.{path}") };
    ParseError::Field { field, message: e.inner().to_string() }
}

fn detail<T: for<'de> Deserialize<'de>>(v: Value) -> Result<T, ParseError> {
    serde_path_to_error::deserialize(v).map_err(|e| field("detail", e))
}

/// Parses one raw EventBridge event.
pub fn parse(value: Value, cluster: &ClusterId) -> Result<Parsed, ParseError> {
    let ev: Event = serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        ParseError::Field { field: path, message: e.inner().to_string() }
    })?;
    let parsed = |signal: Option<Signal>, ignored: Option<String>| Parsed {
        id: id::event(&ev.id),
        kind: Kind::Ec2Event,
        cluster: cluster.clone(),
        received_at: ev.time,
        signal,
        ignored,
    };
    let instance = |s: String| {
        if s.starts_with("i-") {
            Ok(InstanceId(s))
        } else {
            Err(ParseError::Field {
                field: "detail.instance-id".into(),
                message: format!("{s:?} is not an instance id"),
            })
        }
    };
    let signal = match (ev.source.as_str(), ev.detail_type.as_str()) {
        ("aws.ec2", "EC2 Spot Instance Interruption Warning") => {
            let d: InstanceDetail = detail(ev.detail.clone())?;
            Signal::SpotInterruption { instance_id: instance(d.instance_id)?, action_at: after(ev.time, SPOT_NOTICE) }
        }
        ("aws.ec2", "EC2 Instance Rebalance Recommendation") => {
            let d: InstanceDetail = detail(ev.detail.clone())?;
            Signal::Rebalance { instance_id: instance(d.instance_id)? }
        }
        ("aws.ec2", "EC2 Instance State-change Notification") => {
            let d: StateDetail = detail(ev.detail.clone())?;
            Signal::InstanceStateChange { instance_id: instance(d.instance_id)?, state: d.state }
        }
        ("aws.health", "AWS Health Event") => {
            let d: HealthDetail = detail(ev.detail.clone())?;
            if d.service != "EC2" || d.event_type_category != "scheduledChange" {
                let why =
                    format!("AWS Health {} {} event is not an EC2 scheduled change", d.service, d.event_type_category);
                return Ok(parsed(None, Some(why)));
            }
            let mut ids: Vec<InstanceId> = d
                .affected_entities
                .into_iter()
                .map(|e| e.entity_value)
                .chain(ev.resources.iter().cloned())
                .filter(|s| s.starts_with("i-"))
                .map(InstanceId)
                .collect();
            ids.sort();
            ids.dedup();
            if ids.is_empty() {
                return Ok(parsed(None, Some("AWS Health event names no EC2 instance".into())));
            }
            let start_at = d.start_time.as_deref().and_then(parse_health_time);
            Signal::ScheduledChange { instance_ids: ids, start_at }
        }
        (source, kind) => return Ok(parsed(None, Some(format!("event {kind:?} from {source} is not one we act on")))),
    };
    Ok(parsed(Some(signal), None))
}

/// AWS Health writes times as RFC 2822 (`Sat, 05 Jun 2016 15:10:09 GMT`), sometimes RFC 3339.
fn parse_health_time(s: &str) -> Option<Timestamp> {
    s.parse::<Timestamp>().ok().or_else(|| jiff::fmt::rfc2822::parse(s).ok().map(|z| z.timestamp()))
}
