//! Choosing the worker to remove: every rule that makes a node unremovable, then the tie-breaks
//! (AZ balance, least requested, Spot before on-demand). Pure.

use std::cmp::Reverse;

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
    /// For each worker found unremovable, why (`node i-0ab runs kube-system/coredns (no PDB)`):
    /// every worker when none is removable, else those examined before the best candidate.
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

/// Ranks every worker for removal and returns the best removable one.
pub(crate) fn select(view: &View<'_>, policy: &Policy) -> Selection {
    // Workers per zone; a cluster has a handful of zones, so a short list beats a map.
    let mut zones: Vec<(&str, usize)> = Vec::new();
    let zone_of: Vec<usize> = view
        .worker_nodes()
        .map(|n| match zones.iter().position(|(z, _)| *z == n.zone) {
            Some(k) => {
                zones[k].1 += 1;
                k
            }
            None => {
                zones.push((n.zone.as_str(), 1));
                zones.len() - 1
            }
        })
        .collect();
    let mut ranked = Vec::new();
    let mut blocked = Vec::new();
    for (w, &i) in view.workers.iter().enumerate() {
        let node = &view.snap.nodes[i];
        if let Some(why) = node_block_reason(node) {
            blocked.push(format!("node {} {why}", node.name));
            continue;
        }
        // Best first: the fullest zone (keeps AZs balanced), then least requested CPU (least to
        // move), then Spot before on-demand (keeps the on-demand base), then name (deterministic).
        let rank = (Reverse(zones[zone_of[w]].1), view.requested[i].cpu_millis, node.lifecycle != Lifecycle::Spot);
        ranked.push((rank, i));
    }
    ranked.sort_unstable_by(|(ra, a), (rb, b)| {
        ra.cmp(rb).then_with(|| view.snap.nodes[*a].name.cmp(&view.snap.nodes[*b].name))
    });
    // Then, best first, the pod rules and the fit check, until one worker passes both: one drain
    // at a time needs only the best candidate, and reading every pod of every worker was most of
    // a decision's cost on large clusters. When none passes, every worker has been examined and
    // `blocked` says why of each.
    let mut candidates = Vec::new();
    for (_, i) in ranked {
        let node = &view.snap.nodes[i];
        // Only the blocking pods matter here; building the whole drain plan would allocate a
        // key per pod.
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
        break;
    }
    Selection { candidates, blocked }
}
