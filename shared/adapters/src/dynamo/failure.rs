//! Classification of DynamoDB failures into `StoreError`: throttling, 5xx, timeouts and
//! transaction conflicts are transient; a missing table, access denied and validation errors are
//! permanent; a failed condition is decided by the caller (lease held, conflict). Pure.

use autoscaler_core::{ClusterId, ports::StoreError};
use aws_sdk_dynamodb::types::CancellationReason;
use aws_smithy_runtime_api::client::{orchestrator::HttpResponse, result::SdkError};
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use crate::error::SdkFailure;

/// DynamoDB codes worth retrying beyond the common throttling and server codes.
const TRANSIENT: &[&str] = &[
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "InternalServerError",
    "TransactionInProgressException",
    "TransactionConflictException",
    "ReplicatedWriteConflictException",
];

/// Cancellation reason codes (TransactWriteItems) worth retrying.
const TRANSIENT_REASONS: &[&str] =
    &["TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded", "RequestLimitExceeded"];

/// `err` as a transient or permanent store error of `operation`.
pub(crate) fn store_error<E>(operation: &'static str, err: SdkError<E, HttpResponse>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    from_failure(operation, SdkFailure::new(err, TRANSIENT))
}

/// A reduced failure as a store error.
pub(crate) fn from_failure(operation: &'static str, failure: SdkFailure) -> StoreError {
    tracing::debug!(operation, code = %failure.code, transient = failure.transient, "DynamoDB call failed.");
    if failure.transient {
        StoreError::Transient { operation, source: failure.cause() }
    } else {
        StoreError::Permanent { operation, source: failure.cause() }
    }
}

/// Corrupt data in the table: an operator must look.
pub(crate) fn corrupt(operation: &'static str, what: String) -> StoreError {
    StoreError::Permanent { operation, source: SdkFailure::malformed(what).cause() }
}

/// A cancelled save transaction. Its reasons are in item order: `[STATE update, MSG put]`.
/// A failed condition on either item is a `Conflict`: on the state it means the version moved or
/// the lease was taken over; on the message record it means the message was already processed,
/// and the retried message is then recognised by `seen` and acknowledged without acting.
pub(crate) fn cancelled(cluster: &ClusterId, expected: u64, reasons: &[CancellationReason]) -> StoreError {
    let codes: Vec<&str> = reasons.iter().filter_map(|r| r.code()).filter(|c| *c != "None").collect();
    if codes.contains(&"ConditionalCheckFailed") {
        let message_recorded = reasons.get(1).and_then(|r| r.code()) == Some("ConditionalCheckFailed");
        let state_moved = reasons.first().and_then(|r| r.code()) == Some("ConditionalCheckFailed");
        tracing::info!(cluster = %cluster, expected, state_moved, message_recorded, "State save refused.");
        return StoreError::Conflict { cluster: cluster.clone(), expected };
    }
    let transient = codes.iter().any(|c| TRANSIENT_REASONS.contains(c));
    let reasons = format!("cancellation reasons: {}", codes.join(", "));
    from_failure("saving the cluster state", SdkFailure::described("TransactionCanceledException", transient, reasons))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reasons(codes: &[&str]) -> Vec<CancellationReason> {
        codes.iter().map(|c| CancellationReason::builder().code(*c).build()).collect()
    }

    #[test]
    fn a_failed_condition_on_either_item_is_a_conflict() {
        let cluster = ClusterId::new("prod").unwrap();
        for codes in
            [&["ConditionalCheckFailed", "None"][..], &["None", "ConditionalCheckFailed"], &["ConditionalCheckFailed"]]
        {
            assert!(
                matches!(cancelled(&cluster, 3, &reasons(codes)), StoreError::Conflict { expected: 3, .. }),
                "{codes:?}"
            );
        }
    }

    #[test]
    fn conflicts_between_transactions_are_transient_and_validation_is_permanent() {
        let cluster = ClusterId::new("prod").unwrap();
        assert!(matches!(
            cancelled(&cluster, 1, &reasons(&["TransactionConflict", "None"])),
            StoreError::Transient { .. }
        ));
        assert!(matches!(cancelled(&cluster, 1, &reasons(&["None", "ThrottlingError"])), StoreError::Transient { .. }));
        let e = cancelled(&cluster, 1, &reasons(&["ValidationError", "None"]));
        assert!(matches!(e, StoreError::Permanent { .. }));
        assert_eq!(
            std::error::Error::source(&e).unwrap().to_string(),
            "TransactionCanceledException: cancellation reasons: ValidationError"
        );
    }
}
