//! The webhook binary: under Lambda (`AWS_LAMBDA_RUNTIME_API` set) it serves the Function URL,
//! otherwise it is a standalone server (`webhook --listen ... --queue-url ... --token-file ...`).
//! Reads its settings, builds the SQS client once and runs `webhook::app`.

use std::sync::Arc;

use anyhow::Context as _;
use autoscaler_adapters::{aws, sqs::SqsQueue, ssm::SsmParameters};
use clap::Parser as _;
use tracing::info;
use webhook::{
    AppState, app,
    config::{self, Args},
};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    init_tracing();
    let result = if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some() {
        lambda().await
    } else {
        standalone(Args::parse()).await
    };
    if let Err(e) = &result {
        tracing::error!(error = format!("{e:#}"), "Webhook stopped.");
    }
    result
}

async fn lambda() -> anyhow::Result<()> {
    let settings = config::Lambda::from_env(|k| std::env::var(k).ok())?;
    let sdk = aws::load().await;
    let secret = SsmParameters::new(aws_sdk_ssm::Client::new(&sdk)).get(&settings.token_parameter).await?;
    let token = config::token_from_parameter(&settings.token_parameter, &secret)?;
    let queue = SqsQueue::new(aws_sdk_sqs::Client::new(&sdk), &settings.queue_url);
    info!(queue_url = settings.queue_url, cluster = %settings.cluster, "Webhook starting under Lambda.");
    let state = AppState::new(Arc::new(queue), token, Some(settings.cluster));
    lambda_http::run(app(state)).await.map_err(|e| anyhow::anyhow!("running the Lambda handler: {e}"))
}

async fn standalone(args: Args) -> anyhow::Result<()> {
    let settings = args.settings(std::env::var("WEBHOOK_TOKEN").ok())?;
    let sdk = aws::load().await;
    let queue = SqsQueue::new(aws_sdk_sqs::Client::new(&sdk), &settings.queue_url);
    let listener = tokio::net::TcpListener::bind(settings.listen)
        .await
        .with_context(|| format!("listening on {}", settings.listen))?;
    info!(listen = %settings.listen, queue_url = settings.queue_url, "Webhook listening.");
    let state = AppState::new(Arc::new(queue), settings.token, settings.default_cluster);
    axum::serve(listener, app(state)).with_graceful_shutdown(shutdown()).await.context("serving HTTP")
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {}
    }
    info!("Webhook shutting down.");
}

/// JSON lines on stdout (CloudWatch Logs under Lambda), filtered by `RUST_LOG` (default `info`).
fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt().json().flatten_event(true).with_current_span(false).with_env_filter(filter).init();
}
