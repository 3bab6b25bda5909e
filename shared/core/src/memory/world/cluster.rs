//! The world's K3s view: `MemoryCluster` behind the `Cluster` port (cordons, PDB-honouring
//! evictions, node deletion; every mutating call logged).

use super::World;
use crate::{
    Node, OwnerKind, Pdb, Pod,
    ports::{Clock, Cluster, ClusterError, Eviction},
};

/// The world's K3s view.
#[derive(Debug, Clone)]
pub struct MemoryCluster<C>(pub(super) World<C>);

impl<C: Clock> Cluster for MemoryCluster<C> {
    async fn nodes(&self) -> Result<Vec<Node>, ClusterError> {
        Ok(self.0.lock().nodes.clone())
    }

    async fn pods(&self) -> Result<Vec<Pod>, ClusterError> {
        Ok(self.0.lock().pods.clone())
    }

    async fn pdbs(&self) -> Result<Vec<Pdb>, ClusterError> {
        Ok(self.0.lock().pdbs.iter().map(|(p, _)| p.clone()).collect())
    }

    async fn cordon(&self, node: &str) -> Result<(), ClusterError> {
        let mut w = self.0.lock();
        w.cluster_call(format!("cordon {node}"))?;
        w.nodes.iter_mut().filter(|n| n.name == node).for_each(|n| n.cordoned = true);
        Ok(())
    }

    async fn uncordon(&self, node: &str) -> Result<(), ClusterError> {
        let mut w = self.0.lock();
        w.cluster_call(format!("uncordon {node}"))?;
        w.nodes.iter_mut().filter(|n| n.name == node).for_each(|n| n.cordoned = false);
        Ok(())
    }

    async fn evict(&self, namespace: &str, name: &str, _grace: u32) -> Result<Eviction, ClusterError> {
        let now = self.0.clock.now();
        let mut w = self.0.lock();
        w.cluster_fault(format!("evicting {namespace}/{name}"))?;
        let Some(i) = w.pods.iter().position(|p| p.namespace == namespace && p.name == name) else {
            w.calls.push(format!("evict-gone {namespace}/{name}"));
            return Ok(Eviction::Gone);
        };
        debug_assert!(
            crate::policy::skip_reason(&w.pods[i]).is_none(),
            "the engine never evicts DaemonSet, mirror or finished pods"
        );
        let covering: Vec<usize> = (0..w.pdbs.len()).filter(|&k| w.pdbs[k].0.covers(&w.pods[i])).collect();
        if covering.iter().any(|&k| w.pdbs[k].0.disruptions_allowed == 0) {
            w.calls.push(format!("evict-blocked {namespace}/{name}"));
            return Ok(Eviction::Blocked);
        }
        for k in covering {
            w.pdbs[k].0.disruptions_allowed -= 1;
        }
        w.calls.push(format!("evict {namespace}/{name}"));
        w.remove_pod(i, now);
        Ok(Eviction::Evicted)
    }

    async fn delete_node(&self, node: &str) -> Result<(), ClusterError> {
        let now = self.0.clock.now();
        let mut w = self.0.lock();
        w.cluster_call(format!("delete-node {node}"))?;
        w.nodes.retain(|n| n.name != node);
        while let Some(i) = w.pods.iter().position(|p| p.node.as_deref() == Some(node)) {
            if w.pods[i].owner == OwnerKind::DaemonSet {
                w.pods.remove(i);
            } else {
                w.remove_pod(i, now);
            }
        }
        Ok(())
    }
}
