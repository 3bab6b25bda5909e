//! The pure core of k3s-autoscaler: domain types, configuration, the scaling policy and drain
//! planning. Nothing here performs I/O, reads a clock, or depends on an AWS SDK, kube or an HTTP
//! client; every function takes the time it needs as an argument.

pub mod cluster;
pub mod config;
pub mod decision;
pub mod engine;
pub mod memory;
pub mod message;
pub mod metric;
pub mod node;
pub mod notification;
pub mod operation;
pub mod pdb;
pub mod pod;
pub mod policy;
pub mod ports;
pub mod reconcile;
pub mod resources;
pub mod rules;
pub mod signal;
pub mod sim;
pub mod snapshot;
pub mod state;
pub mod testing;
pub mod time;

pub use cluster::{ClusterId, InstanceId};
pub use config::{ConfigError, Policy};
pub use decision::{Action, Decision};
pub use node::{Lifecycle, Node};
pub use operation::{Operation, OperationKind, Phase};
pub use pdb::{LabelSelector, Pdb};
pub use pod::{OwnerKind, Pod, PodPhase};
pub use resources::Resources;
pub use snapshot::{CpuReading, Snapshot};
pub use state::ClusterState;
