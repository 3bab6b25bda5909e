//! Loading and saving the cluster's `STATE` item. A save is one TransactWriteItems: the state
//! update conditioned on the version read and on our lease (owner and fencing token), plus the
//! message's idempotency record, so a message is marked processed exactly when its effects are.

use autoscaler_core::{
    ClusterId, ClusterState,
    ports::{Lease, StoreError},
    time::Timestamp,
};
use aws_sdk_dynamodb::{
    operation::transact_write_items::TransactWriteItemsError,
    types::{Put, TransactWriteItem, Update},
};

use super::{
    DynamoStateStore,
    failure::{cancelled, corrupt, store_error},
    item::{
        EXPIRES_AT, Item, LEASE_OWNER, LEASE_TOKEN, SK, STATE_SK, VERSION, key, msg_sk, n, parse_state, s, state_update,
    },
};

const LOAD: &str = "loading the cluster state";
const SAVE: &str = "saving the cluster state";

impl DynamoStateStore {
    /// The raw `STATE` item (consistent read), `None` if absent.
    pub(super) async fn get_state_item(
        &self,
        cluster: &ClusterId,
        operation: &'static str,
    ) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(cluster, STATE_SK)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| store_error(operation, e))?;
        Ok(out.item)
    }

    /// The stored state, `None` if never saved (the item may already hold a lease).
    pub(super) async fn load_state(&self, cluster: &ClusterId) -> Result<Option<ClusterState>, StoreError> {
        let Some(item) = self.get_state_item(cluster, LOAD).await? else { return Ok(None) };
        parse_state(&item).map_err(|e| corrupt(LOAD, format!("STATE item of {cluster}: {e}")))
    }

    /// Stores `state` as version `state.version + 1` if the version and the lease still match,
    /// writing `MSG#<message_id>` (expiring at `record_expires_at`) in the same transaction.
    pub(super) async fn save_state(
        &self,
        state: &ClusterState,
        lease: &Lease,
        message_id: Option<&str>,
        record_expires_at: Timestamp,
        now: Timestamp,
    ) -> Result<u64, StoreError> {
        let cluster = &state.cluster_id;
        if lease.cluster_id != *cluster {
            return Err(corrupt(SAVE, format!("the lease of {} cannot save the state of {cluster}", lease.cluster_id)));
        }
        let expected = state.version;
        let mut items = vec![self.state_write(state, lease)?];
        if let Some(id) = message_id {
            items.push(self.message_record(cluster, id, record_expires_at, now)?);
        }
        let out = self.client.transact_write_items().set_transact_items(Some(items)).send().await;
        match out {
            Ok(_) => {
                tracing::debug!(cluster = %cluster, version = expected + 1, message_id, "State saved.");
                Ok(expected + 1)
            }
            Err(e) => match e.as_service_error() {
                Some(TransactWriteItemsError::TransactionCanceledException(c)) => {
                    Err(cancelled(cluster, expected, c.cancellation_reasons()))
                }
                _ => Err(store_error(SAVE, e)),
            },
        }
    }

    /// The conditional update of the `STATE` item.
    fn state_write(&self, state: &ClusterState, lease: &Lease) -> Result<TransactWriteItem, StoreError> {
        let stored = ClusterState { version: state.version + 1, ..state.clone() };
        let mut e = state_update(&stored).map_err(|e| corrupt(SAVE, format!("serialising the state: {e}")))?;
        let version = e.name(VERSION);
        let version_ok = if state.version == 0 {
            format!("attribute_not_exists({version})")
        } else {
            format!("{version} = {}", e.value("expected", n(state.version)))
        };
        let (owner, token) = (e.name(LEASE_OWNER), e.name(LEASE_TOKEN));
        let condition = format!(
            "{version_ok} AND {owner} = {} AND {token} = {}",
            e.value("owner", s(&lease.owner)),
            e.value("token", n(lease.token))
        );
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(&state.cluster_id, STATE_SK)))
            .update_expression(e.update())
            .condition_expression(condition)
            .set_expression_attribute_names(Some(e.names))
            .set_expression_attribute_values(Some(e.values))
            .build()
            .map_err(|e| corrupt(SAVE, format!("building the state update: {e}")))?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// The put of `MSG#<id>`: refused if a live record exists; an expired one (TTL not yet
    /// applied by DynamoDB) is overwritten, since `seen` already treats it as absent.
    fn message_record(
        &self,
        cluster: &ClusterId,
        id: &str,
        expires_at: Timestamp,
        now: Timestamp,
    ) -> Result<TransactWriteItem, StoreError> {
        let mut item = key(cluster, msg_sk(id));
        item.insert("message_id".into(), s(id));
        item.insert("processed_at".into(), s(now.to_string()));
        item.insert(EXPIRES_AT.into(), n(expires_at.as_second()));
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(#sk) OR #expires <= :now")
            .expression_attribute_names("#sk", SK)
            .expression_attribute_names("#expires", EXPIRES_AT)
            .expression_attribute_values(":now", n(now.as_second()))
            .build()
            .map_err(|e| corrupt(SAVE, format!("building the message record: {e}")))?;
        Ok(TransactWriteItem::builder().put(put).build())
    }
}
