//! The engine's settings: the cluster, the validated policy, the lease and how long records are
//! kept. Plain data, no I/O.

use std::time::Duration;

use crate::{ClusterId, Policy};

/// Engine settings, all from the validated configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The cluster this scaler serves.
    pub cluster_id: ClusterId,
    /// The policy.
    pub policy: Policy,
    /// Who holds the lease (the invocation's request id, or a host name locally).
    pub owner: String,
    /// The worker zones (from the subnets), for spreading launches.
    pub zones: Vec<String>,
    /// Lease duration: longer than one invocation can run (the Lambda timeout), so a live holder
    /// never loses it, short enough that a crashed holder's successor waits little.
    pub lease_for: Duration,
    /// How long idempotency records are kept: far longer than any redelivery can come.
    pub message_ttl: Duration,
    /// How long decision audit records are kept.
    pub decision_ttl: Duration,
}

impl Settings {
    /// Settings with the default lease (70 s: a 60 s Lambda timeout plus margin) and retention.
    pub fn new(cluster_id: ClusterId, policy: Policy, owner: impl Into<String>, zones: Vec<String>) -> Self {
        Self {
            cluster_id,
            policy,
            owner: owner.into(),
            zones,
            lease_for: Duration::from_secs(70),
            message_ttl: Duration::from_secs(7 * 24 * 3600),
            decision_ttl: Duration::from_secs(30 * 24 * 3600),
        }
    }
}
