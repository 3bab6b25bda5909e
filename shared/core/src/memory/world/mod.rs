//! An in-memory EC2 fleet and K3s cluster behind the `Cloud` and `Cluster` ports: instances boot
//! into Ready nodes after a delay, a scheduler binds Pending pods by requests, evictions honour
//! PodDisruptionBudgets, and evicted controller-owned pods come back Pending. Capacity and quota
//! errors can be scripted per zone and time window. Tests and the simulator share it.

mod cloud;
mod cluster;

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex, MutexGuard},
    time::Duration,
};

pub use cloud::MemoryCloud;
pub use cluster::MemoryCluster;

use crate::{
    InstanceId, Lifecycle, Node, OwnerKind, Pdb, Pod, PodPhase, Resources,
    ports::{Clock, ClusterError, Instance},
    signal::InstanceState,
    time::{Timestamp, after},
};

/// A scripted EC2 error: launches matching `zone` (any when `None`) between `from` and `until` fail.
#[derive(Debug, Clone, PartialEq)]
pub struct ScriptedError {
    /// The EC2 error code (`InsufficientInstanceCapacity`, `VcpuLimitExceeded`…).
    pub code: String,
    /// The zone it hits, or every zone.
    pub zone: Option<String>,
    /// From when.
    pub from: Timestamp,
    /// Until when.
    pub until: Timestamp,
}

/// Everything the world holds; public so tests and the simulator can arrange and inspect it.
#[derive(Debug)]
pub struct WorldState {
    /// EC2 instances of the cluster (terminated ones stay, in state `Terminated`).
    pub instances: BTreeMap<InstanceId, Instance>,
    /// When each launched instance's node becomes Ready.
    pub boot: BTreeMap<InstanceId, Timestamp>,
    /// Kubernetes nodes.
    pub nodes: Vec<Node>,
    /// Pods.
    pub pods: Vec<Pod>,
    /// PodDisruptionBudgets, with the `minAvailable` that recomputes their allowance.
    pub pdbs: Vec<(Pdb, u32)>,
    /// Time from launch to Ready node.
    pub boot_delay: Duration,
    /// Allocatable of a launched worker.
    pub worker_size: Resources,
    /// Scripted launch errors.
    pub errors: Vec<ScriptedError>,
    /// Every mutating call, in order (`launch op-1 t3.small us-east-1a spot i-…`, `evict shop/web-1`).
    pub calls: Vec<String>,
    /// Fail the next K3s API call transiently.
    pub fail_next_cluster_call: bool,
    next_id: u64,
    next_pod: u64,
}

/// The shared world. `MemoryCloud` and `MemoryCluster` are its two port views.
#[derive(Debug, Clone)]
pub struct World<C> {
    state: Arc<Mutex<WorldState>>,
    clock: C,
}

impl<C: Clock> World<C> {
    /// An empty world on `clock`.
    pub fn new(clock: C) -> Self {
        let state = WorldState {
            instances: BTreeMap::new(),
            boot: BTreeMap::new(),
            nodes: vec![],
            pods: vec![],
            pdbs: vec![],
            boot_delay: Duration::from_secs(90),
            worker_size: Resources::new(2000, 2 * 1024 * 1024 * 1024),
            errors: vec![],
            calls: vec![],
            fail_next_cluster_call: false,
            next_id: 1,
            next_pod: 1,
        };
        Self { state: Arc::new(Mutex::new(state)), clock }
    }

    /// Locks the world for arranging or inspecting.
    pub fn lock(&self) -> MutexGuard<'_, WorldState> {
        self.state.lock().expect("world lock")
    }

    /// The `Cloud` view.
    pub fn cloud(&self) -> MemoryCloud<C>
    where
        C: Clone,
    {
        MemoryCloud(self.clone())
    }

    /// The `Cluster` view.
    pub fn cluster(&self) -> MemoryCluster<C>
    where
        C: Clone,
    {
        MemoryCluster(self.clone())
    }

    /// Adds a running instance with a Ready node at once (a worker that exists before the test).
    pub fn add_worker(&self, zone: &str, lifecycle: Lifecycle) -> InstanceId {
        let now = self.clock.now();
        let mut w = self.lock();
        let id = w.new_instance(zone, "t3.small", lifecycle, None, now);
        w.boot.remove(&id);
        w.join(&id, now);
        id
    }

    /// Moves the world to now: booted instances join as Ready nodes, Pending pods are scheduled,
    /// PDB allowances are recomputed.
    pub fn tick(&self) {
        let now = self.clock.now();
        let mut w = self.lock();
        let due: Vec<InstanceId> = w.boot.iter().filter(|(_, t)| **t <= now).map(|(i, _)| i.clone()).collect();
        for id in due {
            w.boot.remove(&id);
            if w.instances.get(&id).is_some_and(|i| i.state == InstanceState::Running) {
                w.join(&id, now);
            }
        }
        w.schedule(now);
        w.recompute_pdbs();
    }
}

impl WorldState {
    fn new_instance(
        &mut self,
        zone: &str,
        itype: &str,
        lifecycle: Lifecycle,
        op: Option<String>,
        now: Timestamp,
    ) -> InstanceId {
        let id = InstanceId(format!("i-{:017x}", self.next_id));
        self.next_id += 1;
        self.instances.insert(
            id.clone(),
            Instance {
                id: id.clone(),
                zone: zone.into(),
                instance_type: itype.into(),
                lifecycle,
                state: InstanceState::Running,
                launched_at: now,
                operation: op,
            },
        );
        self.boot.insert(id.clone(), after(now, self.boot_delay));
        id
    }

    fn join(&mut self, id: &InstanceId, now: Timestamp) {
        let inst = &self.instances[id];
        self.nodes.push(Node {
            name: id.0.clone(),
            instance_id: Some(id.clone()),
            zone: inst.zone.clone(),
            ready: true,
            cordoned: false,
            managed: true,
            control_plane: false,
            scale_down_disabled: false,
            lifecycle: inst.lifecycle,
            allocatable: self.worker_size,
            created_at: now,
        });
        // A DaemonSet pod lands on every node.
        let name = format!("node-exporter-{}", self.next_pod);
        self.next_pod += 1;
        let mut ds = crate::testing::pod("monitoring", &name, &id.0, 50);
        ds.owner = OwnerKind::DaemonSet;
        self.pods.push(ds);
    }

    /// Binds Pending pods to schedulable nodes by requests, largest first.
    pub fn schedule(&mut self, now: Timestamp) {
        let mut room: Vec<(String, Resources)> = self
            .nodes
            .iter()
            .filter(|n| n.is_worker() && n.schedulable())
            .map(|n| {
                let used: Resources = self
                    .pods
                    .iter()
                    .filter(|p| p.node.as_deref() == Some(n.name.as_str()) && !p.is_terminal())
                    .map(|p| p.requests)
                    .sum();
                (n.name.clone(), n.allocatable.saturating_sub(&used))
            })
            .collect();
        let mut order: Vec<usize> = (0..self.pods.len()).filter(|&i| self.pods[i].is_unschedulable()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(self.pods[i].requests.cpu_millis));
        for i in order {
            let req = self.pods[i].requests;
            if let Some((name, r)) = room.iter_mut().find(|(_, r)| req.fits_in(r)) {
                *r = r.saturating_sub(&req);
                let p = &mut self.pods[i];
                p.node = Some(name.as_str().into());
                p.phase = PodPhase::Running;
                p.pending_since = None;
            } else if self.pods[i].pending_since.is_none() {
                self.pods[i].pending_since = Some(now);
            }
        }
    }

    fn recompute_pdbs(&mut self) {
        for (pdb, min_available) in &mut self.pdbs {
            let healthy =
                self.pods.iter().filter(|p| p.phase == PodPhase::Running && p.node.is_some() && pdb.covers(p)).count()
                    as u32;
            pdb.disruptions_allowed = healthy.saturating_sub(*min_available);
        }
    }

    /// Removes a pod; a controller-owned one comes back Pending under a new name.
    fn remove_pod(&mut self, i: usize, now: Timestamp) {
        let pod = self.pods.remove(i);
        if matches!(pod.owner, OwnerKind::ReplicaSet | OwnerKind::StatefulSet | OwnerKind::Other(_)) {
            let mut again = pod;
            again.name = format!("{}-r{}", again.name.split("-r").next().unwrap_or(&again.name), self.next_pod);
            self.next_pod += 1;
            again.node = None;
            again.phase = PodPhase::Pending;
            again.pending_since = Some(now);
            self.pods.push(again);
        }
    }

    fn cluster_call(&mut self, call: String) -> Result<(), ClusterError> {
        self.cluster_fault(call.clone())?;
        self.calls.push(call);
        Ok(())
    }

    fn cluster_fault(&mut self, operation: String) -> Result<(), ClusterError> {
        if std::mem::take(&mut self.fail_next_cluster_call) {
            return Err(ClusterError::Transient { operation, source: "injected failure".into() });
        }
        Ok(())
    }

    fn scripted(&self, zone: &str, now: Timestamp) -> Option<&ScriptedError> {
        self.errors.iter().find(|e| e.zone.as_deref().is_none_or(|z| z == zone) && e.from <= now && now < e.until)
    }
}
