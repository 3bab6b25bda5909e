//! End to end along the alert path with the real binaries: fake exporters (busy workers, idle
//! master) → Prometheus with the committed rules (timing shortened) → Alertmanager with the
//! committed configuration (timers shortened, local URL) → the webhook (in process, bearer token)
//! → moto's SQS FIFO queue. Asserts the HighCPU message arrives with the right group and a
//! parseable envelope, and keeps the captured payload as tests/fixtures/alertmanager/.

#[path = "../support/mod.rs"]
mod support;

mod exporter;
mod stack;

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use autoscaler_adapters::sqs::{SqsConsumer, SqsQueue};
use autoscaler_core::{
    ClusterId,
    message::{self, Kind},
    signal::{AlertStatus, Signal},
};
use autoscaler_testkit::{Moto, unique};
use aws_sdk_sqs::types::QueueAttributeName;
use axum::{
    body::{Body, Bytes},
    extract::{Request, State},
    middleware::{self, Next},
    response::Response,
};
use stack::{Process, binary, fast_alertmanager, fast_rules, free_port, repo};
use webhook::{AppState, Token, app};

/// The cluster id Prometheus stamps on its alerts (external label).
const CLUSTER: &str = "e2e-alert-path";

/// How long the whole path may take: moto, both binaries and two evaluation cycles fit in well
/// under half of it on a busy 2-core machine.
const DEADLINE: Duration = Duration::from_secs(60);

/// Bodies the webhook received, in order.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<Bytes>>>);

async fn capture(State(captured): State<Captured>, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, 2 * webhook::MAX_BODY_BYTES).await.unwrap_or_default();
    captured.0.lock().unwrap().push(bytes.clone());
    next.run(Request::from_parts(parts, Body::from(bytes))).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_high_cpu_alert_travels_from_prometheus_through_alertmanager_to_the_fifo_queue() {
    let started = Instant::now();
    let (prometheus_bin, alertmanager_bin) = (binary("prometheus"), binary("prometheus-alertmanager"));
    let moto = Moto::start().await;
    let sqs = aws_sdk_sqs::Client::new(&moto.sdk_config());
    let queue_url = sqs
        .create_queue()
        .queue_name(format!("{}.fifo", unique("alert-path")))
        .attributes(QueueAttributeName::FifoQueue, "true")
        .attributes(QueueAttributeName::ContentBasedDeduplication, "false")
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_owned();

    // The webhook, exactly as deployed but for the queue's endpoint, behind a capturing layer.
    let token = format!("e2e-{}", unique("token"));
    let captured = Captured::default();
    let state = AppState::new(Arc::new(SqsQueue::new(sqs.clone(), &queue_url)), Token::new(&token).unwrap(), None);
    let webhook_app = app(state).layer(middleware::from_fn_with_state(captured.clone(), capture));
    let webhook_addr = support::serve(webhook_app).await;
    let exporter_addr = exporter::start().await;

    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("webhook-token");
    std::fs::write(&token_file, format!("{token}\n")).unwrap();
    let mut alertmanager =
        start_alertmanager(&alertmanager_bin, dir.path(), &format!("http://{webhook_addr}/alertmanager"), &token_file)
            .await;
    let mut prometheus =
        start_prometheus(&prometheus_bin, dir.path(), &exporter_addr.to_string(), &alertmanager.1).await;

    let consumer = SqsConsumer::new(sqs.clone(), &queue_url);
    let cluster = ClusterId::new(CLUSTER).unwrap();
    let deadline = Instant::now() + DEADLINE;
    let (mut high_cpu, mut watchdog) = (None, false);
    while high_cpu.is_none() {
        assert!(
            Instant::now() < deadline,
            "no HighCPU message within {DEADLINE:?}.\nwebhook received {} notifications.\n--- prometheus ---\n{}\n--- alertmanager ---\n{}",
            captured.0.lock().unwrap().len(),
            prometheus.0.output(),
            alertmanager.0.output()
        );
        prometheus.0.assert_running();
        alertmanager.0.assert_running();
        for m in consumer.receive(10, 1).await.unwrap() {
            consumer.delete(&m.receipt_handle).await.unwrap();
            let parsed = message::parse(&m.body, &ClusterId::new("not-this-one").unwrap())
                .unwrap_or_else(|e| panic!("unparseable message {:?}: {e}", m.body));
            assert_eq!((m.group_id.as_deref(), parsed.kind, &parsed.cluster), (Some(CLUSTER), Kind::Alert, &cluster));
            match parsed.signal {
                Some(Signal::HighCpu { status: AlertStatus::Firing, values, .. }) => high_cpu = Some(values),
                Some(Signal::Watchdog { .. }) => watchdog = true,
                other => panic!("unexpected signal {other:?} in {}", m.body),
            }
        }
    }
    println!("HighCPU reached the queue {:.1} s after the test started", started.elapsed().as_secs_f64());

    // The committed rules' values: 2 workers x 2 cores at 90%; the idle master is not counted.
    let values = high_cpu.unwrap();
    assert!((values.cpu_percent - 90.0).abs() <= 0.05, "{values:?}");
    let demand = values.demand_cores.expect("demand_cores annotation");
    assert!((demand - 3.6).abs() <= 0.005, "{values:?}");
    assert!(watchdog || captured_names(&captured).contains(&"Watchdog".to_owned()), "the heartbeat fired too");
    keep_fixture(&captured);
}

async fn start_alertmanager(
    bin: &std::path::Path,
    dir: &std::path::Path,
    webhook_url: &str,
    token_file: &std::path::Path,
) -> (Process, String) {
    let committed = std::fs::read_to_string(repo().join("alertmanager/alertmanager.yml")).unwrap();
    let config = dir.join("alertmanager.yml");
    std::fs::write(&config, fast_alertmanager(&committed, webhook_url, token_file)).unwrap();
    let addr = format!("127.0.0.1:{}", free_port());
    let args = [
        format!("--config.file={}", config.display()),
        format!("--storage.path={}", dir.join("alertmanager-data").display()),
        format!("--web.listen-address={addr}"),
        format!("--web.external-url=http://{addr}/"),
        "--cluster.listen-address=".to_owned(),
        "--log.level=debug".to_owned(),
    ];
    let mut process = Process::spawn("alertmanager", bin, &args, dir.join("alertmanager.log"));
    process.wait_ready(&format!("http://{addr}/-/ready"), Duration::from_secs(30)).await;
    (process, addr)
}

async fn start_prometheus(
    bin: &std::path::Path,
    dir: &std::path::Path,
    exporter: &str,
    alertmanager: &str,
) -> (Process, String) {
    let template = std::fs::read_to_string(repo().join("tests/e2e/alert_path/prometheus.yml")).unwrap();
    let config = template
        .replace("${CLUSTER_ID}", CLUSTER)
        .replace("${EXPORTER}", exporter)
        .replace("${ALERTMANAGER}", alertmanager);
    std::fs::create_dir_all(dir.join("rules")).unwrap();
    let committed = std::fs::read_to_string(repo().join("alertmanager/rules/autoscaler.rules.yml")).unwrap();
    std::fs::write(dir.join("rules/autoscaler.rules.yml"), fast_rules(&committed, "3s")).unwrap();
    std::fs::write(dir.join("prometheus.yml"), config).unwrap();
    let addr = format!("127.0.0.1:{}", free_port());
    let args = [
        format!("--config.file={}", dir.join("prometheus.yml").display()),
        format!("--storage.tsdb.path={}", dir.join("prometheus-data").display()),
        format!("--web.listen-address={addr}"),
        format!("--web.external-url=http://{addr}/"),
    ];
    let mut process = Process::spawn("prometheus", bin, &args, dir.join("prometheus.log"));
    process.wait_ready(&format!("http://{addr}/-/ready"), Duration::from_secs(30)).await;
    (process, addr)
}

/// Alert names of every captured notification.
fn captured_names(captured: &Captured) -> Vec<String> {
    captured
        .0
        .lock()
        .unwrap()
        .iter()
        .filter_map(|b| serde_json::from_slice::<serde_json::Value>(b).ok())
        .flat_map(|v| v["alerts"].as_array().cloned().unwrap_or_default())
        .filter_map(|a| a["labels"]["alertname"].as_str().map(str::to_owned))
        .collect()
}

/// Writes the HighCPU notification as the fixture when `K3SA_CAPTURE_FIXTURES` is set;
/// otherwise checks the committed fixture still has the shape Alertmanager sends today.
fn keep_fixture(captured: &Captured) {
    let bodies = captured.0.lock().unwrap().clone();
    let body = bodies
        .iter()
        .find(|b| {
            serde_json::from_slice::<serde_json::Value>(b).is_ok_and(|v| v["groupLabels"]["alertname"] == "HighCPU")
        })
        .expect("a HighCPU notification was captured");
    let path = repo().join("tests/fixtures/alertmanager/highcpu-firing.json");
    if std::env::var_os("K3SA_CAPTURE_FIXTURES").is_some() {
        std::fs::write(&path, [body.as_ref(), b"\n"].concat()).unwrap();
        println!("wrote {}", path.display());
        return;
    }
    let keys = |v: &serde_json::Value| -> Vec<String> { v.as_object().unwrap().keys().cloned().collect() };
    let live: serde_json::Value = serde_json::from_slice(body).unwrap();
    let committed: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(keys(&live), keys(&committed), "payload keys changed; re-capture with K3SA_CAPTURE_FIXTURES=1");
    assert_eq!(keys(&live["alerts"][0]), keys(&committed["alerts"][0]), "alert keys changed; re-capture");
    assert_eq!(keys(&live["alerts"][0]["annotations"]), keys(&committed["alerts"][0]["annotations"]));
}
