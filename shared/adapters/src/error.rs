//! Errors of the adapters that are not a port's error (settings, SSM parameters), and the
//! reduction of an AWS SDK error to what the adapters branch on: its code, whether retrying can
//! help, and a cause that prints once. No service calls here.

use std::fmt;

use autoscaler_core::ports::Cause;
use aws_smithy_runtime_api::client::{orchestrator::HttpResponse, result::SdkError};
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

/// Why an adapter could not be set up or read its configuration.
#[derive(Debug, thiserror::Error)]
pub enum AdapterError {
    /// A setting (environment variable) is missing or malformed.
    #[error("setting {name}: {reason}")]
    Setting {
        /// The setting (`SUBNETS`).
        name: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// An SSM parameter does not exist.
    #[error("reading SSM parameter {name}: it does not exist")]
    ParameterNotFound {
        /// The parameter name.
        name: String,
    },
    /// Reading an SSM parameter failed.
    #[error("reading SSM parameter {name} ({code})")]
    Parameter {
        /// The parameter name.
        name: String,
        /// The AWS error code, or `timeout`/`io`.
        code: String,
        /// Whether retrying later can succeed (throttling, 5xx, timeouts).
        retryable: bool,
        /// Why.
        #[source]
        source: Cause,
    },
}

impl AdapterError {
    /// Whether retrying later can succeed.
    pub fn retryable(&self) -> bool {
        matches!(self, AdapterError::Parameter { retryable: true, .. })
    }
}

/// Error codes every AWS service uses for throttling or a server-side problem: retry later.
const TRANSIENT_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottled",
    "RequestThrottledException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "ProvisionedThroughputExceededException",
    "RequestTimeout",
    "RequestTimeoutException",
    "InternalError",
    "InternalFailure",
    "InternalServerError",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "Unavailable",
];

/// An AWS SDK error reduced to its code, its class and a cause.
#[derive(Debug)]
pub(crate) struct SdkFailure {
    /// The service's error code, or `timeout`, `io`, `dispatch`, `response`, `construction`.
    pub code: String,
    /// Throttling, 5xx, timeouts, connection failures: retrying can succeed.
    pub transient: bool,
    /// The service's message, if it sent one.
    message: Option<String>,
    /// The underlying error, kept for failures that are not a service answer (connection errors).
    source: Option<Cause>,
}

impl SdkFailure {
    /// Reduces `err`; `extra_transient` lists service-specific codes that are worth retrying.
    pub(crate) fn new<E>(err: SdkError<E, HttpResponse>, extra_transient: &[&str]) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let (code, transient) = match &err {
            SdkError::ServiceError(_) => {
                let code = err.code().unwrap_or("Unknown").to_owned();
                let status = err.raw_response().map(|r| r.status().as_u16()).unwrap_or(0);
                let transient = status >= 500
                    || status == 429
                    || TRANSIENT_CODES.contains(&code.as_str())
                    || extra_transient.contains(&code.as_str());
                (code, transient)
            }
            SdkError::TimeoutError(_) => ("timeout".to_owned(), true),
            SdkError::DispatchFailure(d) if d.is_timeout() => ("timeout".to_owned(), true),
            SdkError::DispatchFailure(d) if d.is_io() => ("io".to_owned(), true),
            SdkError::DispatchFailure(d) => ("dispatch".to_owned(), !d.is_user()),
            // The answer could not be read (a proxy's HTML page, a cut connection): retry.
            SdkError::ResponseError(_) => ("response".to_owned(), true),
            _ => ("construction".to_owned(), false),
        };
        if matches!(err, SdkError::ServiceError(_)) {
            let message = err.message().map(str::to_owned);
            Self { code, transient, message, source: None }
        } else {
            Self { code, transient, message: None, source: Some(Box::new(err)) }
        }
    }

    /// A failure described by the adapter itself (an answer's content, not the call, failed).
    pub(crate) fn described(code: &str, transient: bool, message: impl Into<String>) -> Self {
        Self { code: code.to_owned(), transient, message: Some(message.into()), source: None }
    }

    /// An answer missing a required field, or data that does not parse.
    pub(crate) fn malformed(what: impl Into<String>) -> Self {
        Self::described("MalformedResponse", false, what)
    }

    /// The failure as a boxed cause for a port error.
    pub(crate) fn cause(self) -> Cause {
        Box::new(self)
    }
}

impl fmt::Display for SdkFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.message {
            Some(m) => write!(f, "{}: {m}", self.code),
            None => write!(f, "{}", self.code),
        }
    }
}

impl std::error::Error for SdkFailure {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_deref().map(|e| e as &(dyn std::error::Error + 'static))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_print_code_and_message_once() {
        let f = SdkFailure::malformed("RunInstances returned no instance id");
        assert_eq!(f.to_string(), "MalformedResponse: RunInstances returned no instance id");
        assert!(!f.transient);
        let e = AdapterError::Parameter {
            name: "/x/token".into(),
            code: "timeout".into(),
            retryable: true,
            source: f.cause(),
        };
        assert_eq!(e.to_string(), "reading SSM parameter /x/token (timeout)");
        assert!(e.retryable());
        assert!(!AdapterError::ParameterNotFound { name: "/x".into() }.retryable());
    }
}
