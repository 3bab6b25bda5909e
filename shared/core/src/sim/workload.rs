//! The simulated application: one Deployment (`shop/web`) whose replica count an HPA sets from
//! the demand, covered by a PodDisruptionBudget, plus what its pods and the DaemonSets use on
//! each node. Acts on the in-memory world's state directly, as the Kubernetes controllers would.

use std::collections::VecDeque;

use rustc_hash::FxHashMap;

use super::scenario::PodSpec;
use crate::{LabelSelector, OwnerKind, Pdb, Pod, PodPhase, Resources, memory::WorldState};

/// Namespace of the application.
pub const NAMESPACE: &str = "shop";
/// `app` label and name prefix of its pods.
pub const APP: &str = "web";
/// CPU each DaemonSet pod (node-exporter) uses: what it requests.
pub const DAEMONSET_USAGE_MILLIS: f64 = 50.0;
/// HPA defaults: a change of less than 10% is ignored; scale-down follows the highest
/// recommendation of the last 5 minutes; scale-up adds at most 100% or 4 pods per sync.
const HPA_TOLERANCE: f64 = 0.1;
const HPA_DOWN_STABILIZATION_SECONDS: u64 = 300;
const HPA_UP_PODS_PER_SYNC: u32 = 4;

/// The Deployment and its HPA.
#[derive(Debug, Clone)]
pub struct Workload {
    spec: PodSpec,
    /// Replicas the Deployment wants now.
    pub replicas: u32,
    recommendations: VecDeque<(u64, u32)>,
    next_pod: u64,
}

/// What the pods use at one instant.
#[derive(Debug, Clone, Default)]
pub struct Usage {
    /// Each Ready worker: name, busy millicores (capped at its CPU), allocatable millicores.
    pub nodes: Vec<(String, f64, f64)>,
    /// Application millicores actually served.
    pub served_millis: f64,
}

impl Usage {
    /// Average worker CPU, percent (0 without Ready workers).
    pub fn cpu_percent(&self) -> f64 {
        let (busy, cap) = self.nodes.iter().fold((0.0, 0.0), |(b, c), n| (b + n.1, c + n.2));
        if cap > 0.0 { 100.0 * busy / cap } else { 0.0 }
    }

    /// Allocatable millicores of the Ready workers.
    pub fn capacity_millis(&self) -> f64 {
        self.nodes.iter().map(|n| n.2).sum()
    }
}

impl Workload {
    /// The Deployment sized for `demand_millis`.
    pub fn new(spec: PodSpec, demand_millis: f64) -> Self {
        let mut w = Self { spec, replicas: 0, recommendations: VecDeque::new(), next_pod: 1 };
        w.replicas = w.wanted(demand_millis);
        w
    }

    fn per_pod_target(&self) -> f64 {
        self.spec.cpu_request_millis as f64 * self.spec.target_utilization / 100.0
    }

    fn wanted(&self, demand_millis: f64) -> u32 {
        let n = (demand_millis / self.per_pod_target()).ceil().max(0.0) as u32;
        n.clamp(self.spec.min_replicas, self.spec.max_replicas)
    }

    /// Creates the PodDisruptionBudget and the initial pods (Pending; the scheduler binds them).
    pub fn install(&mut self, w: &mut WorldState) {
        let selector = LabelSelector { match_labels: [("app".into(), APP.into())].into(), ..Default::default() };
        let pdb = Pdb { namespace: NAMESPACE.into(), name: APP.into(), selector, disruptions_allowed: 0 };
        w.pdbs.push((pdb, self.min_available()));
        self.converge(w);
    }

    /// The HPA's sync (every 15 s of the run): recomputes the replicas from the demand, then the
    /// ReplicaSet creates or deletes pods and the PDB's `minAvailable` follows the replicas.
    pub fn sync(&mut self, w: &mut WorldState, t: u64, demand_millis: f64) {
        let current = self.replicas.max(1);
        let ratio = demand_millis / (f64::from(current) * self.per_pod_target());
        let raw = if (ratio - 1.0).abs() <= HPA_TOLERANCE { self.replicas } else { self.wanted(demand_millis) };
        self.recommendations.push_back((t, raw));
        while self.recommendations.front().is_some_and(|(at, _)| at + HPA_DOWN_STABILIZATION_SECONDS < t) {
            self.recommendations.pop_front();
        }
        if raw > self.replicas {
            let limit = (self.replicas * 2).max(self.replicas + HPA_UP_PODS_PER_SYNC);
            self.replicas = raw.min(limit);
        } else {
            let stable = self.recommendations.iter().map(|(_, r)| *r).max().unwrap_or(raw);
            self.replicas = self.replicas.min(stable);
        }
        self.converge(w);
    }

    fn min_available(&self) -> u32 {
        (f64::from(self.replicas) * self.spec.pdb_min_available_percent / 100.0).ceil() as u32
    }

    /// Creates or deletes pods until the Deployment has `replicas`: unscheduled pods go first,
    /// then pods on the node crowded with most replicas, newest first (the ReplicaSet's order).
    fn converge(&mut self, w: &mut WorldState) {
        let ours: Vec<usize> = (0..w.pods.len()).filter(|&i| is_app(&w.pods[i])).collect();
        let have = ours.len() as u32;
        if have < self.replicas {
            for _ in have..self.replicas {
                w.pods.push(self.new_pod());
            }
        } else if have > self.replicas {
            let mut per_node: FxHashMap<&str, u32> = FxHashMap::default();
            for &i in &ours {
                if let Some(n) = w.pods[i].node.as_deref() {
                    *per_node.entry(n).or_default() += 1;
                }
            }
            let mut ranked: Vec<(u32, u32, usize)> = ours
                .iter()
                .map(|&i| {
                    let crowd = w.pods[i].node.as_deref().map_or(u32::MAX, |n| per_node[n]);
                    (u32::from(w.pods[i].node.is_none()), crowd, i)
                })
                .collect();
            ranked.sort_by(|a, b| b.cmp(a));
            let mut doomed: Vec<usize> = ranked.iter().take((have - self.replicas) as usize).map(|r| r.2).collect();
            doomed.sort_unstable_by(|a, b| b.cmp(a));
            for i in doomed {
                w.pods.remove(i);
            }
        }
        let min = self.min_available();
        if let Some((_, m)) = w.pdbs.iter_mut().find(|(p, _)| p.namespace == NAMESPACE && p.name == APP) {
            *m = min;
        }
    }

    fn new_pod(&mut self) -> Pod {
        let name = format!("{APP}-{}", self.next_pod);
        self.next_pod += 1;
        Pod {
            namespace: NAMESPACE.into(),
            name,
            node: None,
            phase: PodPhase::Pending,
            owner: OwnerKind::ReplicaSet,
            priority_class: None,
            labels: [("app".to_string(), APP.to_string())].into(),
            annotations: Default::default(),
            requests: Resources::new(self.spec.cpu_request_millis, self.spec.memory_request_mib * 1024 * 1024),
            pending_since: None,
            local_storage: false,
        }
    }
}

/// Whether a pod belongs to the application.
pub fn is_app(p: &Pod) -> bool {
    p.namespace == NAMESPACE && p.labels.get("app").is_some_and(|a| a == APP)
}

/// What the pods use: the demand is shared equally by the application pods running on Ready
/// nodes (no CPU limits, so a pod may use more than it requests), each node capped at its CPU.
pub fn usage(w: &WorldState, demand_millis: f64) -> Usage {
    let mut index: FxHashMap<&str, usize> = FxHashMap::default();
    let mut nodes = Vec::new();
    for n in w.nodes.iter().filter(|n| n.is_worker() && n.ready) {
        index.insert(n.name.as_str(), nodes.len());
        nodes.push((n.name.clone(), 0u32, n.allocatable.cpu_millis as f64));
    }
    let mut serving = 0u32;
    for p in w.pods.iter().filter(|p| p.phase == PodPhase::Running && is_app(p)) {
        if let Some(&i) = p.node.as_deref().and_then(|n| index.get(n)) {
            nodes[i].1 += 1;
            serving += 1;
        }
    }
    let per_pod = if serving > 0 { demand_millis / f64::from(serving) } else { 0.0 };
    let mut served = 0.0;
    let nodes = nodes
        .into_iter()
        .map(|(name, pods, cap)| {
            let app = f64::from(pods) * per_pod;
            let busy = (app + DAEMONSET_USAGE_MILLIS).min(cap);
            served += (busy - DAEMONSET_USAGE_MILLIS).max(0.0).min(app);
            (name, busy, cap)
        })
        .collect();
    Usage { nodes, served_millis: served }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        Lifecycle,
        memory::{ManualClock, World},
    };

    fn world() -> World<ManualClock> {
        let w = World::new(ManualClock::at("2026-06-01T00:00:00Z".parse().unwrap()));
        w.add_worker("a", Lifecycle::OnDemand);
        w.add_worker("b", Lifecycle::OnDemand);
        w
    }

    fn app_pods(w: &World<ManualClock>) -> usize {
        w.lock().pods.iter().filter(|p| is_app(p)).count()
    }

    #[test]
    fn the_hpa_sizes_for_its_target_ignores_small_changes_and_scales_down_after_five_minutes() {
        let w = world();
        // 200m pods at 75%: 150m of demand each.
        let mut app = Workload::new(PodSpec::default(), 1500.0);
        assert_eq!(app.replicas, 10);
        app.install(&mut w.lock());
        assert_eq!(app_pods(&w), 10);
        assert_eq!(w.lock().pdbs[0].1, 5, "minAvailable 50% of 10");
        app.sync(&mut w.lock(), 15, 1600.0);
        assert_eq!(app.replicas, 10, "within the 10% tolerance");
        app.sync(&mut w.lock(), 30, 3000.0);
        assert_eq!(app.replicas, 20, "up at once");
        for t in (45..=330).step_by(15) {
            app.sync(&mut w.lock(), t, 600.0);
            assert_eq!(app.replicas, 20, "held by the 5-minute stabilisation at {t}");
        }
        app.sync(&mut w.lock(), 345, 600.0);
        assert_eq!(app.replicas, 4);
        assert_eq!(app_pods(&w), 4);
        assert_eq!(w.lock().pdbs[0].1, 2);
    }

    #[test]
    fn demand_is_shared_by_the_running_pods_and_capped_by_each_node() {
        let w = world();
        let mut app = Workload::new(PodSpec { min_replicas: 4, ..PodSpec::default() }, 0.0);
        app.install(&mut w.lock());
        w.tick();
        let u = usage(&w.lock(), 1000.0);
        assert_eq!(u.nodes.len(), 2);
        let busy: f64 = u.nodes.iter().map(|n| n.1).sum();
        assert!((busy - (1000.0 + 2.0 * DAEMONSET_USAGE_MILLIS)).abs() < 1e-9, "{u:?}");
        assert!((u.served_millis - 1000.0).abs() < 1e-9);
        // Far more demand than two workers have: each node is capped at its CPU.
        // The scheduler packed the four pods onto the first worker; far more demand than it has
        // saturates it, and the rest of the demand goes unserved.
        let u = usage(&w.lock(), 10_000.0);
        assert_eq!(u.nodes.iter().map(|n| n.1).collect::<Vec<_>>(), [2000.0, DAEMONSET_USAGE_MILLIS]);
        assert!((u.served_millis - (2000.0 - DAEMONSET_USAGE_MILLIS)).abs() < 1e-9);
    }
}
