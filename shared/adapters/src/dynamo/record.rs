//! The cluster's records beside its state: idempotency records (`MSG#`), operation records
//! (`OP#`) and decision audit records (`DECISION#`), written with PutItem and read back for
//! `status`. None of these touch the `STATE` item or its lease.

use autoscaler_core::{
    ClusterId, Operation,
    ports::{DecisionRecord, StoreError},
    time::Timestamp,
};
use aws_sdk_dynamodb::types::AttributeValue;
use serde::de::DeserializeOwned;

use super::{
    DynamoStateStore,
    failure::{corrupt, store_error},
    item::{
        DECISION_PREFIX, EXPIRES_AT, Item, OP_PREFIX, PK, SK, decision_sk, enum_name, expired, key, msg_sk, n, op_sk,
        s, string,
    },
};

/// The attribute holding a record's JSON.
const RECORD: &str = "record";

impl DynamoStateStore {
    /// Whether `MSG#<id>` exists and has not expired (consistent read).
    pub(super) async fn message_seen(
        &self,
        cluster: &ClusterId,
        message_id: &str,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(cluster, msg_sk(message_id))))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| store_error("checking the idempotency record", e))?;
        Ok(out.item.is_some_and(|item| !expired(&item, now)))
    }

    /// Writes (or overwrites, as the operation advances) `OP#<started>#<id>`.
    pub(super) async fn write_operation(&self, cluster: &ClusterId, op: &Operation) -> Result<(), StoreError> {
        const WHAT: &str = "writing an operation record";
        let mut item = key(cluster, op_sk(op));
        item.insert(RECORD.into(), s(serde_json::to_string(op).map_err(|e| corrupt(WHAT, e.to_string()))?));
        item.insert("operation_id".into(), s(&op.id));
        item.insert("kind".into(), s(enum_name(&op.kind)));
        item.insert("phase".into(), s(enum_name(&op.phase)));
        item.insert("started_at".into(), s(op.started_at.to_string()));
        item.insert("deadline".into(), s(op.deadline.to_string()));
        let ids: Vec<AttributeValue> = op.instances.iter().map(|i| s(i.as_str())).collect();
        item.insert("instances".into(), AttributeValue::L(ids));
        if let Some(result) = &op.result {
            item.insert("result".into(), s(result));
        }
        self.put(WHAT, item).await
    }

    /// Writes `DECISION#<at>#<message id>`, expiring at `expires_at`.
    pub(super) async fn write_decision(
        &self,
        record: &DecisionRecord,
        expires_at: Timestamp,
    ) -> Result<(), StoreError> {
        const WHAT: &str = "writing a decision record";
        let mut item = key(&record.cluster_id, decision_sk(record));
        item.insert(RECORD.into(), s(serde_json::to_string(record).map_err(|e| corrupt(WHAT, e.to_string()))?));
        item.insert("message_id".into(), s(&record.message_id));
        item.insert("at".into(), s(record.at.to_string()));
        item.insert("config_version".into(), s(&record.config_version));
        item.insert("dry_run".into(), AttributeValue::Bool(record.dry_run));
        item.insert(EXPIRES_AT.into(), n(expires_at.as_second()));
        self.put(WHAT, item).await
    }

    /// Every operation record of `cluster`, oldest first.
    pub async fn operations(&self, cluster: &ClusterId) -> Result<Vec<Operation>, StoreError> {
        self.records(cluster, OP_PREFIX, true, None).await
    }

    /// The latest `limit` decision records of `cluster` that have not expired, newest first.
    pub async fn decisions(&self, cluster: &ClusterId, limit: usize) -> Result<Vec<DecisionRecord>, StoreError> {
        self.records(cluster, DECISION_PREFIX, false, Some(limit)).await
    }

    async fn put(&self, operation: &'static str, item: Item) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| store_error(operation, e))?;
        Ok(())
    }

    /// The records under `prefix`, parsed from their JSON, skipping expired ones.
    async fn records<T: DeserializeOwned>(
        &self,
        cluster: &ClusterId,
        prefix: &str,
        oldest_first: bool,
        limit: Option<usize>,
    ) -> Result<Vec<T>, StoreError> {
        const WHAT: &str = "reading records";
        let now = Timestamp::now();
        let mut pages = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#sk", SK)
            .expression_attribute_values(":pk", s(cluster.as_str()))
            .expression_attribute_values(":prefix", s(prefix))
            .scan_index_forward(oldest_first)
            .into_paginator()
            .items()
            .send();
        let mut out = vec![];
        while let Some(item) = pages.next().await {
            let item = item.map_err(|e| store_error(WHAT, e))?;
            if expired(&item, now) {
                continue;
            }
            let json = string(&item, RECORD).ok_or_else(|| corrupt(WHAT, format!("{prefix} item without {RECORD}")))?;
            out.push(serde_json::from_str(json).map_err(|e| corrupt(WHAT, format!("{prefix} item: {e}")))?);
            if limit.is_some_and(|l| out.len() >= l) {
                break;
            }
        }
        Ok(out)
    }
}
