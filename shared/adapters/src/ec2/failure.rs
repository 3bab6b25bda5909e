//! Classification of EC2 error codes. Every EC2 error reaches the SDK as `Unhandled`, so this
//! branches on `code()`: capacity (route around it), quota (fail fast), transient, permanent. Pure.

use autoscaler_core::ports::CloudError;
use aws_smithy_runtime_api::client::{orchestrator::HttpResponse, result::SdkError};
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use crate::error::SdkFailure;

/// No capacity in this zone for this type and market: try the next pool.
const CAPACITY: &[&str] = &[
    "InsufficientInstanceCapacity",
    "InsufficientCapacity",
    "InsufficientHostCapacity",
    "InsufficientReservedInstanceCapacity",
    "InsufficientFreeAddressesInSubnet",
    "UnfulfillableCapacity",
    "SpotMaxPriceTooLow",
    // The instance type is not offered in the zone.
    "Unsupported",
];

/// Account limits: another pool does not help, retrying soon does not either.
const QUOTA: &[&str] = &["InstanceLimitExceeded", "VcpuLimitExceeded", "MaxSpotInstanceCountExceeded"];

/// EC2 codes worth retrying beyond the common throttling and server codes.
const TRANSIENT: &[&str] = &["RequestLimitExceeded", "InternalError", "Unavailable", "ServiceUnavailable"];

/// Whether a RunInstances answer with `code` is a capacity or quota error (never retried as is).
pub(crate) fn is_final_launch_code(code: &str) -> bool {
    CAPACITY.contains(&code) || QUOTA.contains(&code)
}

/// Describing an instance id that does not exist (or no longer does).
pub(crate) const NOT_FOUND: &str = "InvalidInstanceID.NotFound";

/// What a failed EC2 call means for the caller.
#[derive(Debug)]
pub(crate) enum Ec2Failure {
    /// A capacity error for the pool attempted (the code).
    Capacity(String),
    /// Anything else, already classified.
    Fatal(CloudError),
}

/// Reduces an SDK error.
pub(crate) fn reduce<E>(err: SdkError<E, HttpResponse>) -> SdkFailure
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    SdkFailure::new(err, TRANSIENT)
}

/// Classifies a failed RunInstances.
pub(crate) fn launch_failure(failure: SdkFailure) -> Ec2Failure {
    let code = failure.code.as_str();
    if CAPACITY.contains(&code) {
        Ec2Failure::Capacity(failure.code)
    } else if QUOTA.contains(&code) {
        Ec2Failure::Fatal(CloudError::Quota { code: failure.code })
    } else {
        Ec2Failure::Fatal(cloud_error("launching workers", failure))
    }
}

/// A transient or permanent error of `operation`.
pub(crate) fn cloud_error(operation: &'static str, failure: SdkFailure) -> CloudError {
    let code = failure.code.clone();
    tracing::debug!(operation, code = %code, transient = failure.transient, "EC2 call failed.");
    if failure.transient {
        CloudError::Transient { operation, code, source: failure.cause() }
    } else {
        CloudError::Permanent { operation, code, source: failure.cause() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(code: &str, transient: bool) -> SdkFailure {
        SdkFailure::described(code, transient, "test")
    }

    #[test]
    fn launch_failures_are_classified_by_code() {
        for code in
            ["InsufficientInstanceCapacity", "SpotMaxPriceTooLow", "Unsupported", "InsufficientFreeAddressesInSubnet"]
        {
            assert!(matches!(launch_failure(failure(code, false)), Ec2Failure::Capacity(c) if c == code), "{code}");
        }
        for code in QUOTA {
            assert!(
                matches!(launch_failure(failure(code, false)), Ec2Failure::Fatal(CloudError::Quota { .. })),
                "{code}"
            );
        }
        let e = launch_failure(failure("RequestLimitExceeded", true));
        assert!(matches!(e, Ec2Failure::Fatal(ref e) if e.retryable() && e.code() == "RequestLimitExceeded"), "{e:?}");
        let e = launch_failure(failure("InvalidLaunchTemplateId.NotFound", false));
        assert!(matches!(e, Ec2Failure::Fatal(CloudError::Permanent { .. })), "{e:?}");
    }
}
