//! An indexed view of a snapshot: workers, pods grouped by node and requests per node, built
//! once per decision so every rule is a lookup instead of a scan.

use rustc_hash::FxHashMap;

use crate::{Node, Pod, Policy, Resources, Snapshot};

/// The snapshot, indexed.
#[derive(Debug)]
pub(crate) struct View<'a> {
    /// The snapshot itself.
    pub snap: &'a Snapshot,
    /// Indices into `snap.nodes` of the workers (control plane excluded), in snapshot order.
    pub workers: Vec<usize>,
    /// Pods bound to nodes, grouped by node (node `i`'s are `bound[offsets[i]..offsets[i + 1]]`):
    /// one flat array instead of a vector per node keeps a 30,000-pod snapshot to a few
    /// allocations.
    bound: Vec<&'a Pod>,
    offsets: Vec<usize>,
    /// Sum of requests of non-terminal pods on each node, by index into `snap.nodes`.
    pub requested: Vec<Resources>,
    /// Unschedulable Pending pods.
    pub pending: Vec<&'a Pod>,
    /// Allocatable of one typical worker: the average over Ready workers, else the configured size.
    pub worker_size: Resources,
}

impl<'a> View<'a> {
    pub fn new(snap: &'a Snapshot, policy: &Policy) -> Self {
        let mut index: FxHashMap<&str, usize> = FxHashMap::default();
        index.reserve(snap.nodes.len());
        for (i, n) in snap.nodes.iter().enumerate() {
            index.insert(n.name.as_str(), i);
        }
        let n = snap.nodes.len();
        let mut requested = vec![Resources::default(); n];
        let mut pending = Vec::new();
        let mut node_of: Vec<u32> = Vec::with_capacity(snap.pods.len());
        let mut counts = vec![0usize; n + 1];
        for pod in &snap.pods {
            match pod.node.as_deref().and_then(|name| index.get(name)) {
                Some(&i) => {
                    node_of.push(i as u32);
                    counts[i + 1] += 1;
                    if !pod.is_terminal() {
                        requested[i] += pod.requests;
                    }
                }
                None => {
                    node_of.push(u32::MAX);
                    if pod.is_unschedulable() {
                        pending.push(pod);
                    }
                }
            }
        }
        for i in 0..n {
            counts[i + 1] += counts[i];
        }
        let offsets = counts;
        let mut cursor = offsets.clone();
        let mut bound: Vec<&Pod> = snap.pods.first().map_or_else(Vec::new, |p| vec![p; offsets[n]]);
        for (pod, &i) in snap.pods.iter().zip(&node_of) {
            if i != u32::MAX {
                bound[cursor[i as usize]] = pod;
                cursor[i as usize] += 1;
            }
        }
        let workers: Vec<usize> = (0..snap.nodes.len()).filter(|&i| snap.nodes[i].is_worker()).collect();
        let ready: Vec<&Node> = workers.iter().map(|&i| &snap.nodes[i]).filter(|n| n.ready).collect();
        let worker_size = if ready.is_empty() {
            Resources::new(policy.worker.cpu_millis, policy.worker.memory_mib * 1024 * 1024)
        } else {
            let total: Resources = ready.iter().map(|n| n.allocatable).sum();
            let k = ready.len() as u64;
            Resources::new(total.cpu_millis / k, total.memory_bytes / k)
        };
        Self { snap, workers, bound, offsets, requested, pending, worker_size }
    }

    /// The pods bound to node `i`.
    pub fn pods_on(&self, i: usize) -> &[&'a Pod] {
        &self.bound[self.offsets[i]..self.offsets[i + 1]]
    }

    /// The worker nodes.
    pub fn worker_nodes(&self) -> impl Iterator<Item = &'a Node> + '_ {
        self.workers.iter().map(|&i| &self.snap.nodes[i])
    }

    /// Room left on each schedulable worker, excluding `except`.
    pub fn free_room(&self, except: Option<usize>) -> Vec<Resources> {
        self.snap
            .nodes
            .iter()
            .enumerate()
            .filter(|(i, n)| n.is_worker() && n.schedulable() && Some(*i) != except)
            .map(|(i, n)| n.allocatable.saturating_sub(&self.requested[i]))
            .collect()
    }

    /// Allocatable CPU of Ready workers, millicores.
    pub fn ready_capacity_millis(&self) -> u64 {
        self.worker_nodes().filter(|n| n.ready).map(|n| n.allocatable.cpu_millis).sum()
    }
}

/// First-fit decreasing: places `items` into `bins` (mutated), returns the items that did not fit.
pub(crate) fn pack<'p>(items: &[&'p Pod], bins: &mut [Resources]) -> Vec<&'p Pod> {
    let mut sorted: Vec<&Pod> = items.to_vec();
    sorted.sort_by(|a, b| {
        (b.requests.cpu_millis, b.requests.memory_bytes).cmp(&(a.requests.cpu_millis, a.requests.memory_bytes))
    });
    let mut left = Vec::new();
    for pod in sorted {
        match bins.iter_mut().find(|room| pod.requests.fits_in(room)) {
            Some(room) => *room = room.saturating_sub(&pod.requests),
            None => left.push(pod),
        }
    }
    left
}
