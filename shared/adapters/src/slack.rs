//! `SlackNotifier`: the [`Notifier`] port on a Slack incoming webhook (reqwest, rustls). One Block
//! Kit message per event, duplicates suppressed, retries on 429/5xx within a hard time budget.
//! A Slack outage never fails the caller and never delays it beyond that budget: failures are
//! logged (without the webhook URL, which is a credential) and counted.

mod dedup;
mod log;
mod logs_link;
pub mod message;

use std::{fmt, sync::Mutex, time::Duration};

use autoscaler_core::{
    metric::{Metric, names},
    notification::Notification,
    ports::{Metrics, Notifier},
};
use reqwest::{StatusCode, Url, header::RETRY_AFTER};
use tokio::time::Instant;
use tracing::{debug, warn};

pub use log::LogNotifier;
pub use logs_link::LogsLocation;

/// How the notifier talks to Slack; every duration bounds the caller's wait.
#[derive(Debug, Clone)]
pub struct SlackSettings {
    /// Where the services log, for the Logs Insights link; `None` omits the link.
    pub logs: Option<LogsLocation>,
    /// TCP + TLS connection timeout of one attempt (default 1 s).
    pub connect_timeout: Duration,
    /// Total timeout of one attempt (default 3 s).
    pub request_timeout: Duration,
    /// Time all attempts of one notification may take together (default 5 s).
    pub budget: Duration,
    /// First pause between attempts without `Retry-After`; doubles each time (default 250 ms).
    pub backoff: Duration,
    /// Identical notifications within this window are sent once (default 10 min).
    pub dedup_window: Duration,
    /// How many recent notifications are remembered for that (default 256).
    pub dedup_capacity: usize,
}

impl Default for SlackSettings {
    fn default() -> Self {
        Self {
            logs: None,
            connect_timeout: Duration::from_secs(1),
            request_timeout: Duration::from_secs(3),
            budget: Duration::from_secs(5),
            backoff: Duration::from_millis(250),
            dedup_window: Duration::from_secs(600),
            dedup_capacity: 256,
        }
    }
}

/// Why a notifier could not be built. Never contains the webhook URL.
#[derive(Debug, thiserror::Error)]
pub enum SlackError {
    /// The webhook parameter is not a URL.
    #[error("reading the Slack webhook URL (value not shown)")]
    Url {
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The webhook is neither `https://` nor on the loopback interface (tests).
    #[error("the Slack webhook URL must be https:// (value not shown)")]
    NotHttps,
    /// reqwest could not build its client (TLS setup).
    #[error("building the Slack HTTP client")]
    Client {
        /// Why.
        #[source]
        source: reqwest::Error,
    },
}

/// Posts notifications to one Slack incoming webhook.
pub struct SlackNotifier<M> {
    webhook: Url,
    client: reqwest::Client,
    settings: SlackSettings,
    metrics: M,
    recent: Mutex<dedup::Recent>,
}

impl<M> fmt::Debug for SlackNotifier<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SlackNotifier")
            .field("webhook", &"<redacted>")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// Why one delivery failed, as a low-cardinality metric reason.
#[derive(Debug)]
enum Failure {
    /// Slack kept answering 429 until the budget ran out.
    RateLimited,
    /// Slack kept answering 5xx.
    Server(StatusCode),
    /// Slack refused the message (`invalid_payload`, `no_service`, `channel_is_archived` …).
    Rejected(StatusCode, String),
    /// No answer within the attempt's timeout.
    Timeout,
    /// No connection, or the request failed on the way.
    Transport(reqwest::Error),
}

impl Failure {
    fn reason(&self) -> &'static str {
        match self {
            Failure::RateLimited => "rate_limited",
            Failure::Server(_) => "server_error",
            Failure::Rejected(..) => "rejected",
            Failure::Timeout => "timeout",
            Failure::Transport(_) => "transport",
        }
    }

    fn detail(&self) -> String {
        match self {
            Failure::RateLimited => "HTTP 429".to_owned(),
            Failure::Server(s) => format!("HTTP {}", s.as_u16()),
            Failure::Rejected(s, body) => format!("HTTP {}: {body}", s.as_u16()),
            Failure::Timeout => "timed out".to_owned(),
            // Without the URL: reqwest's messages name it, and it is the credential.
            Failure::Transport(e) => FullChain(e).to_string(),
        }
    }
}

/// Prints an error with its causes, `a: b: c`.
struct FullChain<'a>(&'a (dyn std::error::Error + 'static));

impl fmt::Display for FullChain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut cause = self.0.source();
        while let Some(c) = cause {
            write!(f, ": {c}")?;
            cause = c.source();
        }
        Ok(())
    }
}

impl<M: Metrics> SlackNotifier<M> {
    /// A notifier posting to `webhook_url` (the SSM SecureString's value), counting failed
    /// deliveries through `metrics`.
    pub fn new(webhook_url: &str, settings: SlackSettings, metrics: M) -> Result<Self, SlackError> {
        let webhook = Url::parse(webhook_url.trim()).map_err(|e| SlackError::Url { source: Box::new(e) })?;
        let loopback = matches!(webhook.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
        if webhook.scheme() != "https" && !(webhook.scheme() == "http" && loopback) {
            return Err(SlackError::NotHttps);
        }
        let client = reqwest::Client::builder()
            .connect_timeout(settings.connect_timeout)
            .timeout(settings.request_timeout)
            // A redirect would carry the message to a host we did not configure.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|source| SlackError::Client { source })?;
        let recent = Mutex::new(dedup::Recent::new(settings.dedup_window, settings.dedup_capacity));
        Ok(Self { webhook, client, settings, metrics, recent })
    }

    /// Posts `payload`, retrying 429/5xx/timeouts while the budget lasts. Returns the attempts made.
    async fn deliver(&self, payload: &serde_json::Value) -> Result<u32, (u32, Failure)> {
        let deadline = Instant::now() + self.settings.budget;
        let mut backoff = self.settings.backoff;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let remaining = deadline.saturating_duration_since(Instant::now());
            let timeout = remaining.min(self.settings.request_timeout);
            let sent = self.client.post(self.webhook.clone()).json(payload).timeout(timeout).send().await;
            let (failure, wait) = match sent {
                Ok(r) if r.status().is_success() => return Ok(attempt),
                Ok(r) if r.status() == StatusCode::TOO_MANY_REQUESTS => {
                    (Failure::RateLimited, retry_after(r.headers()).unwrap_or(backoff))
                }
                Ok(r) if r.status().is_server_error() => (Failure::Server(r.status()), backoff),
                Ok(r) => {
                    let status = r.status();
                    let body = r.text().await.unwrap_or_default();
                    return Err((attempt, Failure::Rejected(status, message::truncate(body.trim(), 200))));
                }
                Err(e) if e.is_timeout() => (Failure::Timeout, backoff),
                Err(e) => (Failure::Transport(e.without_url()), backoff),
            };
            // Waiting only pays if an attempt still fits after the wait.
            if Instant::now() + wait >= deadline {
                return Err((attempt, failure));
            }
            debug!(attempt, wait_ms = wait.as_millis() as u64, reason = failure.reason(), "Retrying Slack.");
            tokio::time::sleep(wait).await;
            backoff = backoff.saturating_mul(2);
        }
    }
}

/// `Retry-After` in seconds (Slack's form); an HTTP date is not honoured (backoff instead).
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let secs = headers.get(RETRY_AFTER)?.to_str().ok()?.trim().parse::<u64>().ok()?;
    Some(Duration::from_secs(secs))
}

impl<M: Metrics> Notifier for SlackNotifier<M> {
    async fn notify(&self, n: &Notification) {
        let now = Instant::now();
        let duplicate = self.recent.lock().map(|mut r| r.is_duplicate(n, now)).unwrap_or(false);
        if duplicate {
            debug!(cluster = n.cluster.as_str(), kind = ?n.kind, "Duplicate notification suppressed.");
            return;
        }
        let payload = message::render(n, self.settings.logs.as_ref());
        // The outer bound holds even if an attempt overran its own timeout.
        let bound = self.settings.budget + Duration::from_millis(100);
        let outcome = match tokio::time::timeout(bound, self.deliver(&payload)).await {
            Ok(outcome) => outcome,
            Err(_) => Err((0, Failure::Timeout)),
        };
        match outcome {
            Ok(attempts) => {
                debug!(cluster = n.cluster.as_str(), kind = ?n.kind, attempts, "Slack notification sent.");
                if let Ok(mut r) = self.recent.lock() {
                    r.record(n, now);
                }
            }
            Err((attempts, failure)) => {
                warn!(
                    cluster = n.cluster.as_str(),
                    kind = ?n.kind,
                    operation_id = n.operation_id.as_deref().unwrap_or(""),
                    summary = n.summary.as_str(),
                    reason = failure.reason(),
                    error = failure.detail(),
                    attempts,
                    "Slack notification not delivered."
                );
                self.metrics.emit(
                    &Metric::count(names::NOTIFICATIONS_FAILED, n.cluster.as_str()).with("reason", failure.reason()),
                );
            }
        }
    }
}
