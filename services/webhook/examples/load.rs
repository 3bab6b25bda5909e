//! Load test of `POST /alertmanager` over loopback: the real router and handler against a queue
//! that only counts, driven by keep-alive HTTP/1.1 clients; prints requests/s and latency
//! percentiles. `cargo run --release -p webhook --example load -- --requests 50000 --concurrency 64`

use std::{
    sync::{
        Arc,
        atomic::{AtomicI64, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use autoscaler_core::ports::{OutgoingMessage, Queue, QueueError};
use bytes::Bytes;
use clap::Parser;
use http::{Request, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use serde_json::json;
use webhook::{AppState, Token, app};

const TOKEN: &str = "load-test-token-0123456789abcdef";

#[derive(Debug, Parser)]
struct Args {
    /// Requests to send in total.
    #[arg(long, default_value_t = 50_000)]
    requests: i64,
    /// Concurrent connections.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Stop after this many seconds even if requests remain.
    #[arg(long, default_value_t = 20)]
    seconds: u64,
    /// Write the service's JSON log lines (to a sink) as in production.
    #[arg(long)]
    logs: bool,
}

/// A queue that accepts everything and counts it.
#[derive(Debug, Default)]
struct CountingQueue(AtomicUsize);

impl Queue for CountingQueue {
    async fn send(&self, messages: &[OutgoingMessage]) -> Result<(), QueueError> {
        self.0.fetch_add(messages.len(), Ordering::Relaxed);
        Ok(())
    }
}

/// A realistic notification: five alerts, four of which are acted on.
fn body() -> Bytes {
    let alert = |name: &str, fp: &str, labels: serde_json::Value, annotations: serde_json::Value| {
        let mut l = json!({"alertname": name, "cluster": "prod"});
        l.as_object_mut().unwrap().extend(labels.as_object().unwrap().clone());
        json!({"status": "firing", "labels": l, "annotations": annotations, "startsAt": "2026-03-02T11:58:30.123Z",
               "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "http://prometheus:9090/graph?g0.expr=x", "fingerprint": fp})
    };
    let cpu = json!({"cpu_percent": "91.25", "demand_cores": "7.300", "summary": "Average worker CPU 91.25% has been above 70% for 1m"});
    let payload = json!({
        "receiver": "autoscaler", "status": "firing", "version": "4", "truncatedAlerts": 0,
        "groupKey": "{}/{action=\"scale_up\"}:{alertname=\"HighCPU\", cluster=\"prod\"}",
        "groupLabels": {"alertname": "HighCPU", "cluster": "prod"}, "commonLabels": {}, "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "alerts": [
            alert("HighCPU", "3b7716a80b801657", json!({"action": "scale_up"}), cpu.clone()),
            alert("Watchdog", "4c8827b91c912768", json!({"action": "heartbeat"}), cpu),
            alert("PendingPods", "5d9938ca2da23879", json!({"action": "scale_up"}), json!({"pending_pods": "3", "summary": "3 pod(s) unschedulable for at least 3m"})),
            alert("ApiLatencyHigh", "6ea049db3eb3498a", json!({"action": "observe", "namespace": "shop", "app": "api"}), json!({"value": "0.734", "summary": "p95 latency"})),
            alert("KubePodCrashLooping", "7fb15aec4fc45a9b", json!({"namespace": "shop", "pod": "api-1"}), json!({"summary": "crash looping"})),
        ]
    });
    Bytes::from(serde_json::to_vec(&payload).unwrap())
}

/// One keep-alive connection sending until the shared budget or the deadline runs out; returns
/// its latencies in microseconds and how many answers were not 200.
async fn client(
    addr: std::net::SocketAddr,
    body: Bytes,
    budget: Arc<AtomicI64>,
    deadline: Instant,
) -> (Vec<u32>, usize) {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.set_nodelay(true).unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.unwrap();
    tokio::spawn(conn);
    let (mut latencies, mut errors) = (Vec::new(), 0);
    while budget.fetch_sub(1, Ordering::Relaxed) > 0 && Instant::now() < deadline {
        let request = Request::post("/alertmanager")
            .header(header::HOST, "127.0.0.1")
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
            .body(Full::new(body.clone()))
            .unwrap();
        let started = Instant::now();
        sender.ready().await.unwrap();
        let response = sender.send_request(request).await.unwrap();
        let status = response.status();
        response.into_body().collect().await.unwrap();
        latencies.push(started.elapsed().as_micros().min(u128::from(u32::MAX)) as u32);
        errors += usize::from(status != StatusCode::OK);
    }
    (latencies, errors)
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    if args.logs {
        tracing_subscriber::fmt().json().flatten_event(true).with_writer(std::io::sink).init();
    }
    let queue = Arc::new(CountingQueue::default());
    let state = AppState::new(queue.clone(), Token::new(TOKEN).unwrap(), None);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app(state)).await.unwrap() });

    let body = body();
    let budget = Arc::new(AtomicI64::new(args.requests));
    let started = Instant::now();
    let deadline = started + Duration::from_secs(args.seconds);
    let workers: Vec<_> =
        (0..args.concurrency).map(|_| tokio::spawn(client(addr, body.clone(), budget.clone(), deadline))).collect();
    let (mut latencies, mut errors) = (Vec::new(), 0);
    for w in workers {
        let (l, e) = w.await.unwrap();
        latencies.extend(l);
        errors += e;
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort_unstable();
    let pct = |p: f64| {
        latencies[((latencies.len() as f64 * p).ceil() as usize).clamp(1, latencies.len()) - 1] as f64 / 1000.0
    };
    println!(
        "{} requests ({}-alert body, {} bytes) over {} connections in {elapsed:.2} s: {:.0} requests/s; \
         latency p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms; {} messages enqueued; {errors} non-200 answers; logs {}",
        latencies.len(),
        5,
        body.len(),
        args.concurrency,
        latencies.len() as f64 / elapsed,
        pct(0.50),
        pct(0.99),
        pct(1.0),
        queue.0.load(Ordering::Relaxed),
        if args.logs { "on" } else { "off" },
    );
    if errors > 0 {
        std::process::exit(1);
    }
}
