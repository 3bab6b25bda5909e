//! `reconciler`: the scheduled Lambda (EventBridge Scheduler), or `reconciler --once` locally.
//! Thin: reads configuration, builds clients once, runs one pass per invocation.

use anyhow::Context;
use autoscaler_adapters::{
    dynamo::DynamoStateStore,
    ec2::{DEFAULT_LAUNCH_TEMPLATE_VERSION, Ec2Cloud, Ec2Settings, Subnets},
    emf::EmfMetrics,
    env,
    sqs::SqsQueue,
};
use autoscaler_core::{ClusterId, Policy, ports::Clock};
use clap::Parser;
use lambda_runtime::{LambdaEvent, service_fn};
use tracing::info;

#[derive(Debug, Parser)]
#[command(name = "reconciler", about = "k3s-autoscaler's drift finder (Lambda, or one local pass)")]
struct Args {
    /// Run one pass and exit instead of running as a Lambda.
    #[arg(long)]
    once: bool,
}

struct Deps {
    cluster: ClusterId,
    policy: Policy,
    store: DynamoStateStore,
    cloud: Ec2Cloud,
    k3s: autoscaler_adapters::kube::KubeCluster,
    queue: SqsQueue,
    metrics: EmfMetrics,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
    let args = Args::parse();
    let (sdk, ssm) = env::aws().await;
    let cluster = ClusterId::new(env::var("CLUSTER_ID")?).context("CLUSTER_ID")?;
    let policy = env::policy(&ssm).await?;
    // Listing instances needs only the cluster tag; the launch settings are unused here.
    let subnets: Subnets = match env::opt("SUBNETS") {
        Some(s) => s.parse().map_err(|e| anyhow::anyhow!("SUBNETS: {e}"))?,
        None => Subnets::default(),
    };
    let cloud = Ec2Cloud::new(
        aws_sdk_ec2::Client::new(&sdk),
        Ec2Settings {
            cluster: cluster.clone(),
            launch_template_id: env::opt("LAUNCH_TEMPLATE_ID").unwrap_or_default(),
            launch_template_version: DEFAULT_LAUNCH_TEMPLATE_VERSION.to_owned(),
            subnets,
            instance_types: policy.worker.instance_types.clone(),
        },
    );
    let deps = Deps {
        store: DynamoStateStore::new(aws_sdk_dynamodb::Client::new(&sdk), env::var("STATE_TABLE")?),
        queue: SqsQueue::new(aws_sdk_sqs::Client::new(&sdk), env::var("QUEUE_URL")?),
        k3s: env::kube(&ssm).await?,
        metrics: EmfMetrics::stdout(),
        cluster,
        policy,
        cloud,
    };
    if args.once {
        return pass(&deps).await;
    }
    let deps = &deps;
    lambda_runtime::run(service_fn(move |_: LambdaEvent<serde_json::Value>| async move {
        pass(deps).await.map_err(|e| lambda_runtime::Error::from(format!("{e:#}")))
    }))
    .await
    .map_err(|e| anyhow::anyhow!("lambda runtime: {e}"))
}

async fn pass(d: &Deps) -> anyhow::Result<()> {
    let now = env::SystemClock.now();
    let findings = reconciler::run_once(&d.cluster, &d.policy, &d.store, &d.cloud, &d.k3s, &d.queue, &d.metrics, now)
        .await
        .context("reconcile pass")?;
    info!(cluster = %d.cluster, findings = findings.len(), details = findings.join("; "), "Reconcile tick enqueued.");
    Ok(())
}
