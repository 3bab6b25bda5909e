//! Calling the router in process (`tower::ServiceExt::oneshot`) against an in-memory queue, and
//! the payloads the table tests vary.

use std::sync::Arc;

use autoscaler_core::{
    ClusterId,
    memory::{ManualClock, MemoryQueue},
};
use axum::body::Body;
use http::{Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;
use webhook::{AppState, Token, app};

use super::{TOKEN, high_cpu, payload};

pub const NOW: &str = "2026-03-02T12:00:05Z";

pub fn state(queue: &MemoryQueue, default_cluster: Option<&str>) -> AppState<MemoryQueue> {
    AppState::new(
        Arc::new(queue.clone()),
        Token::new(TOKEN).unwrap(),
        default_cluster.map(|c| ClusterId::new(c).unwrap()),
    )
    .with_clock(Arc::new(ManualClock::at(NOW.parse().unwrap())))
}

/// A request as Alertmanager would send it, changed by the case.
pub struct Req {
    pub method: Method,
    pub path: &'static str,
    pub authorization: Option<String>,
    pub content_type: Option<&'static str>,
    pub body: Vec<u8>,
}

impl Req {
    pub fn json(body: &Value) -> Self {
        Self::bytes(serde_json::to_vec(body).unwrap())
    }

    pub fn bytes(body: Vec<u8>) -> Self {
        Req {
            method: Method::POST,
            path: "/alertmanager",
            authorization: Some(format!("Bearer {TOKEN}")),
            content_type: Some("application/json"),
            body,
        }
    }
}

pub async fn call(state: AppState<MemoryQueue>, req: Req) -> (StatusCode, http::HeaderMap, Value) {
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

pub fn good() -> Value {
    payload(vec![high_cpu("prod", "a1b2c3", "82.40")])
}

pub fn with_alert(change: impl FnOnce(&mut Value)) -> Value {
    let mut p = good();
    change(&mut p["alerts"][0]);
    p
}

pub fn many(n: usize) -> Value {
    payload((0..n).map(|i| high_cpu("prod", &format!("f{i:04}"), "82.40")).collect())
}
