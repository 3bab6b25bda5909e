//! The cloud port: EC2 launches and terminations of this cluster's workers.

use std::future::Future;

use serde::{Deserialize, Serialize};

use super::Cause;
use crate::{InstanceId, Lifecycle, signal::InstanceState, time::Timestamp};

/// An EC2 instance tagged as one of this cluster's workers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Instance {
    /// Its id (and node name).
    pub id: InstanceId,
    /// Availability zone.
    pub zone: String,
    /// Instance type.
    pub instance_type: String,
    /// Spot or on-demand.
    pub lifecycle: Lifecycle,
    /// EC2 state.
    pub state: InstanceState,
    /// When it was launched.
    pub launched_at: Timestamp,
    /// The operation that launched it (`k3s-autoscaler/operation` tag).
    pub operation: Option<String>,
}

/// A request to launch workers for one operation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LaunchRequest {
    /// The operation; tagged on the instances and the base of the EC2 `ClientToken`, so a retried
    /// launch returns the same instances instead of new ones.
    pub operation_id: String,
    /// How many on-demand workers.
    pub on_demand: u32,
    /// How many Spot workers (falls back to on-demand when Spot has no capacity).
    pub spot: u32,
    /// Zones in order of preference (fewest workers first).
    pub zones: Vec<String>,
    /// Instance types in order of preference.
    pub instance_types: Vec<String>,
    /// Zone + type pairs to avoid (a Spot replacement avoids the interrupted pool).
    #[serde(default)]
    pub avoid: Vec<(String, String)>,
}

impl LaunchRequest {
    /// Workers requested in total.
    pub fn count(&self) -> u32 {
        self.on_demand + self.spot
    }
}

/// What a launch achieved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LaunchResult {
    /// The instances now running for the operation (including ones launched by an earlier try).
    pub instances: Vec<Instance>,
    /// Capacity errors met and routed around (`InsufficientInstanceCapacity in us-east-1a for t3.small`).
    pub fallbacks: Vec<String>,
}

/// Why an EC2 call failed, classified by its error code.
#[derive(Debug, thiserror::Error)]
pub enum CloudError {
    /// InstanceLimitExceeded, VcpuLimitExceeded…: fail the operation, notify, back off. No retry loop.
    #[error("launching workers: quota exceeded ({code})")]
    Quota {
        /// The EC2 error code.
        code: String,
    },
    /// No zone, type or purchase option had capacity.
    #[error("launching workers: no capacity in any zone or instance type ({codes})")]
    NoCapacity {
        /// The codes met, comma-separated.
        codes: String,
    },
    /// The instance is not tagged as this cluster's; nothing was done.
    #[error("refusing to terminate {id}: not tagged as a worker of this cluster")]
    NotOurs {
        /// The instance.
        id: InstanceId,
    },
    /// RequestLimitExceeded, 5xx, timeouts: retry with backoff.
    #[error("{operation} on EC2 ({code})")]
    Transient {
        /// What was attempted.
        operation: &'static str,
        /// The EC2 error code, or `timeout`/`io`.
        code: String,
        /// Why.
        #[source]
        source: Cause,
    },
    /// Anything else (bad launch template, access denied): an operator must act.
    #[error("{operation} on EC2 ({code})")]
    Permanent {
        /// What was attempted.
        operation: &'static str,
        /// The EC2 error code.
        code: String,
        /// Why.
        #[source]
        source: Cause,
    },
}

impl CloudError {
    /// Whether retrying the message later can succeed.
    pub fn retryable(&self) -> bool {
        matches!(self, CloudError::Transient { .. })
    }

    /// The EC2 error code, for notifications and metrics.
    pub fn code(&self) -> &str {
        match self {
            CloudError::Quota { code } | CloudError::Transient { code, .. } | CloudError::Permanent { code, .. } => {
                code
            }
            CloudError::NoCapacity { .. } => "InsufficientInstanceCapacity",
            CloudError::NotOurs { .. } => "NotOurs",
        }
    }
}

/// EC2, limited to this cluster's workers.
pub trait Cloud: Send + Sync {
    /// Instances tagged for this cluster that are not terminated.
    fn instances(&self) -> impl Future<Output = Result<Vec<Instance>, CloudError>> + Send;

    /// Launches the request's workers (idempotent per operation id), with zone, type and
    /// purchase-option fallback on capacity errors.
    fn launch(&self, request: &LaunchRequest) -> impl Future<Output = Result<LaunchResult, CloudError>> + Send;

    /// Terminates one instance, only if it carries this cluster's tag. Terminating an instance
    /// that is already gone succeeds.
    fn terminate(&self, id: &InstanceId) -> impl Future<Output = Result<(), CloudError>> + Send;
}
