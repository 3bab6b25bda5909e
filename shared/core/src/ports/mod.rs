//! Ports: one trait per capability the engine needs, with only the methods it calls. The AWS,
//! kube and Slack adapters implement them in `autoscaler-adapters`; `crate::memory` implements
//! them in memory for tests and the simulator. No I/O here, only the contracts.

mod cloud;
mod cluster;
mod notifier;
mod queue;
mod store;

pub use cloud::{Cloud, CloudError, Instance, LaunchRequest, LaunchResult};
pub use cluster::{Cluster, ClusterError, Eviction};
pub use notifier::{Metrics, Notifier};
pub use queue::{OutgoingMessage, Queue, QueueError};
pub use store::{DecisionRecord, Lease, StateStore, StoreError};

use crate::time::Timestamp;

/// The source of "now". Real time in the services, simulated time in the simulator.
pub trait Clock: Send + Sync {
    /// The current instant.
    fn now(&self) -> Timestamp;
}

/// A boxed error cause, kept as `#[source]` so the chain prints once.
pub type Cause = Box<dyn std::error::Error + Send + Sync + 'static>;
