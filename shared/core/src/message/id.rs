//! Deterministic ids: the same input always yields the same id, so a redelivered or duplicated
//! message is recognised, and an operation retried after a crash reuses its EC2 client tokens.

use sha2::{Digest, Sha256};

use crate::{ClusterId, time::Timestamp};

fn digest(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0u8]);
    }
    hex::encode(h.finalize())
}

/// The id of one alert notification: its fingerprint, status and start, plus the values it
/// carries and the minute it was received (see `alertmanager::convert`). Alertmanager's retries
/// of one notification repeat all of these (same id, deduplicated); a periodic re-fire is new
/// information (new id).
pub fn alert(
    fingerprint: &str,
    status: &str,
    starts_at: &str,
    values: &[(&str, &str)],
    received_at: Timestamp,
) -> String {
    let minute = received_at.as_second().div_euclid(60).to_string();
    let mut parts = vec![fingerprint, status, starts_at, minute.as_str()];
    for (k, v) in values {
        parts.push(k);
        parts.push(v);
    }
    format!("am-{}", &digest(&parts)[..40])
}

/// The id of an EventBridge event: its own id, unique per event.
pub fn event(event_id: &str) -> String {
    format!("eb-{event_id}")
}

/// The id of a reconciler tick: one per cluster per tick instant (to the second).
pub fn reconcile(cluster: &ClusterId, at: Timestamp) -> String {
    format!("rc-{cluster}-{}", at.as_second())
}

/// The id of the `step`-th follow-up of an operation.
pub fn advance(operation_id: &str, step: u32) -> String {
    format!("adv-{operation_id}-{step}")
}

/// The id of the operation a message starts: derived from the message id, so redelivery of the
/// message resumes the same operation instead of starting another.
pub fn operation(message_id: &str) -> String {
    format!("op-{}", &digest(&[message_id])[..16])
}

/// The EC2 `ClientToken` of one launch attempt of an operation (at most 64 characters): the same
/// attempt retried returns the same instances instead of launching new ones.
pub fn client_token(operation_id: &str, attempt: &str) -> String {
    format!("k3sa-{}", &digest(&[operation_id, attempt])[..40])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_deterministic_and_distinct() {
        let t: Timestamp = "2026-01-01T00:05:10Z".parse().unwrap();
        let a = alert("f1", "firing", "2026-01-01T00:00:00Z", &[("cpu_percent", "82.40")], t);
        assert_eq!(a, alert("f1", "firing", "2026-01-01T00:00:00Z", &[("cpu_percent", "82.40")], t));
        assert_ne!(a, alert("f1", "resolved", "2026-01-01T00:00:00Z", &[("cpu_percent", "82.40")], t));
        assert_ne!(a, alert("f1", "firing", "2026-01-01T00:00:00Z", &[("cpu_percent", "85.00")], t));
        // A retry within the minute is the same notification; a re-fire a minute later is new.
        let retry: Timestamp = "2026-01-01T00:05:50Z".parse().unwrap();
        let refire: Timestamp = "2026-01-01T00:06:10Z".parse().unwrap();
        assert_eq!(a, alert("f1", "firing", "2026-01-01T00:00:00Z", &[("cpu_percent", "82.40")], retry));
        assert_ne!(a, alert("f1", "firing", "2026-01-01T00:00:00Z", &[("cpu_percent", "82.40")], refire));
        // Separators make ("ab","c") and ("a","bc") different.
        assert_ne!(alert("ab", "c", "", &[], t), alert("a", "bc", "", &[], t));
        assert_eq!(operation("m-1"), operation("m-1"));
        assert_ne!(operation("m-1"), operation("m-2"));
        let token = client_token(&operation("m-1"), "us-east-1a/t3.small/spot");
        assert!(token.len() <= 64);
        assert!(a.len() <= 128);
    }
}
