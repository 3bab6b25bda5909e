//! The webhook service: receives Alertmanager notifications and turns each relevant alert into
//! one message on the cluster's SQS FIFO queue. `app` is the whole HTTP surface; the binary runs
//! it under Lambda (Function URL) or as a standalone server. No scaling logic lives here.

pub mod auth;
pub mod config;
pub mod error;
pub mod receiver;

use std::sync::Arc;

use autoscaler_core::{ClusterId, ports::Clock, ports::Queue, time::Timestamp};
use axum::{
    Router,
    routing::{get, post},
};

pub use auth::Token;
pub use error::Rejection;
pub use receiver::Accepted;

/// Largest body accepted (413 above it). Alertmanager payloads of a few hundred alerts are
/// far below it.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// What the handlers share. `Q` is the queue port: SQS in production, in memory in tests.
pub struct AppState<Q> {
    queue: Arc<Q>,
    token: Arc<Token>,
    default_cluster: Option<ClusterId>,
    clock: Arc<dyn Clock>,
}

impl<Q> Clone for AppState<Q> {
    fn clone(&self) -> Self {
        Self {
            queue: self.queue.clone(),
            token: self.token.clone(),
            default_cluster: self.default_cluster.clone(),
            clock: self.clock.clone(),
        }
    }
}

impl<Q> std::fmt::Debug for AppState<Q> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").field("default_cluster", &self.default_cluster).finish_non_exhaustive()
    }
}

impl<Q: Queue> AppState<Q> {
    /// State with the system clock. `default_cluster` applies to alerts without a `cluster` label.
    pub fn new(queue: Arc<Q>, token: Token, default_cluster: Option<ClusterId>) -> Self {
        Self { queue, token: Arc::new(token), default_cluster, clock: Arc::new(SystemClock) }
    }

    /// Replaces the clock that stamps `received_at`.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }
}

/// Real time.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// The HTTP surface: `POST /alertmanager`, `GET /healthz`; every other method or path gets a
/// JSON error.
pub fn app<Q: Queue + 'static>(state: AppState<Q>) -> Router {
    Router::new()
        .route("/alertmanager", post(receiver::receive::<Q>).fallback(async || Rejection::Method { allow: "POST" }))
        .route("/healthz", get(async || "ok").fallback(async || Rejection::Method { allow: "GET, HEAD" }))
        .fallback(async || Rejection::NotFound)
        .with_state(state)
}
