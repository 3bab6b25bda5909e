//! The lease on a cluster's `STATE` item: taken with one conditional UpdateItem that also bumps
//! the fencing token, given back with a conditional REMOVE. Only lease attributes are touched.

use autoscaler_core::{
    ClusterId,
    ports::{Lease, StoreError},
    time::Timestamp,
};
use aws_sdk_dynamodb::{
    operation::update_item::UpdateItemError,
    types::{ReturnValue, ReturnValuesOnConditionCheckFailure},
};

use super::{
    DynamoStateStore,
    failure::{corrupt, store_error},
    item::{Item, LEASE_OWNER, LEASE_TOKEN, LEASE_UNTIL, STATE_SK, key, n, parse_lease, s},
};

const ACQUIRE: &str = "acquiring the lease";
const RELEASE: &str = "releasing the lease";

impl DynamoStateStore {
    /// Takes the lease if nobody holds it or it expired (`lease_until <= now`, the in-memory
    /// store's rule), creating the item if absent. `lease_token` grows by one on every
    /// acquisition, so a write carrying an older token is refused even after a takeover.
    pub(super) async fn take_lease(
        &self,
        cluster: &ClusterId,
        owner: &str,
        now: Timestamp,
        until: Timestamp,
    ) -> Result<Lease, StoreError> {
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(cluster, STATE_SK)))
            .update_expression("SET #owner = :owner, #until = :until ADD #token :one")
            .condition_expression("attribute_not_exists(#owner) OR #until <= :now")
            .expression_attribute_names("#owner", LEASE_OWNER)
            .expression_attribute_names("#until", LEASE_UNTIL)
            .expression_attribute_names("#token", LEASE_TOKEN)
            .expression_attribute_values(":owner", s(owner))
            .expression_attribute_values(":until", n(until.as_millisecond()))
            .expression_attribute_values(":now", n(now.as_millisecond()))
            .expression_attribute_values(":one", n(1))
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match out {
            Ok(out) => {
                let lease =
                    parse_lease(cluster, out.attributes().unwrap_or(&Item::new())).map_err(|e| corrupt(ACQUIRE, e))?;
                tracing::debug!(cluster = %cluster, owner, token = lease.token, "Lease acquired.");
                Ok(lease)
            }
            Err(e) => {
                let Some(UpdateItemError::ConditionalCheckFailedException(c)) = e.as_service_error() else {
                    return Err(store_error(ACQUIRE, e));
                };
                let holder = match c.item() {
                    Some(item) => item.clone(),
                    None => self.get_state_item(cluster, ACQUIRE).await?.unwrap_or_default(),
                };
                Err(held(cluster, &holder, now))
            }
        }
    }

    /// Removes the lease if it is still `lease` (same owner and token); otherwise does nothing.
    pub(super) async fn give_back(&self, lease: &Lease) -> Result<(), StoreError> {
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(&lease.cluster_id, STATE_SK)))
            .update_expression("REMOVE #owner, #until")
            .condition_expression("#owner = :owner AND #token = :token")
            .expression_attribute_names("#owner", LEASE_OWNER)
            .expression_attribute_names("#until", LEASE_UNTIL)
            .expression_attribute_names("#token", LEASE_TOKEN)
            .expression_attribute_values(":owner", s(&lease.owner))
            .expression_attribute_values(":token", n(lease.token))
            .send()
            .await;
        match out {
            Ok(_) => Ok(()),
            Err(e) if matches!(e.as_service_error(), Some(UpdateItemError::ConditionalCheckFailedException(_))) => {
                tracing::info!(cluster = %lease.cluster_id, token = lease.token, "Lease already taken over; nothing to release.");
                Ok(())
            }
            Err(e) => Err(store_error(RELEASE, e)),
        }
    }
}

/// `LeaseHeld` from the item that refused us. The holder may have released between our write and
/// our read; the message is retried either way.
fn held(cluster: &ClusterId, item: &Item, now: Timestamp) -> StoreError {
    match parse_lease(cluster, item) {
        Ok(lease) => StoreError::LeaseHeld { cluster: cluster.clone(), owner: lease.owner, until: lease.until },
        Err(_) => StoreError::LeaseHeld { cluster: cluster.clone(), owner: "(released)".to_owned(), until: now },
    }
}
