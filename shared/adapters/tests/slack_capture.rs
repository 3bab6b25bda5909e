//! `SlackNotifier` against a local HTTP capture server standing in for Slack (axum on
//! 127.0.0.1:0, started and stopped by each test): Block Kit payloads of every kind, retries,
//! time bounds, duplicate suppression, and the webhook secret kept out of bodies and logs.

use std::{
    collections::VecDeque,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use autoscaler_adapters::slack::{LogNotifier, LogsLocation, SlackNotifier, SlackSettings};
use autoscaler_core::{
    ClusterId,
    memory::RecordingMetrics,
    metric::names,
    notification::{Notification, NotificationKind, Severity},
    ports::Notifier,
};
use axum::{
    Router,
    body::Bytes,
    extract::State,
    http::{StatusCode, Uri, header::RETRY_AFTER},
    response::{IntoResponse, Response},
    routing::post,
};
use serde_json::Value;

/// The secret part of the webhook URL; it must never leave the notifier.
const SECRET: &str = "XsEcReTwEbHoOkToKeN42";

#[derive(Debug, Clone)]
enum Reply {
    Status { code: u16, retry_after: Option<u64>, body: &'static str },
    Hang,
}

fn reply(code: u16) -> Reply {
    Reply::Status { code, retry_after: None, body: if code == 200 { "ok" } else { "error" } }
}

#[derive(Debug, Clone)]
struct Captured {
    at: Instant,
    path: String,
    body: String,
}

#[derive(Clone, Default)]
struct Shared {
    seen: Arc<Mutex<Vec<Captured>>>,
    script: Arc<Mutex<VecDeque<Reply>>>,
}

/// A capture server answering with `script`, then 200 `ok`.
struct Capture {
    addr: SocketAddr,
    shared: Shared,
    task: tokio::task::JoinHandle<()>,
}

impl Capture {
    async fn start(script: Vec<Reply>) -> Self {
        let shared = Shared { script: Arc::new(Mutex::new(script.into())), ..Shared::default() };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1");
        let addr = listener.local_addr().expect("local addr");
        let app = Router::new().route("/{*path}", post(hook)).with_state(shared.clone());
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.ok();
        });
        Self { addr, shared, task }
    }

    fn url(&self) -> String {
        format!("http://{}/services/T0001/B0002/{SECRET}", self.addr)
    }

    fn seen(&self) -> Vec<Captured> {
        self.shared.seen.lock().expect("lock").clone()
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn hook(State(shared): State<Shared>, uri: Uri, body: Bytes) -> Response {
    let captured =
        Captured { at: Instant::now(), path: uri.path().to_owned(), body: String::from_utf8_lossy(&body).into() };
    shared.seen.lock().expect("lock").push(captured);
    let next = shared.script.lock().expect("lock").pop_front().unwrap_or_else(|| reply(200));
    match next {
        Reply::Hang => {
            tokio::time::sleep(Duration::from_secs(30)).await;
            "too late".into_response()
        }
        Reply::Status { code, retry_after, body } => {
            let mut response = (StatusCode::from_u16(code).expect("valid status"), body).into_response();
            if let Some(secs) = retry_after {
                response.headers_mut().insert(RETRY_AFTER, secs.into());
            }
            response
        }
    }
}

fn settings() -> SlackSettings {
    SlackSettings {
        logs: Some(LogsLocation {
            region: "eu-west-1".into(),
            log_groups: vec!["/aws/lambda/prod-scaler".into(), "/aws/lambda/prod-reconciler".into()],
        }),
        ..SlackSettings::default()
    }
}

fn notification(kind: NotificationKind) -> Notification {
    Notification {
        cluster: ClusterId::new("prod").expect("valid"),
        kind,
        severity: kind.severity(),
        summary: "Scaled up 2 → 4 workers".into(),
        reasons: vec!["CPU 82.50% > 70% for 1m".into(), "3 pods Pending > 3m".into()],
        nodes: vec!["i-0aaa".into(), "i-0bbb".into()],
        operation_id: Some("op-20260101-abc".into()),
        duration: Some(Duration::from_secs(125)),
        config_version: "cfg-1a2b3c".into(),
        at: "2026-01-01T10:00:00Z".parse().expect("valid"),
    }
}

/// Every kind; the match fails to compile when a kind is added, so the list stays complete.
fn all_kinds() -> Vec<NotificationKind> {
    use NotificationKind::*;
    let kinds = vec![
        ScaleUpStarted,
        ScaleUpDone,
        DrainStarted,
        ScaleDownDone,
        DrainTimedOut,
        SpotInterruption,
        Rebalance,
        LaunchFailed,
        NodeNeverReady,
        Aborted,
        InstanceLost,
        Drift,
        PipelineSilent,
        DryRun,
        ScaleDownHeld,
    ];
    for k in &kinds {
        match k {
            ScaleUpStarted | ScaleUpDone | DrainStarted | ScaleDownDone | DrainTimedOut | SpotInterruption
            | Rebalance | LaunchFailed | NodeNeverReady | Aborted | InstanceLost | Drift | PipelineSilent | DryRun
            | ScaleDownHeld => {}
        }
    }
    kinds
}

/// Checks a payload against Block Kit's documented structure and limits.
fn assert_block_kit(payload: &Value) {
    let chars = |v: &Value| v.as_str().map(|s| s.chars().count()).unwrap_or(0);
    let text_object = |t: &Value, max: usize, what: &str| {
        assert!(matches!(t["type"].as_str(), Some("mrkdwn" | "plain_text")), "{what}: text type in {t}");
        let n = chars(&t["text"]);
        assert!((1..=max).contains(&n), "{what}: {n} characters (max {max})");
    };
    assert!(chars(&payload["text"]) > 0, "a text fallback is required");
    let blocks = payload["blocks"].as_array().expect("blocks array");
    assert!((1..=50).contains(&blocks.len()), "{} blocks", blocks.len());
    for block in blocks {
        match block["type"].as_str() {
            Some("header") => {
                assert_eq!(block["text"]["type"], "plain_text", "a header is plain_text");
                text_object(&block["text"], 150, "header");
            }
            Some("section") => {
                assert!(block.get("text").is_some() || block.get("fields").is_some(), "section needs text or fields");
                if let Some(t) = block.get("text") {
                    text_object(t, 3000, "section text");
                }
                if let Some(fields) = block.get("fields") {
                    let fields = fields.as_array().expect("fields array");
                    assert!((1..=10).contains(&fields.len()), "{} fields", fields.len());
                    fields.iter().for_each(|f| text_object(f, 2000, "section field"));
                }
            }
            Some("context") => {
                let elements = block["elements"].as_array().expect("context elements");
                assert!((1..=10).contains(&elements.len()), "{} context elements", elements.len());
                elements.iter().for_each(|e| text_object(e, 3000, "context element"));
            }
            Some("divider") => {}
            other => panic!("unexpected block type {other:?}"),
        }
    }
}

fn parse(c: &Captured) -> Value {
    serde_json::from_str(&c.body).expect("the webhook body is JSON")
}

#[tokio::test]
async fn every_kind_is_one_valid_block_kit_message_with_the_context_to_troubleshoot() {
    let slack = Capture::start(vec![]).await;
    let metrics = RecordingMetrics::default();
    let notifier = SlackNotifier::new(&slack.url(), settings(), metrics.clone()).expect("valid");
    for kind in all_kinds() {
        notifier.notify(&notification(kind)).await;
    }
    let seen = slack.seen();
    assert_eq!(seen.len(), all_kinds().len(), "one message per event");
    for captured in &seen {
        assert_eq!(captured.path, format!("/services/T0001/B0002/{SECRET}"));
        let payload = parse(captured);
        assert_block_kit(&payload);
        let all = payload.to_string();
        for needle in [
            "prod",
            "Scaled up 2 → 4 workers",
            "CPU 82.50% &gt; 70% for 1m",
            "3 pods Pending &gt; 3m",
            "`i-0aaa`, `i-0bbb`",
            "Operation `op-20260101-abc`",
            "2m 5s",
            "cfg-1a2b3c",
            "https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1#logsV2:logs-insights",
            "op-20260101-abc*22",
        ] {
            assert!(all.contains(needle), "{needle:?} missing from {all}");
        }
    }
    assert_eq!(metrics.total(names::NOTIFICATIONS_FAILED, &[]), 0.0);
}

#[tokio::test]
async fn oversized_content_is_truncated_within_slack_limits() {
    let slack = Capture::start(vec![]).await;
    let notifier = SlackNotifier::new(&slack.url(), settings(), RecordingMetrics::default()).expect("valid");
    let mut n = notification(NotificationKind::Drift);
    n.summary = "s".repeat(400);
    n.reasons = (0..100).map(|i| format!("reason {i}: {}", "x".repeat(100))).collect();
    n.nodes = (0..500).map(|i| format!("i-{i:017x}")).collect();
    n.config_version = "v".repeat(3000);
    notifier.notify(&n).await;
    let payload = parse(&slack.seen()[0]);
    assert_block_kit(&payload);
    assert!(payload["blocks"][1]["text"]["text"].as_str().expect("section").ends_with('…'));
    assert!(payload.to_string().contains("and 480 more"));
}

#[tokio::test]
async fn a_429_is_retried_no_earlier_than_its_retry_after() {
    let slack = Capture::start(vec![Reply::Status { code: 429, retry_after: Some(1), body: "rate_limited" }]).await;
    let metrics = RecordingMetrics::default();
    let notifier = SlackNotifier::new(&slack.url(), settings(), metrics.clone()).expect("valid");
    notifier.notify(&notification(NotificationKind::ScaleUpStarted)).await;
    let seen = slack.seen();
    assert_eq!(seen.len(), 2, "one retry");
    let gap = seen[1].at.duration_since(seen[0].at);
    assert!(gap >= Duration::from_secs(1), "retried after {gap:?}, before Retry-After");
    assert_eq!(seen[0].body, seen[1].body, "the same message is retried");
    assert_eq!(metrics.total(names::NOTIFICATIONS_FAILED, &[]), 0.0);
}

#[tokio::test]
async fn a_retry_after_beyond_the_budget_gives_up_at_once_and_is_counted() {
    let slack = Capture::start(vec![Reply::Status { code: 429, retry_after: Some(30), body: "rate_limited" }]).await;
    let metrics = RecordingMetrics::default();
    let notifier = SlackNotifier::new(&slack.url(), settings(), metrics.clone()).expect("valid");
    let started = Instant::now();
    notifier.notify(&notification(NotificationKind::ScaleUpStarted)).await;
    assert!(started.elapsed() < Duration::from_secs(2), "waited {:?}", started.elapsed());
    assert_eq!(slack.seen().len(), 1);
    assert_eq!(metrics.total(names::NOTIFICATIONS_FAILED, &[("cluster", "prod"), ("reason", "rate_limited")]), 1.0);
}

#[tokio::test]
async fn a_server_error_is_retried_and_then_delivered() {
    let slack = Capture::start(vec![reply(500)]).await;
    let metrics = RecordingMetrics::default();
    let notifier = SlackNotifier::new(&slack.url(), settings(), metrics.clone()).expect("valid");
    notifier.notify(&notification(NotificationKind::DrainStarted)).await;
    assert_eq!(slack.seen().len(), 2);
    assert_eq!(metrics.total(names::NOTIFICATIONS_FAILED, &[]), 0.0);
}

#[tokio::test]
async fn a_rejected_message_is_not_retried_is_counted_and_is_not_suppressed_later() {
    let slack = Capture::start(vec![Reply::Status { code: 400, retry_after: None, body: "invalid_payload" }]).await;
    let metrics = RecordingMetrics::default();
    let notifier = SlackNotifier::new(&slack.url(), settings(), metrics.clone()).expect("valid");
    let n = notification(NotificationKind::LaunchFailed);
    notifier.notify(&n).await;
    assert_eq!(slack.seen().len(), 1, "a 400 is final");
    assert_eq!(metrics.total(names::NOTIFICATIONS_FAILED, &[("reason", "rejected")]), 1.0);
    notifier.notify(&n).await;
    assert_eq!(slack.seen().len(), 2, "an undelivered message is not a duplicate");
}

#[tokio::test]
async fn a_hung_slack_does_not_delay_the_caller_beyond_the_budget() {
    let slack = Capture::start(vec![Reply::Hang; 10]).await;
    let metrics = RecordingMetrics::default();
    let budget = Duration::from_millis(1000);
    let tight = SlackSettings {
        request_timeout: Duration::from_millis(300),
        budget,
        backoff: Duration::from_millis(50),
        ..settings()
    };
    let notifier = SlackNotifier::new(&slack.url(), tight, metrics.clone()).expect("valid");
    let started = Instant::now();
    notifier.notify(&notification(NotificationKind::ScaleDownDone)).await;
    let took = started.elapsed();
    assert!(took <= budget + Duration::from_millis(500), "the caller waited {took:?}");
    assert!(slack.seen().len() >= 2, "attempts are retried while the budget lasts");
    assert_eq!(metrics.total(names::NOTIFICATIONS_FAILED, &[("reason", "timeout")]), 1.0);
}

#[tokio::test]
async fn the_same_event_is_sent_once_within_the_window() {
    let slack = Capture::start(vec![]).await;
    let notifier = SlackNotifier::new(&slack.url(), settings(), RecordingMetrics::default()).expect("valid");
    let n = notification(NotificationKind::InstanceLost);
    notifier.notify(&n).await;
    notifier.notify(&n).await;
    assert_eq!(slack.seen().len(), 1, "the duplicate is suppressed");
    let mut update = n.clone();
    update.summary = "Instance i-0aaa terminated outside the autoscaler".into();
    notifier.notify(&update).await;
    let mut next_step = n.clone();
    next_step.kind = NotificationKind::Drift;
    notifier.notify(&next_step).await;
    assert_eq!(slack.seen().len(), 3, "another summary or kind is another message");
}

/// A tracing writer into a shared buffer.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Logs {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("lock")).into_owned()
    }
}

#[tokio::test]
async fn the_webhook_secret_never_appears_in_bodies_errors_or_logs() {
    let logs = Logs::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let slack =
        Capture::start(vec![reply(500), Reply::Status { code: 403, retry_after: None, body: "invalid_token" }]).await;
    let metrics = RecordingMetrics::default();
    let notifier = SlackNotifier::new(&slack.url(), settings(), metrics.clone()).expect("valid");
    assert!(!format!("{notifier:?}").contains(SECRET));
    notifier.notify(&notification(NotificationKind::ScaleUpStarted)).await;
    notifier.notify(&notification(NotificationKind::ScaleUpDone)).await;

    // Nothing listens on this port: the connection is refused.
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let refused = format!("http://127.0.0.1:{port}/services/T0001/B0002/{SECRET}");
    let quick = SlackSettings { budget: Duration::from_millis(600), ..settings() };
    let unreachable = SlackNotifier::new(&refused, quick, metrics.clone()).expect("valid");
    unreachable.notify(&notification(NotificationKind::Aborted)).await;

    for bad in [format!("not a url {SECRET}"), format!("http://hooks.slack.com/services/{SECRET}")] {
        let err = SlackNotifier::new(&bad, settings(), metrics.clone()).expect_err("refused");
        assert!(!format!("{err} {err:?}").contains(SECRET));
    }

    let text = logs.text();
    assert!(text.contains("Slack notification not delivered."), "failures are logged: {text}");
    assert!(text.contains("invalid_token") && text.contains("reason=\"transport\""), "{text}");
    assert!(!text.contains(SECRET), "the webhook secret leaked into the logs: {text}");
    assert!(slack.seen().iter().all(|c| !c.body.contains(SECRET)));
    assert_eq!(metrics.total(names::NOTIFICATIONS_FAILED, &[]), 2.0);
}

#[tokio::test]
async fn without_slack_each_notification_is_one_structured_log_line() {
    let logs = Logs::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt().json().with_writer(move || writer.clone()).finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    LogNotifier.notify(&notification(NotificationKind::ScaleUpStarted)).await;
    let mut failed = notification(NotificationKind::NodeNeverReady);
    failed.severity = Severity::Error;
    LogNotifier.notify(&failed).await;

    let lines: Vec<Value> =
        logs.text().lines().map(|l| serde_json::from_str(l).expect("one JSON object per line")).collect();
    assert_eq!(lines.len(), 2);
    let fields = &lines[0]["fields"];
    assert_eq!(lines[0]["level"], "INFO");
    assert_eq!(fields["notification"], "scale_up_started");
    assert_eq!(fields["cluster"], "prod");
    assert_eq!(fields["summary"], "Scaled up 2 → 4 workers");
    assert_eq!(fields["reasons"], "CPU 82.50% > 70% for 1m; 3 pods Pending > 3m");
    assert_eq!(fields["nodes"], "i-0aaa,i-0bbb");
    assert_eq!(fields["operation_id"], "op-20260101-abc");
    assert_eq!(fields["duration_seconds"], 125);
    assert_eq!(fields["config_version"], "cfg-1a2b3c");
    assert_eq!(lines[1]["level"], "ERROR");
    assert_eq!(lines[1]["fields"]["notification"], "node_never_ready");
}
