//! `POST /alertmanager`: authenticate, read and validate the payload, turn each relevant alert
//! into one FIFO message, and answer 200 only once the queue has accepted every message.

use std::time::Instant;

use autoscaler_core::{
    message::alertmanager::{self, Conversion},
    ports::{OutgoingMessage, Queue},
};
use axum::{
    Json,
    body::Body,
    extract::State,
    response::{IntoResponse, Response},
};
use http::{HeaderMap, header::CONTENT_TYPE};
use serde::Serialize;
use tracing::{error, info, warn};

use crate::{AppState, MAX_BODY_BYTES, auth::Verdict, error::Rejection};

/// The 200 answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Accepted {
    /// Messages the queue accepted.
    pub enqueued: usize,
    /// Alerts accepted and ignored (not ours, or a resolved Watchdog).
    pub ignored: usize,
}

/// What a valid payload said, for the log line.
struct Summary {
    group_key: String,
    receiver: String,
    alerts: usize,
    truncated: u64,
}

/// The handler of `POST /alertmanager`.
pub async fn receive<Q: Queue + 'static>(State(state): State<AppState<Q>>, headers: HeaderMap, body: Body) -> Response {
    let started = Instant::now();
    let mut summary = None;
    let result = accept(&state, &headers, body, &mut summary).await;
    let duration_ms = started.elapsed().as_secs_f64() * 1000.0;
    let (group_key, receiver, alerts, truncated) = match &summary {
        Some(s) => (s.group_key.as_str(), s.receiver.as_str(), s.alerts, s.truncated),
        None => ("", "", 0, 0),
    };
    match result {
        Ok(accepted) => {
            let outcome = if alerts == 0 { "empty" } else { "enqueued" };
            info!(
                group_key,
                receiver,
                alerts,
                truncated,
                enqueued = accepted.enqueued,
                ignored = accepted.ignored,
                outcome,
                status = 200,
                duration_ms,
                "Alertmanager notification accepted."
            );
            Json(accepted).into_response()
        }
        Err(rejection) => {
            let status = rejection.status().as_u16();
            let outcome = rejection.reason();
            let error = rejection.chain();
            if let Rejection::Queue { count, .. } = &rejection {
                // The queue refused: Alertmanager retries, but an operator should know.
                error!(
                    group_key,
                    receiver, alerts, count, outcome, status, duration_ms, error, "Enqueuing alerts failed."
                );
            } else {
                warn!(
                    group_key,
                    receiver, alerts, outcome, status, duration_ms, error, "Alertmanager notification refused."
                );
            }
            rejection.into_response()
        }
    }
}

async fn accept<Q: Queue>(
    state: &AppState<Q>,
    headers: &HeaderMap,
    body: Body,
    summary: &mut Option<Summary>,
) -> Result<Accepted, Rejection> {
    match state.token.verify(headers) {
        Verdict::Valid => {}
        Verdict::Missing => return Err(Rejection::MissingToken),
        Verdict::Invalid => return Err(Rejection::InvalidToken),
    }
    check_content_type(headers)?;
    let bytes = axum::body::to_bytes(body, MAX_BODY_BYTES).await.map_err(|e| {
        if std::error::Error::source(&e).is_some_and(|s| s.is::<http_body_util::LengthLimitError>()) {
            Rejection::TooLarge { limit: MAX_BODY_BYTES }
        } else {
            Rejection::Body(e)
        }
    })?;
    let payload = alertmanager::parse(&bytes).map_err(Rejection::Payload)?;
    *summary = Some(Summary {
        group_key: payload.group_key.clone(),
        receiver: payload.receiver.clone(),
        alerts: payload.alerts.len(),
        truncated: payload.truncated_alerts,
    });
    let Conversion { messages, ignored } =
        alertmanager::convert(&payload, state.default_cluster.as_ref(), state.clock.now())
            .map_err(Rejection::Payload)?;
    if !ignored.is_empty() {
        let names: Vec<&str> = ignored.iter().map(|(name, _)| name.as_str()).collect();
        info!(group_key = payload.group_key, ignored = ?names, "Ignored alerts k3s-autoscaler does not act on.");
    }
    let outgoing: Vec<OutgoingMessage> = messages
        .iter()
        .map(|m| OutgoingMessage { group_id: m.cluster.to_string(), dedup_id: m.id.clone(), body: m.to_body() })
        .collect();
    if !outgoing.is_empty() {
        state.queue.send(&outgoing).await.map_err(|source| Rejection::Queue { count: outgoing.len(), source })?;
    }
    Ok(Accepted { enqueued: outgoing.len(), ignored: ignored.len() })
}

/// Accepts `application/json`, with parameters (`; charset=utf-8`) and in any case.
fn check_content_type(headers: &HeaderMap) -> Result<(), Rejection> {
    let value = headers.get(CONTENT_TYPE).map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let essence = value.as_deref().and_then(|v| v.split(';').next()).map(str::trim);
    match essence {
        Some(e) if e.eq_ignore_ascii_case("application/json") => Ok(()),
        _ => Err(Rejection::MediaType(value.map_or_else(|| "no content-type".into(), |v| format!("{v:?}")))),
    }
}
