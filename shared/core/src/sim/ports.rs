//! The simulator's side of the ports: the in-memory world's cluster view with an auditor that
//! counts evictions taking a PodDisruptionBudget below its `minAvailable` (it does not trust the
//! world's own bookkeeping), a state store that keeps no decision audit records (a month of them
//! is memory for nothing), and metrics and notification sinks that only count.

use std::sync::{
    Arc, Mutex,
    atomic::{AtomicU64, Ordering},
};

use rustc_hash::FxHashMap;

use crate::{
    ClusterId, ClusterState, Node, Operation, Pdb, Pod, PodPhase,
    memory::{ManualClock, MemoryCluster, MemoryStore, World, WorldState},
    metric::Metric,
    notification::Notification,
    ports::{Cluster, ClusterError, DecisionRecord, Eviction, Lease, Metrics, Notifier, StateStore, StoreError},
    time::Timestamp,
};

/// Eviction counts seen by the auditor.
#[derive(Debug, Default)]
pub struct Audit {
    /// Evictions accepted.
    pub evicted: AtomicU64,
    /// Evictions refused by a budget.
    pub blocked: AtomicU64,
    /// Accepted evictions that left a budget with fewer healthy pods than `minAvailable`.
    pub pdb_violations: AtomicU64,
}

/// The world's K3s view, audited.
#[derive(Debug, Clone)]
pub struct AuditedCluster {
    inner: MemoryCluster<ManualClock>,
    world: World<ManualClock>,
    /// The counts.
    pub audit: Arc<Audit>,
}

impl AuditedCluster {
    /// Audits `world`'s cluster view.
    pub fn new(world: &World<ManualClock>) -> Self {
        Self { inner: world.cluster(), world: world.clone(), audit: Arc::default() }
    }
}

/// For each budget covering the pod, (healthy pods, minAvailable), if the pod itself is healthy:
/// running on a Ready node.
fn budgets_of(w: &WorldState, namespace: &str, name: &str) -> Option<Vec<(usize, u32)>> {
    let ready = |n: &str| w.nodes.iter().any(|x| x.name == n && x.ready);
    let healthy = |p: &Pod| p.phase == PodPhase::Running && p.node.as_deref().is_some_and(ready);
    let pod = w.pods.iter().find(|p| p.namespace == namespace && p.name == name)?;
    if !healthy(pod) {
        return None;
    }
    Some(
        w.pdbs
            .iter()
            .filter(|(b, _)| b.covers(pod))
            .map(|(b, min)| (w.pods.iter().filter(|p| b.covers(p) && healthy(p)).count(), *min))
            .collect(),
    )
}

impl Cluster for AuditedCluster {
    async fn nodes(&self) -> Result<Vec<Node>, ClusterError> {
        self.inner.nodes().await
    }
    async fn pods(&self) -> Result<Vec<Pod>, ClusterError> {
        self.inner.pods().await
    }
    async fn pdbs(&self) -> Result<Vec<Pdb>, ClusterError> {
        self.inner.pdbs().await
    }
    async fn cordon(&self, node: &str) -> Result<(), ClusterError> {
        self.inner.cordon(node).await
    }
    async fn uncordon(&self, node: &str) -> Result<(), ClusterError> {
        self.inner.uncordon(node).await
    }
    async fn evict(&self, namespace: &str, name: &str, grace: u32) -> Result<Eviction, ClusterError> {
        let before = budgets_of(&self.world.lock(), namespace, name);
        let result = self.inner.evict(namespace, name, grace).await?;
        match result {
            Eviction::Evicted => {
                self.audit.evicted.fetch_add(1, Ordering::Relaxed);
                if before.is_some_and(|b| b.iter().any(|(healthy, min)| healthy.saturating_sub(1) < *min as usize)) {
                    self.audit.pdb_violations.fetch_add(1, Ordering::Relaxed);
                }
            }
            Eviction::Blocked => {
                self.audit.blocked.fetch_add(1, Ordering::Relaxed);
            }
            Eviction::Gone => {}
        }
        Ok(result)
    }
    async fn delete_node(&self, node: &str) -> Result<(), ClusterError> {
        self.inner.delete_node(node).await
    }
}

/// The in-memory store without decision audit records.
#[derive(Debug, Clone, Default)]
pub struct SimStore {
    /// The store.
    pub inner: MemoryStore,
    decisions: Arc<AtomicU64>,
}

impl SimStore {
    /// Decisions the engine recorded.
    pub fn decisions(&self) -> u64 {
        self.decisions.load(Ordering::Relaxed)
    }
}

impl StateStore for SimStore {
    async fn seen(&self, cluster: &ClusterId, message_id: &str, now: Timestamp) -> Result<bool, StoreError> {
        self.inner.seen(cluster, message_id, now).await
    }
    async fn acquire(
        &self,
        cluster: &ClusterId,
        owner: &str,
        now: Timestamp,
        until: Timestamp,
    ) -> Result<Lease, StoreError> {
        self.inner.acquire(cluster, owner, now, until).await
    }
    async fn release(&self, lease: &Lease) -> Result<(), StoreError> {
        self.inner.release(lease).await
    }
    async fn load(&self, cluster: &ClusterId) -> Result<Option<ClusterState>, StoreError> {
        self.inner.load(cluster).await
    }
    async fn save(
        &self,
        state: &ClusterState,
        lease: &Lease,
        message_id: Option<&str>,
        expires: Timestamp,
        now: Timestamp,
    ) -> Result<u64, StoreError> {
        self.inner.save(state, lease, message_id, expires, now).await
    }
    async fn put_operation(&self, cluster: &ClusterId, op: &Operation) -> Result<(), StoreError> {
        self.inner.put_operation(cluster, op).await
    }
    async fn put_decision(&self, _record: &DecisionRecord, _expires_at: Timestamp) -> Result<(), StoreError> {
        self.decisions.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

/// Sums metric values by name (and the engine's decision latencies, by action).
#[derive(Debug, Clone, Default)]
pub struct SimMetrics(Arc<Mutex<FxHashMap<&'static str, f64>>>);

impl SimMetrics {
    /// The sum of the values of `name`.
    pub fn total(&self, name: &str) -> f64 {
        self.0.lock().expect("metrics lock").get(name).copied().unwrap_or(0.0)
    }
}

impl Metrics for SimMetrics {
    fn emit(&self, m: &Metric) {
        *self.0.lock().expect("metrics lock").entry(m.name).or_default() += m.value;
    }
}

/// Keeps every notification (a day has a few dozen).
#[derive(Debug, Clone, Default)]
pub struct SimNotifier(Arc<Mutex<Vec<Notification>>>);

impl SimNotifier {
    /// Every notification, in order.
    pub fn sent(&self) -> Vec<Notification> {
        self.0.lock().expect("notifier lock").clone()
    }
}

impl Notifier for SimNotifier {
    async fn notify(&self, n: &Notification) {
        self.0.lock().expect("notifier lock").push(n.clone());
    }
}
