//! The EC2 client with one retry rule added: a capacity or quota answer to RunInstances is final
//! for that attempt. EC2 sends InsufficientInstanceCapacity as HTTP 500, which the SDK would
//! otherwise retry in the same pool with backoff; the adapter moves to the next pool instead, and
//! a quota error must fail at once.

use aws_config::SdkConfig;
use aws_sdk_ec2::{Client, config::Builder, operation::run_instances::RunInstancesError};
use aws_smithy_runtime_api::client::{
    interceptors::context::InterceptorContext,
    retries::classifiers::{ClassifyRetry, RetryAction, RetryClassifierPriority},
};
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use super::failure::is_final_launch_code;

/// The EC2 client for `Ec2Cloud`, built from the shared configuration.
pub fn client(config: &SdkConfig) -> Client {
    Client::from_conf(with_launch_retry_rule(Builder::from(config)).build())
}

/// Adds the rule to a client configuration (tests build theirs around a mock HTTP client).
pub fn with_launch_retry_rule(builder: Builder) -> Builder {
    builder.retry_classifier(CapacityAnswersAreFinal)
}

/// Forbids retrying RunInstances answers that another attempt of the same call cannot change.
#[derive(Debug)]
struct CapacityAnswersAreFinal;

impl ClassifyRetry for CapacityAnswersAreFinal {
    fn classify_retry(&self, ctx: &InterceptorContext) -> RetryAction {
        let code = match ctx.output_or_error() {
            Some(Err(e)) => {
                e.as_operation_error().and_then(|e| e.downcast_ref::<RunInstancesError>()).and_then(|e| e.code())
            }
            _ => None,
        };
        match code {
            Some(code) if is_final_launch_code(code) => RetryAction::RetryForbidden,
            _ => RetryAction::NoActionIndicated,
        }
    }

    fn name(&self) -> &'static str {
        "CapacityAnswersAreFinal"
    }

    fn priority(&self) -> RetryClassifierPriority {
        // Runs after the SDK's own classifiers, so it overrides their "5xx: retry".
        RetryClassifierPriority::run_after(RetryClassifierPriority::transient_error_classifier())
    }
}
