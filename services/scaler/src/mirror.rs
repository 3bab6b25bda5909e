//! A simulated K3s cluster for local end-to-end runs without a K3s API server: every running
//! instance of the cluster appears as a Ready worker node (the join is assumed to work), with no
//! pods. Cordons and node deletions are kept in memory. Used by `scaler --poll … --simulated-cluster`
//! and the end-to-end latency benchmark; never in AWS.

use std::{
    collections::HashSet,
    sync::{Arc, Mutex},
};

use autoscaler_core::{
    Node, Pdb, Pod, Resources,
    ports::{Cloud, Cluster, ClusterError, Eviction},
    signal::InstanceState,
};

/// Nodes mirrored from the cloud's instances.
#[derive(Debug, Clone)]
pub struct MirrorCluster<C> {
    cloud: C,
    cordoned: Arc<Mutex<HashSet<String>>>,
    deleted: Arc<Mutex<HashSet<String>>>,
}

impl<C> MirrorCluster<C> {
    /// Mirrors `cloud`.
    pub fn new(cloud: C) -> Self {
        Self { cloud, cordoned: Arc::default(), deleted: Arc::default() }
    }
}

impl<C: Cloud> Cluster for MirrorCluster<C> {
    async fn nodes(&self) -> Result<Vec<Node>, ClusterError> {
        let instances = self
            .cloud
            .instances()
            .await
            .map_err(|e| ClusterError::Transient { operation: "listing mirrored nodes".into(), source: Box::new(e) })?;
        let cordoned = self.cordoned.lock().expect("lock").clone();
        let deleted = self.deleted.lock().expect("lock").clone();
        Ok(instances
            .into_iter()
            .filter(|i| i.state == InstanceState::Running && !deleted.contains(&i.id.0))
            .map(|i| Node {
                name: i.id.0.clone(),
                zone: i.zone,
                ready: true,
                cordoned: cordoned.contains(&i.id.0),
                managed: true,
                control_plane: false,
                scale_down_disabled: false,
                lifecycle: i.lifecycle,
                allocatable: Resources::new(2000, 2 * 1024 * 1024 * 1024),
                created_at: i.launched_at,
                instance_id: Some(i.id),
            })
            .collect())
    }

    async fn pods(&self) -> Result<Vec<Pod>, ClusterError> {
        Ok(vec![])
    }

    async fn pdbs(&self) -> Result<Vec<Pdb>, ClusterError> {
        Ok(vec![])
    }

    async fn cordon(&self, node: &str) -> Result<(), ClusterError> {
        self.cordoned.lock().expect("lock").insert(node.to_owned());
        Ok(())
    }

    async fn uncordon(&self, node: &str) -> Result<(), ClusterError> {
        self.cordoned.lock().expect("lock").remove(node);
        Ok(())
    }

    async fn evict(&self, _ns: &str, _name: &str, _grace: u32) -> Result<Eviction, ClusterError> {
        Ok(Eviction::Gone)
    }

    async fn delete_node(&self, node: &str) -> Result<(), ClusterError> {
        self.deleted.lock().expect("lock").insert(node.to_owned());
        Ok(())
    }
}
