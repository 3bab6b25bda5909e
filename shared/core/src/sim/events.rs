//! EC2 events as EventBridge delivers them to the queue (raw, the shape AWS documents): Spot
//! interruption warnings and instance state changes, with deterministic event ids. Pure.

use serde_json::json;
use sha2::{Digest, Sha256};

use crate::{InstanceId, time::Timestamp};

/// The account and region the simulated cluster lives in.
const ACCOUNT: &str = "123456789012";
const REGION: &str = "us-east-1";

/// A raw EventBridge event: its id (the FIFO deduplication id the EventBridge target uses) and
/// its JSON body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The event id.
    pub id: String,
    /// The body as EventBridge sends it.
    pub body: String,
}

/// An id shaped like EventBridge's (a UUID), derived from what the event is about.
fn event_id(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0]);
    }
    let x = hex::encode(&h.finalize()[..16]);
    format!("{}-{}-{}-{}-{}", &x[..8], &x[8..12], &x[12..16], &x[16..20], &x[20..32])
}

fn event(detail_type: &str, id: &str, zone: &str, at: Timestamp, detail: serde_json::Value) -> Event {
    let event_id = event_id(&[detail_type, id, &at.to_string(), &detail.to_string()]);
    let body = json!({
        "version": "0",
        "id": event_id,
        "detail-type": detail_type,
        "source": "aws.ec2",
        "account": ACCOUNT,
        "time": at.to_string(),
        "region": REGION,
        "resources": [format!("arn:aws:ec2:{zone}:{ACCOUNT}:instance/{id}")],
        "detail": detail,
    })
    .to_string();
    Event { id: event_id, body }
}

/// `EC2 Spot Instance Interruption Warning` for `id`, sent at `at` (EC2 acts 2 minutes later).
pub fn spot_interruption(id: &InstanceId, zone: &str, at: Timestamp) -> Event {
    event(
        "EC2 Spot Instance Interruption Warning",
        id.as_str(),
        zone,
        at,
        json!({ "instance-id": id.as_str(), "instance-action": "terminate" }),
    )
}

/// `EC2 Instance State-change Notification` for `id` entering `state` (`pending`, `running`,
/// `shutting-down`, `terminated`).
pub fn state_change(id: &InstanceId, zone: &str, state: &str, at: Timestamp) -> Event {
    event(
        "EC2 Instance State-change Notification",
        id.as_str(),
        zone,
        at,
        json!({ "instance-id": id.as_str(), "state": state }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        ClusterId,
        message::{self, Kind},
        signal::{InstanceState, Signal},
    };

    #[test]
    fn events_parse_with_the_scalers_parser() {
        let at: Timestamp = "2026-06-01T14:00:00Z".parse().unwrap();
        let id = InstanceId("i-00000000000000007".into());
        let cluster = ClusterId::new("sim").unwrap();
        let warning = spot_interruption(&id, "us-east-1a", at);
        let parsed = message::parse(&warning.body, &cluster).unwrap();
        assert_eq!(parsed.kind, Kind::Ec2Event);
        assert_eq!(parsed.id, message::id::event(&warning.id));
        let action_at: Timestamp = "2026-06-01T14:02:00Z".parse().unwrap();
        assert_eq!(parsed.signal, Some(Signal::SpotInterruption { instance_id: id.clone(), action_at }));
        let gone = state_change(&id, "us-east-1a", "terminated", action_at);
        let parsed = message::parse(&gone.body, &cluster).unwrap();
        assert_eq!(
            parsed.signal,
            Some(Signal::InstanceStateChange { instance_id: id, state: InstanceState::Terminated })
        );
        assert_ne!(gone.id, warning.id);
        assert_eq!(warning, spot_interruption(&InstanceId("i-00000000000000007".into()), "us-east-1a", at));
    }
}
