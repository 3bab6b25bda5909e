//! Building the scaler's engine from the environment: every setting read and validated once at
//! start, each error naming the variable or parameter. The clients are built once per process.

use anyhow::Context;
pub use autoscaler_adapters::env::{AnyNotifier, SystemClock, aws, kube, notifier, opt, policy, var};
use autoscaler_adapters::{
    dynamo::DynamoStateStore,
    ec2::{DEFAULT_LAUNCH_TEMPLATE_VERSION, Ec2Cloud, Ec2Settings},
    emf::EmfMetrics,
    ssm::SsmParameters,
};
use autoscaler_core::{
    ClusterId,
    engine::{Engine, Settings},
};

/// The engine on DynamoDB, EC2 and the K3s API.
pub type RealEngine<K> = Engine<DynamoStateStore, Ec2Cloud, K, AnyNotifier, EmfMetrics, SystemClock>;

/// The EC2 port for `cluster` from `LAUNCH_TEMPLATE_ID`, `LAUNCH_TEMPLATE_VERSION` and
/// `SUBNETS`, and the worker zones the subnets name.
pub fn ec2_cloud(
    sdk: &aws_config::SdkConfig,
    cluster: &ClusterId,
    instance_types: &[String],
) -> anyhow::Result<(Ec2Cloud, Vec<String>)> {
    let subnets: autoscaler_adapters::ec2::Subnets =
        var("SUBNETS")?.parse().map_err(|e| anyhow::anyhow!("SUBNETS: {e}"))?;
    let zones = subnets.zones().map(str::to_owned).collect();
    let ec2 = Ec2Cloud::new(
        // Capacity and quota answers to RunInstances are final: the adapter moves to the next pool.
        autoscaler_adapters::ec2::client(sdk),
        Ec2Settings {
            cluster: cluster.clone(),
            launch_template_id: var("LAUNCH_TEMPLATE_ID")?,
            launch_template_version: opt("LAUNCH_TEMPLATE_VERSION")
                .unwrap_or_else(|| DEFAULT_LAUNCH_TEMPLATE_VERSION.to_owned()),
            subnets,
            instance_types: instance_types.to_vec(),
        },
    );
    Ok((ec2, zones))
}

/// Builds the engine with the given cluster port.
pub async fn engine<K: autoscaler_core::ports::Cluster>(
    sdk: &aws_config::SdkConfig,
    cluster_port: K,
    ssm: &SsmParameters,
    owner: String,
) -> anyhow::Result<RealEngine<K>> {
    let cluster = ClusterId::new(var("CLUSTER_ID")?).context("CLUSTER_ID")?;
    let table = var("STATE_TABLE")?;
    let policy = policy(ssm).await?;
    let (ec2, zones) = ec2_cloud(sdk, &cluster, &policy.worker.instance_types)?;
    let store = DynamoStateStore::new(aws_sdk_dynamodb::Client::new(sdk), table);
    let region = sdk.region().map(ToString::to_string);
    let notifier = notifier(ssm, region).await?;
    let settings = Settings::new(cluster, policy, owner, zones);
    Ok(Engine::new(store, ec2, cluster_port, notifier, EmfMetrics::stdout(), SystemClock, settings))
}
