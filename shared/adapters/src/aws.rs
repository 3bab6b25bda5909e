//! The AWS SDK configuration every client is built from: the standard credential, region and
//! endpoint chain (so `AWS_ENDPOINT_URL` points every client at moto in tests), with retries and
//! timeouts bounded well inside the scaler's 30-second invocation budget. No service calls here.

use std::time::Duration;

use aws_config::{BehaviorVersion, SdkConfig, retry::RetryConfig, timeout::TimeoutConfig};

/// How long one HTTP attempt may take before it is abandoned and retried.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long one SDK operation may take, retries and backoff included.
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(10);

/// How long connecting may take (a black-holed endpoint must fail long before the attempt does).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// Attempts per operation (the first one included). Throttling and 5xx answers are retried by
/// the SDK with jittered exponential backoff; what is still failing after that is classified by
/// the adapter and retried later through the queue.
pub const MAX_ATTEMPTS: u32 = 3;

/// The timeouts every client uses.
pub fn timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .operation_attempt_timeout(ATTEMPT_TIMEOUT)
        .operation_timeout(OPERATION_TIMEOUT)
        .build()
}

/// The retry policy every client uses.
pub fn retries() -> RetryConfig {
    RetryConfig::standard()
        .with_max_attempts(MAX_ATTEMPTS)
        .with_initial_backoff(Duration::from_millis(100))
        .with_max_backoff(Duration::from_secs(2))
}

/// Loads the configuration once from the environment (credentials, region, `AWS_ENDPOINT_URL`)
/// with the bounded retries and timeouts. Call it once in `main` and build every client from it.
pub async fn load() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest()).timeout_config(timeouts()).retry_config(retries()).load().await
}

/// The same configuration with this crate's retries and timeouts, for a configuration built
/// elsewhere (the test kit's moto configuration).
pub fn bounded(config: &SdkConfig) -> SdkConfig {
    config.to_builder().timeout_config(timeouts()).retry_config(retries()).build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_finish_well_inside_the_invocation_budget() {
        let t = timeouts();
        assert!(t.operation_attempt_timeout().unwrap() < t.operation_timeout().unwrap());
        // Two sequential calls at their worst still leave a third of the 30 s invocation.
        assert!(t.operation_timeout().unwrap() * 2 <= Duration::from_secs(20));
        assert_eq!(retries().max_attempts(), MAX_ATTEMPTS);
    }

    #[test]
    fn bounded_keeps_region_and_endpoint() {
        let base = SdkConfig::builder()
            .region(aws_types::region::Region::new("eu-west-1"))
            .endpoint_url("http://127.0.0.1:1234")
            .behavior_version(BehaviorVersion::latest())
            .build();
        let b = bounded(&base);
        assert_eq!(b.region().map(|r| r.as_ref()), Some("eu-west-1"));
        assert_eq!(b.endpoint_url(), Some("http://127.0.0.1:1234"));
        assert_eq!(b.timeout_config().and_then(|t| t.operation_timeout()), Some(OPERATION_TIMEOUT));
        assert_eq!(b.retry_config().map(|r| r.max_attempts()), Some(MAX_ATTEMPTS));
    }
}
