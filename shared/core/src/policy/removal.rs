//! Choosing the worker to remove: every rule that makes a node unremovable, then the tie-breaks
//! (AZ balance, least requested, Spot before on-demand). Pure.

use std::collections::BTreeMap;

use super::{
    drain,
    view::{View, pack},
};
use crate::{Lifecycle, Node, Policy, Resources};

/// A removable worker.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// The node.
    pub name: String,
    /// Its zone.
    pub zone: String,
    /// What its pods request.
    pub requested: Resources,
    /// Spot or on-demand.
    pub lifecycle: Lifecycle,
}

/// The result of candidate selection: the best removable node, or why none is.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Selection {
    /// Removable workers, best first.
    pub candidates: Vec<Candidate>,
    /// For each unremovable worker, why (`node i-0ab runs kube-system/coredns (no PDB)`).
    pub blocked: Vec<String>,
}

/// Why a node can never be removed by us, before looking at its pods.
fn node_block_reason(node: &Node) -> Option<&'static str> {
    if node.control_plane {
        Some("is the control plane")
    } else if !node.managed {
        Some("was not launched by the autoscaler")
    } else if node.scale_down_disabled {
        Some("has scale-down disabled by annotation")
    } else if !node.ready {
        Some("is not Ready")
    } else if node.cordoned {
        Some("is already cordoned")
    } else {
        None
    }
}

/// Ranks every worker for removal.
pub(crate) fn select(view: &View<'_>, policy: &Policy) -> Selection {
    let mut per_zone: BTreeMap<&str, usize> = BTreeMap::new();
    for n in view.worker_nodes() {
        *per_zone.entry(n.zone.as_str()).or_default() += 1;
    }
    let mut ranked = Vec::new();
    let mut blocked = Vec::new();
    for &i in &view.workers {
        let node = &view.snap.nodes[i];
        if let Some(why) = node_block_reason(node) {
            blocked.push(format!("node {} {why}", node.name));
            continue;
        }
        // Only the blocking pods matter here; building the whole drain plan would allocate a
        // key per pod, which dominates on large clusters.
        let blocking: Vec<String> = view
            .pods_on(i)
            .iter()
            .filter(|p| drain::skip_reason(p).is_none())
            .filter_map(|p| drain::block_reason(p, &view.snap.pdbs, policy).map(|why| format!("{} ({why})", p.key())))
            .collect();
        if !blocking.is_empty() {
            blocked.push(format!("node {} runs {}", node.name, blocking.join(", ")));
            continue;
        }
        ranked.push((i, per_zone[node.zone.as_str()]));
    }
    // Best first: the fullest zone (keeps AZs balanced), then least requested CPU (least to move),
    // then Spot before on-demand (keeps the on-demand base), then name (deterministic).
    ranked.sort_by(|&(a, za), &(b, zb)| {
        let (na, nb) = (&view.snap.nodes[a], &view.snap.nodes[b]);
        zb.cmp(&za)
            .then(view.requested[a].cpu_millis.cmp(&view.requested[b].cpu_millis))
            .then((na.lifecycle != Lifecycle::Spot).cmp(&(nb.lifecycle != Lifecycle::Spot)))
            .then(na.name.cmp(&nb.name))
    });
    let mut candidates = Vec::new();
    for (i, _) in ranked {
        let node = &view.snap.nodes[i];
        // Its evictable pods must fit, by requests, on the other schedulable workers.
        let movable: Vec<_> = view.pods_on(i).iter().copied().filter(|p| drain::skip_reason(p).is_none()).collect();
        let mut room = view.free_room(Some(i));
        let left = pack(&movable, &mut room);
        if !left.is_empty() {
            let cpu: u64 = left.iter().map(|p| p.requests.cpu_millis).sum();
            blocked.push(format!(
                "node {}: {} of its pods ({cpu}m CPU) would not fit on the other workers",
                node.name,
                left.len()
            ));
            continue;
        }
        candidates.push(Candidate {
            name: node.name.clone(),
            zone: node.zone.clone(),
            requested: view.requested[i],
            lifecycle: node.lifecycle,
        });
        // One drain at a time: the best candidate is enough, and the fit check is the costly part.
        break;
    }
    Selection { candidates, blocked }
}
