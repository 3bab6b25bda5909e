//! `POST /alertmanager` through the router (`oneshot`) against an in-memory queue: every bad input
//! gets its status and a message naming the problem and enqueues nothing; good payloads enqueue
//! exactly one message per relevant alert.

mod support;

use std::sync::Arc;

use autoscaler_core::{
    ClusterId,
    memory::{ManualClock, MemoryQueue},
    message::id,
    ports::OutgoingMessage,
};
use axum::body::Body;
use http::{Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use support::{TOKEN, alert, high_cpu, payload};
use tower::ServiceExt;
use webhook::{AppState, Token, app};

const NOW: &str = "2026-03-02T12:00:05Z";

fn state(queue: &MemoryQueue, default_cluster: Option<&str>) -> AppState<MemoryQueue> {
    AppState::new(
        Arc::new(queue.clone()),
        Token::new(TOKEN).unwrap(),
        default_cluster.map(|c| ClusterId::new(c).unwrap()),
    )
    .with_clock(Arc::new(ManualClock::at(NOW.parse().unwrap())))
}

/// A request as Alertmanager would send it, changed by the case.
struct Req {
    method: Method,
    path: &'static str,
    authorization: Option<String>,
    content_type: Option<&'static str>,
    body: Vec<u8>,
}

impl Req {
    fn json(body: &Value) -> Self {
        Self::bytes(serde_json::to_vec(body).unwrap())
    }

    fn bytes(body: Vec<u8>) -> Self {
        Req {
            method: Method::POST,
            path: "/alertmanager",
            authorization: Some(format!("Bearer {TOKEN}")),
            content_type: Some("application/json"),
            body,
        }
    }
}

async fn call(state: AppState<MemoryQueue>, req: Req) -> (StatusCode, http::HeaderMap, Value) {
    let mut builder = Request::builder().method(req.method).uri(req.path);
    if let Some(a) = req.authorization {
        builder = builder.header(header::AUTHORIZATION, a);
    }
    if let Some(c) = req.content_type {
        builder = builder.header(header::CONTENT_TYPE, c);
    }
    let response = app(state).oneshot(builder.body(Body::from(req.body)).unwrap()).await.unwrap();
    let (parts, body) = response.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes();
    let value =
        serde_json::from_slice(&bytes).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()));
    (parts.status, parts.headers, value)
}

fn good() -> Value {
    payload(vec![high_cpu("prod", "a1b2c3", "82.40")])
}

fn with_alert(change: impl FnOnce(&mut Value)) -> Value {
    let mut p = good();
    change(&mut p["alerts"][0]);
    p
}

fn many(n: usize) -> Value {
    payload((0..n).map(|i| high_cpu("prod", &format!("f{i:04}"), "82.40")).collect())
}

#[tokio::test]
async fn every_bad_input_is_refused_naming_the_problem_and_enqueues_nothing() {
    let good_bytes = serde_json::to_vec(&good()).unwrap();
    let mut non_utf8 = br#"{"version":"4","groupKey":"g","status":"firing","receiver":""#.to_vec();
    non_utf8.extend_from_slice(&[0xff, 0xfe]);
    non_utf8.extend_from_slice(br#"","alerts":[]}"#);
    let two_mib = {
        let mut p = good();
        p["commonAnnotations"] = json!({"padding": "x".repeat(2 * 1024 * 1024)});
        p
    };
    let unauthenticated = |authorization: Option<&str>, body: &Value| Req {
        authorization: authorization.map(str::to_owned),
        ..Req::json(body)
    };
    let cases: Vec<(&str, Req, StatusCode, &str)> = vec![
        (
            "empty body",
            Req::bytes(vec![]),
            StatusCode::BAD_REQUEST,
            "body is not valid JSON: EOF while parsing a value at line 1 column 0",
        ),
        (
            "not JSON",
            Req::bytes(b"<html>alert</html>".to_vec()),
            StatusCode::BAD_REQUEST,
            "body is not valid JSON: expected value at line 1 column 1",
        ),
        (
            "truncated JSON",
            Req::bytes(good_bytes[..good_bytes.len() / 2].to_vec()),
            StatusCode::BAD_REQUEST,
            "body is not valid JSON: EOF while parsing",
        ),
        (
            "trailing garbage",
            Req::bytes([good_bytes.clone(), b"}".to_vec()].concat()),
            StatusCode::BAD_REQUEST,
            "body is not valid JSON: trailing characters",
        ),
        (
            "non-UTF-8 bytes",
            Req::bytes(non_utf8),
            StatusCode::BAD_REQUEST,
            "body is not valid JSON: invalid unicode code point",
        ),
        ("2 MiB body", Req::json(&two_mib), StatusCode::PAYLOAD_TOO_LARGE, "body is larger than 1048576 bytes"),
        (
            "wrong token",
            unauthenticated(Some("Bearer not-the-token"), &good()),
            StatusCode::UNAUTHORIZED,
            "invalid bearer token",
        ),
        ("no token", unauthenticated(None, &good()), StatusCode::UNAUTHORIZED, "missing Authorization: Bearer header"),
        (
            "basic auth",
            unauthenticated(Some("Basic dXNlcjpwYXNz"), &good()),
            StatusCode::UNAUTHORIZED,
            "missing Authorization: Bearer header",
        ),
        (
            "2 MiB body without token",
            unauthenticated(None, &two_mib),
            StatusCode::UNAUTHORIZED,
            "missing Authorization: Bearer header",
        ),
        (
            "wrong method",
            Req { method: Method::GET, body: vec![], ..Req::json(&good()) },
            StatusCode::METHOD_NOT_ALLOWED,
            "method not allowed (allowed: POST)",
        ),
        (
            "wrong content type",
            Req { content_type: Some("text/plain"), ..Req::json(&good()) },
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            r#"content-type must be application/json (got "text/plain")"#,
        ),
        (
            "no content type",
            Req { content_type: None, ..Req::json(&good()) },
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "content-type must be application/json (got no content-type)",
        ),
        ("unknown path", Req { path: "/alerts", ..Req::json(&good()) }, StatusCode::NOT_FOUND, "not found"),
        (
            "version 3",
            Req::json(&{
                let mut p = good();
                p["version"] = json!("3");
                p
            }),
            StatusCode::UNPROCESSABLE_ENTITY,
            r#"version: "3" is not supported (expected "4")"#,
        ),
        ("empty object", Req::json(&json!({})), StatusCode::UNPROCESSABLE_ENTITY, ".: missing field `version`"),
        (
            "alerts not a list",
            Req::json(&{
                let mut p = good();
                p["alerts"] = json!({});
                p
            }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "alerts: invalid type: map, expected a sequence",
        ),
        (
            "no fingerprint",
            Req::json(&with_alert(|a| {
                a.as_object_mut().unwrap().remove("fingerprint");
            })),
            StatusCode::UNPROCESSABLE_ENTITY,
            "alerts[0]: missing field `fingerprint`",
        ),
        (
            "unknown status",
            Req::json(&with_alert(|a| a["status"] = json!("pending"))),
            StatusCode::UNPROCESSABLE_ENTITY,
            r#"alerts[0].status: "pending" is neither "firing" nor "resolved""#,
        ),
        (
            "bad startsAt",
            Req::json(&with_alert(|a| a["startsAt"] = json!("yesterday"))),
            StatusCode::UNPROCESSABLE_ENTITY,
            r#"alerts[0].startsAt: "yesterday" is not an RFC 3339 time"#,
        ),
        (
            "bad endsAt",
            Req::json(&with_alert(|a| a["endsAt"] = json!("2026-13-01T00:00:00Z"))),
            StatusCode::UNPROCESSABLE_ENTITY,
            r#"alerts[0].endsAt: "2026-13-01T00:00:00Z" is not an RFC 3339 time"#,
        ),
        (
            "missing cluster, no default",
            Req::json(&with_alert(|a| {
                a["labels"].as_object_mut().unwrap().remove("cluster");
            })),
            StatusCode::UNPROCESSABLE_ENTITY,
            "alerts[0].labels.cluster: missing, and no default cluster is configured",
        ),
        (
            "malformed cluster",
            Req::json(&with_alert(|a| a["labels"]["cluster"] = json!("prod cluster"))),
            StatusCode::UNPROCESSABLE_ENTITY,
            "alerts[0].labels.cluster: ",
        ),
        (
            "cpu_percent not a number",
            Req::json(&with_alert(|a| a["annotations"]["cpu_percent"] = json!("high"))),
            StatusCode::UNPROCESSABLE_ENTITY,
            r#"alerts[0].annotations.cpu_percent: "high" is not a number"#,
        ),
        (
            "cpu_percent NaN",
            Req::json(&with_alert(|a| a["annotations"]["cpu_percent"] = json!("NaN"))),
            StatusCode::UNPROCESSABLE_ENTITY,
            r#"alerts[0].annotations.cpu_percent: "NaN" is not a number"#,
        ),
        (
            "cpu_percent above 100",
            Req::json(&with_alert(|a| a["annotations"]["cpu_percent"] = json!("150"))),
            StatusCode::UNPROCESSABLE_ENTITY,
            "alerts[0].annotations.cpu_percent: 150 is outside 0-100",
        ),
        (
            "firing HighCPU without cpu_percent",
            Req::json(&with_alert(|a| a["annotations"] = json!({}))),
            StatusCode::UNPROCESSABLE_ENTITY,
            "alerts[0].annotations.cpu_percent: missing",
        ),
        (
            "annotation not a string",
            Req::json(&with_alert(|a| a["annotations"]["cpu_percent"] = json!(82.4))),
            StatusCode::UNPROCESSABLE_ENTITY,
            "alerts[0].annotations.cpu_percent: invalid type: floating point `82.4`, expected a string",
        ),
        (
            "second alert bad",
            Req::json(&{
                let mut p = many(3);
                p["alerts"][2]["startsAt"] = json!("");
                p
            }),
            StatusCode::UNPROCESSABLE_ENTITY,
            r#"alerts[2].startsAt: "" is not an RFC 3339 time"#,
        ),
    ];
    assert!(cases.len() >= 15);
    for (name, req, status, want) in cases {
        let queue = MemoryQueue::default();
        let (got, headers, body) = call(state(&queue, None), req).await;
        assert_eq!(got, status, "{name}: {body}");
        let error = body["error"].as_str().unwrap_or_else(|| panic!("{name}: no error text in {body}"));
        assert!(error.starts_with(want), "{name}: got {error:?}, want {want:?}");
        assert!(queue.sent().is_empty(), "{name}: enqueued {:?}", queue.sent());
        assert_eq!(headers[header::CONTENT_TYPE], "application/json", "{name}");
        if status == StatusCode::UNAUTHORIZED {
            assert_eq!(headers[header::WWW_AUTHENTICATE], "Bearer", "{name}");
        }
        if status == StatusCode::METHOD_NOT_ALLOWED {
            assert_eq!(headers[header::ALLOW], "POST", "{name}");
        }
    }
}

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
    let high = id::alert("a1b2c3", "firing", starts, &[("cpu_percent", "82.40"), ("demand_cores", "3.296")]);
    let pods = id::alert("p9", "firing", starts, &[("pending_pods", "3")]);
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

#[tokio::test]
async fn a_refusing_queue_answers_503_so_alertmanager_retries() {
    let queue = MemoryQueue::default();
    queue.set_failing(true);
    let (status, _, body) = call(state(&queue, None), Req::json(&good())).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["error"], "enqueuing 1 messages: sending 1 of 1 messages to the queue failed (ServiceUnavailable)");
    assert!(queue.sent().is_empty());
}

#[tokio::test]
async fn healthz_answers_without_auth_and_touches_nothing() {
    let queue = MemoryQueue::default();
    let req = Req { method: Method::GET, path: "/healthz", authorization: None, content_type: None, body: vec![] };
    let (status, _, body) = call(state(&queue, None), req).await;
    assert_eq!((status, body), (StatusCode::OK, json!("ok")));
    let req = Req { method: Method::POST, path: "/healthz", authorization: None, content_type: None, body: vec![] };
    let (status, headers, _) = call(state(&queue, None), req).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(headers[header::ALLOW], "GET, HEAD");
    assert!(queue.sent().is_empty());
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
    );
    assert_eq!((sent[0].group_id.as_str(), &sent[0].dedup_id), ("e2e-alert-path", &want_id));
    let envelope: Value = serde_json::from_str(&sent[0].body).unwrap();
    assert_eq!(envelope["signal"]["signal"], "high_cpu");
    assert_eq!(envelope["signal"]["values"], json!({"cpu_percent": 90.0, "demand_cores": 3.6}));
}
