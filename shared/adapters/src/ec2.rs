//! `Ec2Cloud`: the `Cloud` port on EC2, limited to this cluster's workers — listed by the
//! `k3s-autoscaler/cluster` tag, launched through the worker launch template with per-attempt
//! subnet and instance type, terminated only when tagged as ours. Only EC2 calls live here.

mod describe;
mod failure;
mod launch;
mod plan;
mod retry;
mod subnets;
mod terminate;

pub use retry::{client, with_launch_retry_rule};
pub use subnets::Subnets;

use autoscaler_core::{
    ClusterId, InstanceId,
    ports::{Cloud, CloudError, Instance, LaunchRequest, LaunchResult},
};
use aws_sdk_ec2::Client;

/// Tag: the cluster a worker belongs to.
pub const CLUSTER_TAG: &str = "k3s-autoscaler/cluster";
/// Tag: launched by the autoscaler (`true`); only such instances are ever terminated.
pub const MANAGED_TAG: &str = "k3s-autoscaler/managed";
/// Tag: the operation that launched the worker.
pub const OPERATION_TAG: &str = "k3s-autoscaler/operation";

/// The launch template version used unless `LAUNCH_TEMPLATE_VERSION` says otherwise.
pub const DEFAULT_LAUNCH_TEMPLATE_VERSION: &str = "$Latest";

/// What `Ec2Cloud` needs besides its client.
#[derive(Debug, Clone)]
pub struct Ec2Settings {
    /// The cluster (`k3s-autoscaler/cluster` tag value).
    pub cluster: ClusterId,
    /// The worker launch template (`LAUNCH_TEMPLATE_ID`).
    pub launch_template_id: String,
    /// Its version (`LAUNCH_TEMPLATE_VERSION`, default `$Latest`).
    pub launch_template_version: String,
    /// Worker subnets by zone (`SUBNETS`).
    pub subnets: Subnets,
    /// Instance types in order of preference, used when a request names none.
    pub instance_types: Vec<String>,
}

/// The cloud port on EC2.
#[derive(Debug, Clone)]
pub struct Ec2Cloud {
    client: Client,
    cluster: ClusterId,
    launch_template_id: String,
    launch_template_version: String,
    subnets: Subnets,
    instance_types: Vec<String>,
}

impl Ec2Cloud {
    /// The cloud port through `client` (built with [`client`], so capacity answers are not
    /// retried in the same pool) with `settings`.
    pub fn new(client: Client, settings: Ec2Settings) -> Self {
        let Ec2Settings { cluster, launch_template_id, launch_template_version, subnets, instance_types } = settings;
        Self { client, cluster, launch_template_id, launch_template_version, subnets, instance_types }
    }
}

impl Cloud for Ec2Cloud {
    async fn instances(&self) -> Result<Vec<Instance>, CloudError> {
        self.tagged(None).await
    }

    async fn launch(&self, request: &LaunchRequest) -> Result<LaunchResult, CloudError> {
        self.launch_workers(request).await
    }

    async fn terminate(&self, id: &InstanceId) -> Result<(), CloudError> {
        self.terminate_worker(id).await
    }
}
