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

    fn check_fail(inner: &mut Inner, op: &'static str) -> Result<(), StoreError> {
        if let Some(i) = inner.fail_next.iter().position(|o| *o == op) {
            inner.fail_next.remove(i);
            return Err(StoreError::Transient { operation: op, source: "injected failure".into() });
        }
        Ok(())
    }
}

impl StateStore for MemoryStore {
    async fn seen(&self, cluster: &ClusterId, message_id: &str) -> Result<bool, StoreError> {
        let mut inner = self.0.lock().expect("lock");
        Self::check_fail(&mut inner, "seen")?;
        Ok(inner.messages.contains_key(&(cluster.clone(), message_id.to_owned())))
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
    ) -> Result<u64, StoreError> {
        let mut inner = self.0.lock().expect("lock");
        Self::check_fail(&mut inner, "save")?;
        let cluster = &state.cluster_id;
        let current = inner.states.get(cluster).map_or(0, |s| s.version);
        let ours = inner.leases.get(cluster).is_some_and(|l| l.owner == lease.owner && l.token == lease.token);
        let fresh = message_id.is_none_or(|m| !inner.messages.contains_key(&(cluster.clone(), m.to_owned())));
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
