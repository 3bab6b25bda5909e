//! Settings of the two run modes, read and validated once at start: the standalone server's
//! command line, and the Lambda's environment (docs/CONTRACTS.md). A bad value fails the start
//! naming the setting; the token itself is never printed.

use std::{net::SocketAddr, path::PathBuf};

use autoscaler_core::ClusterId;

use crate::auth::{Token, TokenError};

/// The standalone server's command line.
#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "webhook",
    about = "Receives Alertmanager webhooks and enqueues them on the cluster's SQS FIFO queue.",
    after_help = "The token comes from --token-file, or else from the WEBHOOK_TOKEN environment variable. \
                  AWS is reached through the standard SDK configuration (AWS_REGION, AWS_ENDPOINT_URL, ...)."
)]
pub struct Args {
    /// Address to listen on.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:9095")]
    pub listen: SocketAddr,
    /// URL of the cluster's SQS FIFO queue.
    #[arg(long, value_name = "URL")]
    pub queue_url: String,
    /// File holding the bearer token Alertmanager presents (surrounding whitespace ignored).
    #[arg(long, value_name = "PATH")]
    pub token_file: Option<PathBuf>,
    /// Cluster of alerts that carry no `cluster` label.
    #[arg(long, value_name = "ID")]
    pub default_cluster: Option<String>,
}

/// The standalone server's validated settings.
#[derive(Debug, Clone)]
pub struct Standalone {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// The queue.
    pub queue_url: String,
    /// The expected token.
    pub token: Token,
    /// Cluster of unlabelled alerts.
    pub default_cluster: Option<ClusterId>,
}

/// The Lambda's validated settings (the token is read from SSM afterwards).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lambda {
    /// `QUEUE_URL`.
    pub queue_url: String,
    /// `TOKEN_PARAMETER`: the SSM SecureString holding the token.
    pub token_parameter: String,
    /// `CLUSTER_ID`: the cluster of unlabelled alerts.
    pub cluster: ClusterId,
}

/// Why the service cannot start.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A required setting is absent or empty.
    #[error("setting {0} is required")]
    Missing(&'static str),
    /// A cluster id is malformed.
    #[error("setting {setting}: {reason}")]
    Invalid {
        /// The setting.
        setting: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The token file could not be read.
    #[error("reading the token file {path}")]
    TokenFile {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The token is unusable.
    #[error("the token from {origin} is unusable")]
    Token {
        /// Where it came from.
        origin: String,
        /// Why.
        #[source]
        source: TokenError,
    },
}

impl Args {
    /// Validates the arguments; `env_token` is the value of `WEBHOOK_TOKEN`, used when no
    /// `--token-file` is given.
    pub fn settings(self, env_token: Option<String>) -> Result<Standalone, ConfigError> {
        let (secret, origin) = match &self.token_file {
            Some(path) => (
                std::fs::read_to_string(path)
                    .map_err(|source| ConfigError::TokenFile { path: path.clone(), source })?,
                path.display().to_string(),
            ),
            None => (env_token.ok_or(ConfigError::Missing("--token-file or WEBHOOK_TOKEN"))?, "WEBHOOK_TOKEN".into()),
        };
        let token = Token::new(&secret).map_err(|source| ConfigError::Token { origin, source })?;
        let queue_url = non_empty("--queue-url", Some(self.queue_url))?;
        let default_cluster = self.default_cluster.map(|c| cluster("--default-cluster", c)).transpose()?;
        Ok(Standalone { listen: self.listen, queue_url, token, default_cluster })
    }
}

impl Lambda {
    /// Reads the Lambda's settings through `var` (the environment in production).
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Ok(Self {
            queue_url: non_empty("QUEUE_URL", var("QUEUE_URL"))?,
            token_parameter: non_empty("TOKEN_PARAMETER", var("TOKEN_PARAMETER"))?,
            cluster: cluster("CLUSTER_ID", non_empty("CLUSTER_ID", var("CLUSTER_ID"))?)?,
        })
    }
}

/// The token from the SSM parameter's value.
pub fn token_from_parameter(name: &str, value: &str) -> Result<Token, ConfigError> {
    Token::new(value).map_err(|source| ConfigError::Token { origin: format!("SSM parameter {name}"), source })
}

fn non_empty(setting: &'static str, value: Option<String>) -> Result<String, ConfigError> {
    value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty()).ok_or(ConfigError::Missing(setting))
}

fn cluster(setting: &'static str, value: String) -> Result<ClusterId, ConfigError> {
    ClusterId::new(value).map_err(|e| ConfigError::Invalid { setting, reason: e.to_string() })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use clap::Parser;

    use super::*;

    fn args(extra: &[&str]) -> Args {
        let mut argv = vec!["webhook", "--queue-url", "http://127.0.0.1:5000/000000000000/prod-autoscaler.fifo"];
        argv.extend_from_slice(extra);
        Args::try_parse_from(argv).unwrap()
    }

    #[test]
    fn the_token_comes_from_the_file_before_the_environment() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "from-file\n").unwrap();
        let s = args(&["--token-file", path.to_str().unwrap(), "--default-cluster", "prod"])
            .settings(Some("from-env".into()))
            .unwrap();
        let mut headers = http::HeaderMap::new();
        headers.insert(http::header::AUTHORIZATION, "Bearer from-file".parse().unwrap());
        assert_eq!(s.token.verify(&headers), crate::auth::Verdict::Valid);
        assert_eq!(s.default_cluster.unwrap().as_str(), "prod");
        assert_eq!(s.listen.to_string(), "127.0.0.1:9095");
    }

    #[test]
    fn a_missing_or_empty_token_refuses_to_start() {
        let err = args(&[]).settings(None).unwrap_err();
        assert_eq!(err.to_string(), "setting --token-file or WEBHOOK_TOKEN is required");
        let err = args(&[]).settings(Some(" \n".into())).unwrap_err();
        assert_eq!(err.to_string(), "the token from WEBHOOK_TOKEN is unusable");
        let err = args(&["--token-file", "/nonexistent/token"]).settings(None).unwrap_err();
        assert_eq!(err.to_string(), "reading the token file /nonexistent/token");
        let err = args(&["--default-cluster", "no spaces"]).settings(Some("t".into())).unwrap_err();
        assert!(err.to_string().starts_with("setting --default-cluster: "), "{err}");
    }

    #[test]
    fn the_lambda_environment_names_what_is_missing() {
        let mut env: HashMap<&str, &str> =
            [("QUEUE_URL", "https://sqs/q.fifo"), ("TOKEN_PARAMETER", "/k3s-autoscaler/prod/alertmanager-token")]
                .into();
        let err = Lambda::from_env(|k| env.get(k).map(|v| v.to_string())).unwrap_err();
        assert_eq!(err.to_string(), "setting CLUSTER_ID is required");
        env.insert("CLUSTER_ID", "prod");
        let lambda = Lambda::from_env(|k| env.get(k).map(|v| v.to_string())).unwrap();
        assert_eq!(lambda.cluster.as_str(), "prod");
        assert_eq!(lambda.token_parameter, "/k3s-autoscaler/prod/alertmanager-token");
        assert!(token_from_parameter("/p", "").is_err());
    }
}
