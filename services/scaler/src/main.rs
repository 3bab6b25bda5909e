//! `scaler`: the SQS FIFO consumer Lambda (when the Lambda runtime variables are present), or a
//! local long-polling consumer (`scaler --poll QUEUE_URL`) calling the same batch handler.
//! Thin: reads configuration, sets up logging, builds clients once, runs.

use anyhow::Context;
use autoscaler_adapters::sqs::SqsConsumer;
use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use clap::Parser;
use lambda_runtime::{LambdaEvent, service_fn};
use scaler::{
    batch::{self, Record},
    mirror::MirrorCluster,
    poller, wiring,
};
use tracing::info;

#[derive(Debug, Parser)]
#[command(name = "scaler", about = "k3s-autoscaler's SQS FIFO consumer (Lambda, or a local poller)")]
struct Args {
    /// Poll this queue locally instead of running as a Lambda.
    #[arg(long, value_name = "QUEUE_URL")]
    poll: Option<String>,
    /// With --poll: use a simulated cluster that mirrors the cloud's running instances as Ready
    /// nodes, instead of a K3s API (local end-to-end tests only).
    #[arg(long, requires = "poll")]
    simulated_cluster: bool,
    /// With --poll: stop after this many messages (tests and benchmarks).
    #[arg(long, requires = "poll")]
    max_messages: Option<usize>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_current_span(false)
        .init();
    let args = Args::parse();
    let (sdk, ssm) = wiring::aws().await;
    let owner = std::env::var("AWS_LAMBDA_LOG_STREAM_NAME").unwrap_or_else(|_| format!("local-{}", std::process::id()));
    match args.poll {
        Some(queue_url) if args.simulated_cluster => {
            // The simulated cluster mirrors the same EC2 view the engine launches through.
            let cluster = autoscaler_core::ClusterId::new(wiring::var("CLUSTER_ID")?).context("CLUSTER_ID")?;
            let (ec2, _) = wiring::ec2_cloud(&sdk, &cluster, &[])?;
            let engine = wiring::engine(&sdk, MirrorCluster::new(ec2), &ssm, owner).await?;
            poll(&sdk, &queue_url, &engine, args.max_messages).await
        }
        Some(queue_url) => {
            let engine = wiring::engine(&sdk, wiring::kube(&ssm).await?, &ssm, owner).await?;
            poll(&sdk, &queue_url, &engine, args.max_messages).await
        }
        None => {
            let engine = wiring::engine(&sdk, wiring::kube(&ssm).await?, &ssm, owner).await?;
            let engine = &engine;
            lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
                Ok::<_, lambda_runtime::Error>(handle(engine, event.payload).await)
            }))
            .await
            .map_err(|e| anyhow::anyhow!("lambda runtime: {e}"))
        }
    }
}

/// The Lambda handler: the batch rule over the event's records.
async fn handle<H: batch::Handler>(engine: &H, event: SqsEvent) -> SqsBatchResponse {
    let records: Vec<Record> = event
        .records
        .into_iter()
        .map(|r| Record {
            message_id: r.message_id.unwrap_or_default(),
            group_id: r.attributes.get("MessageGroupId").cloned().unwrap_or_default(),
            body: r.body.unwrap_or_default(),
        })
        .collect();
    let failed = batch::process(engine, &records).await;
    let mut response = SqsBatchResponse::default();
    response.batch_item_failures = failed
        .into_iter()
        .map(|id| {
            let mut f = BatchItemFailure::default();
            f.item_identifier = id;
            f
        })
        .collect();
    response
}

/// The local poller over `queue_url`.
async fn poll<H: batch::Handler>(
    sdk: &aws_config::SdkConfig,
    queue_url: &str,
    engine: &H,
    max: Option<usize>,
) -> anyhow::Result<()> {
    info!(queue_url, "Polling.");
    poller::poll(&SqsConsumer::new(aws_sdk_sqs::Client::new(sdk), queue_url), engine, max).await
}
