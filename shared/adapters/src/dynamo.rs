//! `DynamoStateStore`: the `StateStore` port on one DynamoDB table (pk `cluster_id`, sk `sk`, TTL
//! `expires_at`). The `STATE` item holds the state (JSON plus projections), its version and the
//! lease; `MSG#`, `OP#` and `DECISION#` items sit beside it. Only DynamoDB calls live here.
//!
//! Guarantees: a save succeeds only for the version read and the current lease holder (owner and
//! fencing token); the idempotency record of a message is written in the same transaction as the
//! state; records past their `expires_at` are treated as absent, because DynamoDB deletes expired
//! items lazily (up to 48 hours late) and moto never does.

mod failure;
mod item;
mod lease;
mod record;
mod state;

use autoscaler_core::{
    ClusterId, ClusterState, Operation,
    ports::{DecisionRecord, Lease, StateStore, StoreError},
    time::Timestamp,
};
use aws_sdk_dynamodb::Client;

/// The state store on one DynamoDB table.
#[derive(Debug, Clone)]
pub struct DynamoStateStore {
    client: Client,
    table: String,
}

impl DynamoStateStore {
    /// The store on `table` through `client`.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into() }
    }

    /// The table name.
    pub fn table(&self) -> &str {
        &self.table
    }
}

impl StateStore for DynamoStateStore {
    async fn seen(&self, cluster: &ClusterId, message_id: &str, now: Timestamp) -> Result<bool, StoreError> {
        self.message_seen(cluster, message_id, now).await
    }

    async fn acquire(
        &self,
        cluster: &ClusterId,
        owner: &str,
        now: Timestamp,
        until: Timestamp,
    ) -> Result<Lease, StoreError> {
        self.take_lease(cluster, owner, now, until).await
    }

    async fn release(&self, lease: &Lease) -> Result<(), StoreError> {
        self.give_back(lease).await
    }

    async fn load(&self, cluster: &ClusterId) -> Result<Option<ClusterState>, StoreError> {
        self.load_state(cluster).await
    }

    async fn save(
        &self,
        state: &ClusterState,
        lease: &Lease,
        message_id: Option<&str>,
        record_expires_at: Timestamp,
        now: Timestamp,
    ) -> Result<u64, StoreError> {
        self.save_state(state, lease, message_id, record_expires_at, now).await
    }

    async fn put_operation(&self, cluster: &ClusterId, op: &Operation) -> Result<(), StoreError> {
        self.write_operation(cluster, op).await
    }

    async fn put_decision(&self, record: &DecisionRecord, expires_at: Timestamp) -> Result<(), StoreError> {
        self.write_decision(record, expires_at).await
    }
}
