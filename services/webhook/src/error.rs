//! Why a request was refused, and the HTTP answer for each reason: a status Alertmanager acts on
//! (4xx: never retried, 5xx: retried) and a JSON body `{"error": "..."}` naming the problem.

use std::error::Error as _;

use autoscaler_core::{message::alertmanager::PayloadError, ports::QueueError};
use axum::{
    Json,
    response::{IntoResponse, Response},
};
use http::{HeaderValue, StatusCode, header};

/// A refused request.
#[derive(Debug, thiserror::Error)]
pub enum Rejection {
    /// No `Authorization: Bearer` header.
    #[error("missing Authorization: Bearer header")]
    MissingToken,
    /// A bearer token that is not ours.
    #[error("invalid bearer token")]
    InvalidToken,
    /// A content type other than `application/json`.
    #[error("content-type must be application/json (got {0})")]
    MediaType(String),
    /// A body above the limit.
    #[error("body is larger than {limit} bytes")]
    TooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The body could not be read from the connection.
    #[error("reading the request body")]
    Body(#[source] axum::Error),
    /// The body is not a valid Alertmanager payload.
    #[error(transparent)]
    Payload(PayloadError),
    /// The queue did not accept every message.
    #[error("enqueuing {count} messages")]
    Queue {
        /// Messages that were to be sent.
        count: usize,
        /// Why.
        #[source]
        source: QueueError,
    },
    /// A method the route does not serve.
    #[error("method not allowed (allowed: {allow})")]
    Method {
        /// The methods the route serves.
        allow: &'static str,
    },
    /// A path the service does not serve.
    #[error("not found")]
    NotFound,
}

impl Rejection {
    /// The HTTP status of this rejection.
    pub fn status(&self) -> StatusCode {
        match self {
            Rejection::MissingToken | Rejection::InvalidToken => StatusCode::UNAUTHORIZED,
            Rejection::MediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Rejection::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Rejection::Body(_) => StatusCode::BAD_REQUEST,
            Rejection::Payload(e) if e.is_syntax() => StatusCode::BAD_REQUEST,
            Rejection::Payload(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Rejection::Queue { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Rejection::Method { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Rejection::NotFound => StatusCode::NOT_FOUND,
        }
    }

    /// A short, stable name of the reason, for logs.
    pub fn reason(&self) -> &'static str {
        match self {
            Rejection::MissingToken => "missing_token",
            Rejection::InvalidToken => "invalid_token",
            Rejection::MediaType(_) => "media_type",
            Rejection::TooLarge { .. } => "too_large",
            Rejection::Body(_) => "body",
            Rejection::Payload(e) if e.is_syntax() => "not_json",
            Rejection::Payload(_) => "invalid_payload",
            Rejection::Queue { .. } => "queue",
            Rejection::Method { .. } => "method",
            Rejection::NotFound => "not_found",
        }
    }

    /// The message with its causes, `a: b: c`.
    pub fn chain(&self) -> String {
        let mut out = self.to_string();
        let mut cause = self.source();
        while let Some(c) = cause {
            out.push_str(": ");
            out.push_str(&c.to_string());
            cause = c.source();
        }
        out
    }
}

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        let mut response = (self.status(), Json(serde_json::json!({ "error": self.chain() }))).into_response();
        let headers = response.headers_mut();
        match self {
            Rejection::MissingToken | Rejection::InvalidToken => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            Rejection::Method { allow } => {
                headers.insert(header::ALLOW, HeaderValue::from_static(allow));
            }
            Rejection::MediaType(_) => {
                headers.insert(header::ACCEPT, HeaderValue::from_static("application/json"));
            }
            _ => {}
        }
        response
    }
}
