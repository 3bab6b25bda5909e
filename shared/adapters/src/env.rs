//! Service start-up helpers shared by the deployables: environment variables read once and
//! named in every error, the policy, the K3s credentials and the Slack webhook from SSM, the
//! real clock. Used only by `main`s.

use std::time::Duration;

use anyhow::{Context, bail};
use autoscaler_core::{
    Policy,
    notification::Notification,
    ports::{Clock, Notifier},
    time::Timestamp,
};

use crate::{
    aws,
    emf::EmfMetrics,
    kube::{KubeCluster, KubeCredentials},
    slack::{LogNotifier, LogsLocation, SlackNotifier, SlackSettings},
    ssm::SsmParameters,
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

/// Builds the SDK configuration and the SSM reader once.
pub async fn aws() -> (aws_config::SdkConfig, SsmParameters) {
    let sdk = aws::load().await;
    let ssm = SsmParameters::new(aws_sdk_ssm::Client::new(&sdk));
    (sdk, ssm)
}
