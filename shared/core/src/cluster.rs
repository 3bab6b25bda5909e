//! Identifiers: the cluster an event belongs to and the EC2 instances that back worker nodes.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A cluster id: the SQS message group, the DynamoDB partition key and the value of the
/// `k3s-autoscaler/cluster` tag. 1–64 characters of `[A-Za-z0-9_-]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ClusterId(String);

/// Why a string is not a valid cluster id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cluster id {0:?} must be 1-64 characters of letters, digits, '-' or '_'")]
pub struct InvalidClusterId(pub String);

impl ClusterId {
    /// Validates and wraps a cluster id.
    pub fn new(id: impl Into<String>) -> Result<Self, InvalidClusterId> {
        let id = id.into();
        let valid =
            !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if valid { Ok(Self(id)) } else { Err(InvalidClusterId(id)) }
    }

    /// The id as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ClusterId {
    type Error = InvalidClusterId;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::new(s)
    }
}

impl From<ClusterId> for String {
    fn from(id: ClusterId) -> Self {
        id.0
    }
}

impl fmt::Display for ClusterId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An EC2 instance id (`i-0abc…`). Worker nodes are named after their instance id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct InstanceId(pub String);

impl InstanceId {
    /// The id as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Reads the instance id out of a Kubernetes provider id (`aws:///us-east-1a/i-0abc`).
    pub fn from_provider_id(provider_id: &str) -> Option<Self> {
        let id = provider_id.strip_prefix("aws://")?.rsplit('/').next()?;
        id.starts_with("i-").then(|| Self(id.to_owned()))
    }
}

impl fmt::Display for InstanceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_ids_are_validated() {
        assert!(ClusterId::new("prod-eu_1").is_ok());
        for bad in ["", "has space", "a/b", &"x".repeat(65)] {
            assert!(ClusterId::new(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn instance_id_is_read_from_provider_id() {
        assert_eq!(InstanceId::from_provider_id("aws:///us-east-1a/i-0abc123"), Some(InstanceId("i-0abc123".into())));
        assert_eq!(InstanceId::from_provider_id("k3s://node-1"), None);
    }
}
