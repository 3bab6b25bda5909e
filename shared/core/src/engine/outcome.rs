//! What became of a message (`Outcome`), why it could not be processed now (`EngineError`), and
//! the step boundaries where tests inject a crash. Plain data, no I/O.

use crate::{
    Decision,
    ports::{CloudError, ClusterError, StoreError},
};

/// The step boundaries of one message, where a crash can be injected in tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Step {
    /// After the idempotency check.
    AfterSeen,
    /// After taking the lease.
    AfterLease,
    /// After reading state, EC2 and K3s.
    AfterObserve,
    /// After persisting an operation's intent, before acting on it.
    AfterIntent,
    /// After an EC2 or K3s mutation, before persisting its result.
    AfterAct,
    /// Before the final conditional save.
    BeforePersist,
    /// After the save, before releasing the lease.
    AfterPersist,
    /// After releasing the lease, before notifying.
    AfterRelease,
}

impl Step {
    /// Every step boundary, in order.
    pub const ALL: [Step; 8] = [
        Step::AfterSeen,
        Step::AfterLease,
        Step::AfterObserve,
        Step::AfterIntent,
        Step::AfterAct,
        Step::BeforePersist,
        Step::AfterPersist,
        Step::AfterRelease,
    ];
}

/// What became of a message.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Acted on (or decided to do nothing); the decision, if one was made, and what was done.
    Processed {
        /// The policy's decision, when the slot was free to make one.
        decision: Option<Decision>,
        /// Mutations issued (`launched 2`, `cordoned i-0ab`, `evicted shop/web-1`…).
        actions: Vec<String>,
    },
    /// Already processed (idempotency record found).
    Duplicate,
    /// Well-formed but not actionable.
    Ignored(String),
    /// Not understood. Acknowledged so it never blocks the cluster; logged and counted.
    Poison(String),
}

/// Why a message could not be processed now. All of these leave the message on the queue to be
/// retried (or, when not retryable, to reach the DLQ after its receive count).
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The state store failed or refused (lease held, version conflict).
    #[error("reading or writing cluster state")]
    Store(#[from] StoreError),
    /// EC2 failed.
    #[error("calling EC2")]
    Cloud(#[from] CloudError),
    /// The K3s API failed.
    #[error("calling the K3s API")]
    Cluster(#[from] ClusterError),
    /// A test hook stopped the engine here, as if the invocation died.
    #[error("crash injected at {0:?}")]
    Crashed(Step),
}

impl EngineError {
    /// Whether a later retry can succeed (the partial-batch response and backoff follow).
    pub fn retryable(&self) -> bool {
        match self {
            EngineError::Store(e) => e.retryable(),
            EngineError::Cloud(e) => e.retryable(),
            EngineError::Cluster(e) => e.retryable(),
            EngineError::Crashed(_) => true,
        }
    }
}
