//! An in-memory state store with DynamoDB's semantics: a lease with fencing tokens, versioned
//! conditional saves, and idempotency records written atomically with the state.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, Mutex},
};

use crate::{
    ClusterId, ClusterState, Operation,
    ports::{DecisionRecord, Lease, StateStore, StoreError},
    time::Timestamp,
};

#[derive(Debug, Default)]
struct Inner {
    states: HashMap<ClusterId, ClusterState>,
    leases: HashMap<ClusterId, Lease>,
    tokens: HashMap<ClusterId, u64>,
    messages: HashMap<(ClusterId, String), Timestamp>,
    operations: BTreeMap<(ClusterId, String), Operation>,
    decisions: Vec<DecisionRecord>,
    fail_next: Vec<&'static str>,
}

/// The in-memory store; clones share it.
#[derive(Debug, Clone, Default)]
pub struct MemoryStore(Arc<Mutex<Inner>>);

impl MemoryStore {
    /// Makes the next call of `operation` (`"save"`, `"load"`, `"acquire"`, `"seen"`) fail transiently.
    pub fn fail_next(&self, operation: &'static str) {
        self.0.lock().expect("lock").fail_next.push(operation);
    }

    /// The stored state of a cluster.
    pub fn state(&self, cluster: &ClusterId) -> Option<ClusterState> {
        self.0.lock().expect("lock").states.get(cluster).cloned()
    }

    /// The current lease of a cluster, if any.
    pub fn lease(&self, cluster: &ClusterId) -> Option<Lease> {
        self.0.lock().expect("lock").leases.get(cluster).cloned()
    }

    /// Every decision record.
    pub fn decisions(&self) -> Vec<DecisionRecord> {
        self.0.lock().expect("lock").decisions.clone()
    }

    /// Every operation record, latest write of each.
    pub fn operations(&self) -> Vec<Operation> {
        self.0.lock().expect("lock").operations.values().cloned().collect()
    }

    /// Replaces a cluster's state (tests and `status` fixtures).
    pub fn put_state(&self, state: ClusterState) {
        self.0.lock().expect("lock").states.insert(state.cluster_id.clone(), state);
    }

    /// Whether the idempotency record of `message_id` exists and has not expired at `now`.
    fn live(inner: &Inner, cluster: &ClusterId, message_id: &str, now: Timestamp) -> bool {
        inner.messages.get(&(cluster.clone(), message_id.to_owned())).is_some_and(|expires| *expires > now)
    }

    fn check_fail(inner: &mut Inner, op: &'static str) -> Result<(), StoreError> {
        if let Some(i) = inner.fail_next.iter().position(|o| *o == op) {
            inner.fail_next.remove(i);
            return Err(StoreError::Transient { operation: op, source: "injected failure".into() });
        }
        Ok(())
    }
}

impl StateStore for MemoryStore {
    async fn seen(&self, cluster: &ClusterId, message_id: &str, now: Timestamp) -> Result<bool, StoreError> {
        let mut inner = self.0.lock().expect("lock");
        Self::check_fail(&mut inner, "seen")?;
        Ok(Self::live(&inner, cluster, message_id, now))
    }

    async fn acquire(
        &self,
        cluster: &ClusterId,
        owner: &str,
        now: Timestamp,
        until: Timestamp,
    ) -> Result<Lease, StoreError> {
        let mut inner = self.0.lock().expect("lock");
        Self::check_fail(&mut inner, "acquire")?;
        if let Some(l) = inner.leases.get(cluster)
            && l.until > now
        {
            return Err(StoreError::LeaseHeld { cluster: cluster.clone(), owner: l.owner.clone(), until: l.until });
        }
        let token = inner.tokens.entry(cluster.clone()).or_default();
        *token += 1;
        let lease = Lease { cluster_id: cluster.clone(), owner: owner.to_owned(), until, token: *token };
        inner.leases.insert(cluster.clone(), lease.clone());
        Ok(lease)
    }

    async fn release(&self, lease: &Lease) -> Result<(), StoreError> {
        let mut inner = self.0.lock().expect("lock");
        if inner.leases.get(&lease.cluster_id) == Some(lease) {
            inner.leases.remove(&lease.cluster_id);
        }
        Ok(())
    }

    async fn load(&self, cluster: &ClusterId) -> Result<Option<ClusterState>, StoreError> {
        let mut inner = self.0.lock().expect("lock");
        Self::check_fail(&mut inner, "load")?;
        Ok(inner.states.get(cluster).cloned())
    }

    async fn save(
        &self,
        state: &ClusterState,
        lease: &Lease,
        message_id: Option<&str>,
        record_expires_at: Timestamp,
        now: Timestamp,
    ) -> Result<u64, StoreError> {
        let mut inner = self.0.lock().expect("lock");
        Self::check_fail(&mut inner, "save")?;
        let cluster = &state.cluster_id;
        let current = inner.states.get(cluster).map_or(0, |s| s.version);
        let ours = inner.leases.get(cluster).is_some_and(|l| l.owner == lease.owner && l.token == lease.token);
        let fresh = message_id.is_none_or(|m| !Self::live(&inner, cluster, m, now));
        if current != state.version || !ours || !fresh {
            return Err(StoreError::Conflict { cluster: cluster.clone(), expected: state.version });
        }
        let mut stored = state.clone();
        stored.version = current + 1;
        inner.states.insert(cluster.clone(), stored);
        if let Some(m) = message_id {
            inner.messages.insert((cluster.clone(), m.to_owned()), record_expires_at);
        }
        Ok(current + 1)
    }

    async fn put_operation(&self, cluster: &ClusterId, op: &Operation) -> Result<(), StoreError> {
        let key = (cluster.clone(), format!("{}#{}", op.started_at, op.id));
        self.0.lock().expect("lock").operations.insert(key, op.clone());
        Ok(())
    }

    async fn put_decision(&self, record: &DecisionRecord, _expires_at: Timestamp) -> Result<(), StoreError> {
        self.0.lock().expect("lock").decisions.push(record.clone());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use futures_executor::block_on;

    use super::*;
    use crate::time::after;

    #[test]
    fn idempotency_records_expire_as_in_dynamodb() {
        let store = MemoryStore::default();
        let cluster = ClusterId::new("c").unwrap();
        let t0: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let at = |s: u64| after(t0, Duration::from_secs(s));
        let lease = block_on(store.acquire(&cluster, "a", t0, at(600))).unwrap();
        let state = ClusterState::new(cluster.clone());
        assert_eq!(block_on(store.save(&state, &lease, Some("m"), at(60), t0)).unwrap(), 1);
        assert!(block_on(store.seen(&cluster, "m", at(59))).unwrap());
        assert!(!block_on(store.seen(&cluster, "m", at(60))).unwrap(), "expired at its expiry time");
        let current = block_on(store.load(&cluster)).unwrap().unwrap();
        let live = block_on(store.save(&current, &lease, Some("m"), at(3600), at(30)));
        assert!(matches!(live, Err(StoreError::Conflict { .. })), "a live record refuses the save: {live:?}");
        assert_eq!(block_on(store.save(&current, &lease, Some("m"), at(3600), at(61))).unwrap(), 2);
        assert!(block_on(store.seen(&cluster, "m", at(61))).unwrap());
    }
}
