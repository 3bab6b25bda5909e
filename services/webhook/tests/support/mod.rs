//! Shared by the webhook's test files: Alertmanager payload builders, an in-process server on a
//! free loopback port, and a plain HTTP client for it.
#![allow(dead_code)] // each test file uses a different part

pub mod router;

use std::net::SocketAddr;

use axum::Router;
use bytes::Bytes;
use http::{Method, Request, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper_util::{client::legacy::Client, rt::TokioExecutor};
use serde_json::{Value, json};

/// The token every test server expects.
pub const TOKEN: &str = "test-token-0123456789abcdef";

/// When the alerts of the payload builders started.
pub const STARTS_AT: &str = "2026-03-02T11:58:30.123456789Z";

/// An Alertmanager v4 notification of `alerts`.
pub fn payload(alerts: Vec<Value>) -> Value {
    json!({
        "receiver": "k3s-autoscaler",
        "status": "firing",
        "alerts": alerts,
        "groupLabels": {"alertname": "HighCPU"},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://127.0.0.1:9093",
        "version": "4",
        "groupKey": "{}/{}:{alertname=\"HighCPU\"}",
        "truncatedAlerts": 0
    })
}

/// One firing alert `name` with extra `labels` and `annotations`.
pub fn alert(name: &str, fingerprint: &str, labels: Value, annotations: Value) -> Value {
    let mut all_labels = json!({"alertname": name});
    all_labels.as_object_mut().unwrap().extend(labels.as_object().unwrap().clone());
    json!({
        "status": "firing",
        "labels": all_labels,
        "annotations": annotations,
        "startsAt": STARTS_AT,
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://127.0.0.1:9090/graph",
        "fingerprint": fingerprint
    })
}

/// A firing HighCPU alert of `cluster` at `cpu` percent.
pub fn high_cpu(cluster: &str, fingerprint: &str, cpu: &str) -> Value {
    alert(
        "HighCPU",
        fingerprint,
        json!({"cluster": cluster, "action": "scale_up"}),
        json!({"cpu_percent": cpu, "demand_cores": "3.296", "summary": "Average worker CPU is high"}),
    )
}

/// Serves `app` on a free 127.0.0.1 port until the test's runtime ends.
pub async fn serve(app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// POSTs `body` as JSON to `http://addr/alertmanager` with `token`; returns status and body.
pub async fn post(addr: SocketAddr, token: &str, body: &Value) -> (StatusCode, Value) {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let request = Request::builder()
        .method(Method::POST)
        .uri(format!("http://{addr}/alertmanager"))
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Full::new(Bytes::from(serde_json::to_vec(body).unwrap())))
        .unwrap();
    let response = client.request(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into())))
}
