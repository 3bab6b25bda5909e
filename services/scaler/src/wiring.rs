//! Building the engine from the environment: every setting read and validated once at start,
//! each error naming the variable or parameter. The clients are built once per process.

use std::time::Duration;

use anyhow::{Context, bail};
use autoscaler_adapters::{
    aws,
    dynamo::DynamoStateStore,
    ec2::{DEFAULT_LAUNCH_TEMPLATE_VERSION, Ec2Cloud, Ec2Settings},
    emf::EmfMetrics,
    kube::{KubeCluster, KubeCredentials},
    slack::{LogNotifier, LogsLocation, SlackNotifier, SlackSettings},
    ssm::SsmParameters,
};
use autoscaler_core::{
    ClusterId, Policy,
    engine::{Engine, Settings},
    notification::Notification,
    ports::{Clock, Notifier},
    time::Timestamp,
};

/// The real clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// Slack when a webhook is configured, else one log line per notification.
#[derive(Debug)]
pub enum AnyNotifier {
    /// Slack incoming webhook.
    Slack(Box<SlackNotifier<EmfMetrics>>),
    /// Structured log lines.
    Log(LogNotifier),
}

impl Notifier for AnyNotifier {
    async fn notify(&self, n: &Notification) {
        match self {
            AnyNotifier::Slack(s) => s.notify(n).await,
            AnyNotifier::Log(l) => l.notify(n).await,
        }
    }
}

/// Reads a required environment variable.
pub fn var(name: &str) -> anyhow::Result<String> {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => Ok(v),
        _ => bail!("environment variable {name} must be set"),
    }
}

/// Reads an optional environment variable.
pub fn opt(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// The engine on DynamoDB, EC2 and the K3s API.
pub type RealEngine<K> = Engine<DynamoStateStore, Ec2Cloud, K, AnyNotifier, EmfMetrics, SystemClock>;

/// Loads the policy: `POLICY_PARAMETER` (SSM) or `POLICY_FILE`, else the built-in defaults.
pub async fn policy(ssm: &SsmParameters) -> anyhow::Result<Policy> {
    let (text, source) = if let Some(name) = opt("POLICY_PARAMETER") {
        (ssm.get(&name).await.with_context(|| format!("reading the policy from SSM parameter {name}"))?, name)
    } else if let Some(path) = opt("POLICY_FILE") {
        (std::fs::read_to_string(&path).with_context(|| format!("reading POLICY_FILE {path}"))?, path)
    } else {
        return Ok(Policy::default());
    };
    Policy::from_yaml(&text).with_context(|| format!("policy from {source}"))
}

/// The K3s API: from SSM parameters in AWS, or from `KUBE_API_URL` + `KUBE_TOKEN_FILE` +
/// `KUBE_CA_FILE` locally.
pub async fn kube(ssm: &SsmParameters) -> anyhow::Result<KubeCluster> {
    let (api_url, token, ca_pem) = if let Some(p) = opt("KUBE_API_URL_PARAMETER") {
        let token_p = var("KUBE_TOKEN_PARAMETER")?;
        let ca_p = var("KUBE_CA_PARAMETER")?;
        (
            ssm.get(&p).await.with_context(|| format!("reading SSM parameter {p}"))?,
            ssm.get(&token_p).await.with_context(|| format!("reading SSM parameter {token_p}"))?,
            ssm.get(&ca_p).await.with_context(|| format!("reading SSM parameter {ca_p}"))?,
        )
    } else {
        let file = |v: &str| -> anyhow::Result<String> {
            let path = var(v)?;
            std::fs::read_to_string(&path).with_context(|| format!("reading {v} {path}"))
        };
        (var("KUBE_API_URL")?, file("KUBE_TOKEN_FILE")?.trim().to_owned(), file("KUBE_CA_FILE")?)
    };
    let creds = KubeCredentials {
        api_url,
        token,
        ca_pem,
        connect_timeout: Duration::from_secs(3),
        read_timeout: Duration::from_secs(8),
    };
    KubeCluster::connect(&creds).context("connecting to the K3s API")
}

/// The notifier: Slack when `SLACK_WEBHOOK_PARAMETER` names an existing parameter.
pub async fn notifier(ssm: &SsmParameters, region: Option<String>) -> anyhow::Result<AnyNotifier> {
    let url = match opt("SLACK_WEBHOOK_PARAMETER") {
        Some(name) => ssm.get_optional(&name).await.with_context(|| format!("reading SSM parameter {name}"))?,
        None => opt("SLACK_WEBHOOK_URL"),
    };
    let Some(url) = url else { return Ok(AnyNotifier::Log(LogNotifier)) };
    let logs = region
        .zip(opt("AWS_LAMBDA_LOG_GROUP_NAME"))
        .map(|(region, group)| LogsLocation { region, log_groups: vec![group] });
    let settings = SlackSettings { logs, ..SlackSettings::default() };
    let slack = SlackNotifier::new(&url, settings, EmfMetrics::stdout()).context("building the Slack notifier")?;
    Ok(AnyNotifier::Slack(Box::new(slack)))
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
    let subnets: autoscaler_adapters::ec2::Subnets =
        var("SUBNETS")?.parse().map_err(|e| anyhow::anyhow!("SUBNETS: {e}"))?;
    let policy = policy(ssm).await?;
    let zones: Vec<String> = subnets.zones().map(str::to_owned).collect();
    let ec2 = Ec2Cloud::new(
        aws_sdk_ec2::Client::new(sdk),
        Ec2Settings {
            cluster: cluster.clone(),
            launch_template_id: var("LAUNCH_TEMPLATE_ID")?,
            launch_template_version: opt("LAUNCH_TEMPLATE_VERSION")
                .unwrap_or_else(|| DEFAULT_LAUNCH_TEMPLATE_VERSION.to_owned()),
            subnets,
            instance_types: policy.worker.instance_types.clone(),
        },
    );
    let store = DynamoStateStore::new(aws_sdk_dynamodb::Client::new(sdk), table);
    let region = sdk.region().map(ToString::to_string);
    let notifier = notifier(ssm, region).await?;
    let settings = Settings::new(cluster, policy, owner, zones);
    Ok(Engine::new(store, ec2, cluster_port, notifier, EmfMetrics::stdout(), SystemClock, settings))
}

/// Builds the SDK configuration and the SSM reader once.
pub async fn aws() -> (aws_config::SdkConfig, SsmParameters) {
    let sdk = aws::load().await;
    let ssm = SsmParameters::new(aws_sdk_ssm::Client::new(&sdk));
    (sdk, ssm)
}
