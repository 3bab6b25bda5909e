//! One cluster's alert path on a moto server, wired as deployed: its SQS FIFO queue, the webhook
//! app serving in process on 127.0.0.1 with an in-memory token, and the real engine (DynamoDB
//! state, EC2 through the worker launch template, the shipped `infra/policy.yaml`) over the
//! mirrored cluster, consumed by the scaler's local poller.

use std::{net::SocketAddr, sync::Arc};

use autoscaler_adapters::{
    dynamo::DynamoStateStore,
    ec2::{DEFAULT_LAUNCH_TEMPLATE_VERSION, Ec2Cloud, Ec2Settings, Subnets},
    emf::EmfMetrics,
    env::{AnyNotifier, SystemClock},
    slack::LogNotifier,
    sqs::{SqsConsumer, SqsQueue},
};
use autoscaler_core::{
    ClusterId, Policy,
    engine::{Engine, Settings},
    ports::Clock,
};
use autoscaler_testkit::{
    Moto,
    dynamo::create_state_table,
    ec2::{Network, network},
    unique,
};
use aws_config::SdkConfig;
use aws_sdk_sqs::types::QueueAttributeName;
use scaler::{
    mirror::MirrorCluster,
    poller::{Round, poll_once},
    wiring::RealEngine,
};
use serde_json::{Value, json};
use webhook::{AppState, Token, app};

/// The bearer token the webhook expects.
pub const TOKEN: &str = "e2e-token-0123456789abcdef";

/// A HighCPU notification captured from the real Prometheus and Alertmanager.
const FIXTURE: &str = include_str!("../../../../tests/fixtures/alertmanager/highcpu-firing.json");

/// The policy the stack deploys.
const POLICY: &str = include_str!("../../../../infra/policy.yaml");

/// The engine as the scaler's local poller builds it with `--simulated-cluster`.
pub type MirroredEngine = RealEngine<MirrorCluster<Ec2Cloud>>;

/// What every cluster of a run shares on one moto server: the state table and the worker network.
#[derive(Debug)]
pub struct Aws {
    /// SDK configuration pointed at moto.
    pub sdk: SdkConfig,
    /// The state table.
    pub table: String,
    /// VPC, subnets in two zones, the worker launch template.
    pub network: Network,
    /// Clients for looking at what happened.
    pub ec2: aws_sdk_ec2::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub dynamodb: aws_sdk_dynamodb::Client,
}

impl Aws {
    /// Creates the state table and the worker network in `moto`.
    pub async fn provision(moto: &Moto) -> Aws {
        let sdk = moto.sdk_config();
        let table = unique("state");
        let dynamodb = create_state_table(&sdk, &table).await;
        let network = network(&sdk, &unique("workers")).await;
        let ec2 = aws_sdk_ec2::Client::new(&sdk);
        let sqs = aws_sdk_sqs::Client::new(&sdk);
        Aws { sdk, table, network, ec2, sqs, dynamodb }
    }
}

/// One cluster's queue, webhook, engine and poller. The webhook stops when this is dropped.
#[derive(Debug)]
pub struct Rig {
    /// The cluster.
    pub cluster: ClusterId,
    /// Its FIFO queue.
    pub queue_url: String,
    /// Where the webhook listens.
    pub webhook: SocketAddr,
    /// The engine the poller runs.
    pub engine: MirroredEngine,
    consumer: SqsConsumer,
    http: reqwest::Client,
    server: tokio::task::JoinHandle<()>,
}

impl Rig {
    /// Creates `cluster`'s queue, starts its webhook and builds its engine; the engine's metric
    /// lines go to `metrics`.
    pub async fn start(aws: &Aws, cluster: &str, metrics: EmfMetrics) -> Rig {
        Self::start_with_clock(aws, cluster, metrics, Arc::new(webhook::SystemClock)).await
    }

    /// `start` with the webhook stamping `received_at` from `clock` (the minute of receipt is
    /// part of an alert's message id).
    pub async fn start_with_clock(aws: &Aws, cluster: &str, metrics: EmfMetrics, clock: Arc<dyn Clock>) -> Rig {
        let cluster = ClusterId::new(cluster).expect("a valid cluster id");
        let queue_url = fifo_queue(&aws.sqs, &cluster).await;
        let queue = SqsQueue::new(aws.sqs.clone(), &queue_url);
        let state =
            AppState::new(Arc::new(queue), Token::new(TOKEN).expect("token"), Some(cluster.clone())).with_clock(clock);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("binding the webhook");
        let webhook = listener.local_addr().expect("webhook address");
        let server = tokio::spawn(async move { axum::serve(listener, app(state)).await.expect("webhook server") });
        let http = reqwest::Client::builder().no_proxy().build().expect("HTTP client");
        Rig {
            engine: engine(aws, &cluster, metrics),
            consumer: SqsConsumer::new(aws.sqs.clone(), &queue_url),
            cluster,
            queue_url,
            webhook,
            http,
            server,
        }
    }

    /// POSTs `body` to the webhook as Alertmanager does; the status and the answer.
    pub async fn post(&self, body: &[u8]) -> (u16, String) {
        let answer = self
            .http
            .post(format!("http://{}/alertmanager", self.webhook))
            .bearer_auth(TOKEN)
            .header("content-type", "application/json")
            .body(body.to_vec())
            .send()
            .await
            .expect("POST /alertmanager");
        let status = answer.status().as_u16();
        (status, answer.text().await.unwrap_or_default())
    }

    /// One round of the scaler's local poller, long-polling up to `wait_seconds`.
    pub async fn poll_once(&self, wait_seconds: i32) -> Round {
        poll_once(&self.consumer, &self.engine, wait_seconds).await.expect("a poller round")
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// `<cluster>-autoscaler.fifo` as the template creates it: content-based deduplication on
/// (EventBridge targets cannot set a dedup id; the webhook's explicit ids win) and a visibility
/// timeout of 6× the scaler's timeout.
async fn fifo_queue(sqs: &aws_sdk_sqs::Client, cluster: &ClusterId) -> String {
    let out = sqs
        .create_queue()
        .queue_name(format!("{cluster}-autoscaler.fifo"))
        .attributes(QueueAttributeName::FifoQueue, "true")
        .attributes(QueueAttributeName::ContentBasedDeduplication, "true")
        .attributes(QueueAttributeName::VisibilityTimeout, "360")
        .send()
        .await
        .unwrap_or_else(|e| panic!("creating the queue of {cluster}: {e:?}"));
    out.queue_url().expect("queue URL").to_owned()
}

/// The engine as `wiring::engine` builds it, with the values it would read from the
/// environment given directly (the workspace forbids `unsafe`, so tests cannot set variables).
fn engine(aws: &Aws, cluster: &ClusterId, metrics: EmfMetrics) -> MirroredEngine {
    let policy = Policy::from_yaml(POLICY).expect("infra/policy.yaml is valid");
    let subnets: Subnets = aws.network.subnets_setting().parse().expect("the SUBNETS setting");
    let zones = subnets.zones().map(str::to_owned).collect();
    let settings = Ec2Settings {
        cluster: cluster.clone(),
        launch_template_id: aws.network.launch_template_id.clone(),
        launch_template_version: DEFAULT_LAUNCH_TEMPLATE_VERSION.to_owned(),
        subnets,
        instance_types: policy.worker.instance_types.clone(),
    };
    let ec2 = || Ec2Cloud::new(autoscaler_adapters::ec2::client(&aws.sdk), settings.clone());
    Engine::new(
        DynamoStateStore::new(aws_sdk_dynamodb::Client::new(&aws.sdk), &aws.table),
        ec2(),
        MirrorCluster::new(ec2()),
        AnyNotifier::Log(LogNotifier),
        metrics,
        SystemClock,
        Settings::new(cluster.clone(), policy, format!("e2e-{}", std::process::id()), zones),
    )
}

/// The captured HighCPU notification, re-addressed to `cluster` with the given annotations and
/// started `ago_seconds` ago (the engine measures the alert window against its own clock).
pub fn high_cpu(cluster: &ClusterId, cpu_percent: &str, demand_cores: &str, ago_seconds: i64) -> Vec<u8> {
    let mut payload: Value = serde_json::from_str(FIXTURE).expect("the fixture is JSON");
    let starts_at = jiff::Timestamp::now() - jiff::SignedDuration::from_secs(ago_seconds);
    let annotations = json!({
        "cpu_percent": cpu_percent,
        "demand_cores": demand_cores,
        "summary": format!("Average worker CPU {cpu_percent}% has been above 70% for 1m"),
    });
    for alert in payload["alerts"].as_array_mut().expect("alerts") {
        alert["labels"]["cluster"] = json!(cluster.as_str());
        alert["annotations"] = annotations.clone();
        alert["startsAt"] = json!(starts_at.to_string());
    }
    for group in ["groupLabels", "commonLabels"] {
        payload[group]["cluster"] = json!(cluster.as_str());
    }
    payload["commonAnnotations"] = annotations;
    serde_json::to_vec(&payload).expect("serialising the payload")
}
