//! Every way `POST /alertmanager` refuses a request, through the router against an in-memory
//! queue: the status, a JSON error naming the problem, and nothing enqueued.

mod support;

use autoscaler_core::memory::MemoryQueue;
use http::{Method, StatusCode, header};
use serde_json::{Value, json};
use support::router::{Req, call, good, many, state, with_alert};

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
