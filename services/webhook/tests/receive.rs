//! `POST /alertmanager` through the router against an in-memory queue: good payloads enqueue
//! exactly one message per relevant alert, with exact bodies, groups and dedup ids; the captured
//! Alertmanager payload is accepted; logs carry the outcome and never a token.

mod support;

use std::sync::Arc;

use autoscaler_core::{memory::MemoryQueue, message::id, ports::OutgoingMessage};
use http::StatusCode;
use serde_json::{Value, json};
use support::{
    TOKEN, alert, high_cpu, payload,
    router::{NOW, Req, call, good, many, state, with_alert},
};

#[tokio::test]
async fn accepted_inputs_enqueue_exactly_the_relevant_alerts() {
    let unknown = alert("KubeJobFailed", "ffff", json!({"cluster": "prod"}), json!({}));
    let mut resolved_watchdog = alert("Watchdog", "eeee", json!({"cluster": "prod"}), json!({}));
    resolved_watchdog["status"] = json!("resolved");
    let cases: Vec<(&str, Req, Option<&str>, Value)> = vec![
        ("no alerts", Req::json(&payload(vec![])), None, json!({"enqueued": 0, "ignored": 0})),
        ("unknown alertname", Req::json(&payload(vec![unknown.clone()])), None, json!({"enqueued": 0, "ignored": 1})),
        ("resolved Watchdog", Req::json(&payload(vec![resolved_watchdog])), None, json!({"enqueued": 0, "ignored": 1})),
        (
            "unknown alert without cluster label",
            Req::json(&payload(vec![alert("DiskFull", "dddd", json!({}), json!({}))])),
            None,
            json!({"enqueued": 0, "ignored": 1}),
        ),
        (
            "mixed",
            Req::json(&payload(vec![unknown, high_cpu("prod", "a1", "82.40")])),
            None,
            json!({"enqueued": 1, "ignored": 1}),
        ),
        ("1,000 alerts", Req::json(&many(1000)), None, json!({"enqueued": 1000, "ignored": 0})),
        (
            "charset parameter",
            Req { content_type: Some("Application/JSON; charset=utf-8"), ..Req::json(&good()) },
            None,
            json!({"enqueued": 1, "ignored": 0}),
        ),
        (
            "default cluster",
            Req::json(&with_alert(|a| {
                a["labels"].as_object_mut().unwrap().remove("cluster");
            })),
            Some("prod"),
            json!({"enqueued": 1, "ignored": 0}),
        ),
    ];
    for (name, req, default_cluster, want) in cases {
        let queue = MemoryQueue::default();
        let (status, _, body) = call(state(&queue, default_cluster), req).await;
        assert_eq!(status, StatusCode::OK, "{name}: {body}");
        assert_eq!(body, want, "{name}");
        assert_eq!(queue.sent().len() as u64, want["enqueued"].as_u64().unwrap(), "{name}");
        assert!(queue.sent().iter().all(|m| m.group_id == "prod"), "{name}");
    }
}

#[tokio::test]
async fn a_good_payload_enqueues_exact_bodies_groups_and_dedup_ids() {
    let pending = alert(
        "PendingPods",
        "p9",
        json!({"cluster": "staging", "action": "scale_up"}),
        json!({"pending_pods": "3", "summary": "3 pod(s) unschedulable"}),
    );
    let queue = MemoryQueue::default();
    let (status, _, body) =
        call(state(&queue, None), Req::json(&payload(vec![high_cpu("prod", "a1b2c3", "82.40"), pending]))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({"enqueued": 2, "ignored": 0}));

    let starts = support::STARTS_AT;
    let received = support::router::NOW.parse().unwrap();
    let high = id::alert("a1b2c3", "firing", starts, &[("cpu_percent", "82.40"), ("demand_cores", "3.296")], received);
    let pods = id::alert("p9", "firing", starts, &[("pending_pods", "3")], received);
    assert_eq!(
        queue.sent(),
        vec![
            OutgoingMessage {
                group_id: "prod".into(),
                dedup_id: high.clone(),
                body: format!(
                    r#"{{"v":1,"id":"{high}","kind":"alert","cluster":"prod","received_at":"{NOW}","signal":{{"signal":"high_cpu","status":"firing","starts_at":"{starts}","values":{{"cpu_percent":82.4,"demand_cores":3.296}}}}}}"#
                ),
            },
            OutgoingMessage {
                group_id: "staging".into(),
                dedup_id: pods.clone(),
                body: format!(
                    r#"{{"v":1,"id":"{pods}","kind":"alert","cluster":"staging","received_at":"{NOW}","signal":{{"signal":"pending_pods","status":"firing","starts_at":"{starts}","pending_pods":3}}}}"#
                ),
            },
        ]
    );
}

/// Collects what the JSON log layer writes.
#[derive(Clone, Default)]
struct Captured(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn logs_carry_group_counts_outcome_and_duration_but_never_a_token() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt().json().flatten_event(true).with_writer(move || writer.clone()).finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let queue = MemoryQueue::default();
    let guessed = Req { authorization: Some("Bearer guessed-token-42".into()), ..Req::json(&good()) };
    assert_eq!(call(state(&queue, None), guessed).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(call(state(&queue, None), Req::json(&good())).await.0, StatusCode::OK);

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(!logs.contains(TOKEN) && !logs.contains("guessed-token-42"), "a token was logged:\n{logs}");
    let lines: Vec<Value> = logs.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let refused = lines.iter().find(|l| l["outcome"] == "invalid_token").expect("a refusal line");
    assert_eq!((refused["level"].as_str(), refused["status"].as_u64()), (Some("WARN"), Some(401)));
    let accepted = lines.iter().find(|l| l["outcome"] == "enqueued").expect("an acceptance line");
    assert_eq!(accepted["group_key"], good()["groupKey"]);
    assert_eq!((accepted["alerts"].as_u64(), accepted["enqueued"].as_u64()), (Some(1), Some(1)));
    assert!(accepted["duration_ms"].as_f64().is_some(), "{accepted}");
}

#[tokio::test]
async fn the_captured_alertmanager_payload_becomes_one_high_cpu_message() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/alertmanager/highcpu-firing.json");
    let fixture = std::fs::read(path).unwrap();
    let captured: Value = serde_json::from_slice(&fixture).unwrap();
    let queue = MemoryQueue::default();

    let (status, _, body) = call(state(&queue, None), Req::bytes(fixture)).await;

    assert_eq!((status, body), (StatusCode::OK, json!({"enqueued": 1, "ignored": 0})));
    let sent = queue.sent();
    let alert = &captured["alerts"][0];
    let annotation = |k: &str| alert["annotations"][k].as_str().unwrap();
    let want_id = id::alert(
        alert["fingerprint"].as_str().unwrap(),
        "firing",
        alert["startsAt"].as_str().unwrap(),
        &[("cpu_percent", annotation("cpu_percent")), ("demand_cores", annotation("demand_cores"))],
        support::router::NOW.parse().unwrap(),
    );
    assert_eq!((sent[0].group_id.as_str(), &sent[0].dedup_id), ("e2e-alert-path", &want_id));
    let envelope: Value = serde_json::from_str(&sent[0].body).unwrap();
    assert_eq!(envelope["signal"]["signal"], "high_cpu");
    assert_eq!(envelope["signal"]["values"], json!({"cpu_percent": 90.0, "demand_cores": 3.6}));
}
