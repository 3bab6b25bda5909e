//! Classifying kube client errors as the engine needs them: retry later (transient) or stop and
//! tell an operator (permanent). Pure: reads errors, performs no calls.

use autoscaler_core::ports::ClusterError;
use kube::core::Status;

/// The HTTP status the API server answered with, `None` when no answer arrived (connection
/// refused, timeout, TLS). A `Status` body without `code` is read from its `reason`.
pub(crate) fn http_status(err: &kube::Error) -> Option<u16> {
    match err {
        kube::Error::Api(status) => Some(status_code(status)),
        _ => None,
    }
}

fn status_code(status: &Status) -> u16 {
    if status.code != 0 {
        return status.code;
    }
    match status.reason.as_str() {
        "NotFound" => 404,
        "TooManyRequests" => 429,
        "Conflict" | "AlreadyExists" => 409,
        "Unauthorized" => 401,
        "Forbidden" => 403,
        "BadRequest" => 400,
        "Invalid" => 422,
        "Timeout" | "ServerTimeout" => 504,
        "ServiceUnavailable" => 503,
        // No code and no reason we know: the body was not a Status from the API server.
        _ => 0,
    }
}

/// Wraps `err` as a [`ClusterError`] for `operation` (`"cordoning i-0ab"`).
///
/// Transient: no answer (connection, timeout), 5xx, 429 (API priority and fairness), 409 (the
/// object changed under us), 410 (a list's `continue` token expired), 408. Permanent: 401/403 (the ServiceAccount token or its RBAC),
/// 400/422 and other 4xx (a request we built wrong), and client-side failures (building the
/// request, TLS configuration, an answer that does not parse).
pub(crate) fn classify(operation: String, err: kube::Error) -> ClusterError {
    let transient = match (&err, http_status(&err)) {
        (_, Some(code)) => matches!(code, 0 | 408 | 409 | 410 | 429 | 500..=599),
        (kube::Error::HyperError(_) | kube::Error::Service(_) | kube::Error::ReadEvents(_), None) => true,
        _ => false,
    };
    let source = Box::new(err);
    if transient {
        ClusterError::Transient { operation, source }
    } else {
        ClusterError::Permanent { operation, source }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(code: u16, reason: &str) -> kube::Error {
        let mut status = Status::failure("m", reason);
        status.code = code;
        kube::Error::Api(status.boxed())
    }

    #[test]
    fn server_side_trouble_is_transient_and_bad_requests_are_permanent() {
        for (code, reason, retryable) in [
            (500, "", true),
            (503, "", true),
            (429, "TooManyRequests", true),
            (409, "Conflict", true),
            (0, "ServiceUnavailable", true),
            (401, "Unauthorized", false),
            (403, "Forbidden", false),
            (400, "BadRequest", false),
            (422, "Invalid", false),
            (0, "Forbidden", false),
            (404, "NotFound", false),
        ] {
            let err = classify("listing nodes".into(), api(code, reason));
            assert_eq!(err.retryable(), retryable, "{code} {reason}");
        }
    }

    #[test]
    fn connection_failures_are_transient() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        let err = classify("listing nodes".into(), kube::Error::Service(Box::new(io)));
        assert!(err.retryable());
        let err = classify("listing nodes".into(), kube::Error::TlsRequired);
        assert!(!err.retryable());
    }
}
