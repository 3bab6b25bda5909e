//! `KubeCluster`: the [`Cluster`] port on the K3s API with kube-rs. Lists nodes, pods and
//! PodDisruptionBudgets page by page, cordons with a guarded merge patch, evicts through the
//! `policy/v1` Eviction subresource. Decides nothing: every mapping is in the pure submodules.

mod connection;
mod cordon;
mod error;
mod node;
mod pdb;
mod pod;
pub mod quantity;

use std::fmt;

use autoscaler_core::{
    Node, Pdb, Pod,
    ports::{Cluster, ClusterError, Eviction},
};
use k8s_openapi::{
    api::{core::v1 as core, policy::v1 as policy},
    apimachinery::pkg::apis::meta::v1::{DeleteOptions, ObjectMeta},
};
use kube::{
    Api, Client, Resource,
    api::{DeleteParams, ListParams, Patch, PatchParams, PostParams},
};
use serde::de::DeserializeOwned;
use tracing::{debug, warn};

pub use connection::{ConnectError, KubeCredentials};
pub use cordon::{DRAIN_TAINT_EFFECT, DRAIN_TAINT_KEY, DRAIN_TAINT_VALUE};
pub use node::{CONTROL_PLANE_LABELS, LIFECYCLE_LABEL, MANAGED_LABEL, SCALE_DOWN_DISABLED_ANNOTATION, ZONE_LABEL};

use error::{classify, http_status};

/// Objects asked for per list call; the API server pages with `continue`.
const PAGE_SIZE: u32 = 500;
/// A list longer than this many pages is a loop, not a cluster.
const MAX_PAGES: usize = 1000;
/// Reads of a node before a cordon gives up on 409 conflicts.
const PATCH_ATTEMPTS: usize = 3;
/// The field manager our patches are recorded under.
const FIELD_MANAGER: &str = "k3s-autoscaler";
/// Pods that hold no resources are not listed.
const LIVE_PODS: &str = "status.phase!=Succeeded,status.phase!=Failed";

/// The K3s API through a kube client.
#[derive(Clone)]
pub struct KubeCluster {
    client: Client,
    page_size: u32,
}

impl fmt::Debug for KubeCluster {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KubeCluster").field("page_size", &self.page_size).finish_non_exhaustive()
    }
}

impl KubeCluster {
    /// Wraps an existing client (tests pass one over a `tower-test` mock).
    pub fn new(client: Client) -> Self {
        Self { client, page_size: PAGE_SIZE }
    }

    /// Connects with the URL, token and CA the services read from SSM. Must run inside a tokio
    /// runtime. The TLS stack is rustls with aws-lc-rs, the provider the whole workspace uses.
    pub fn connect(credentials: &KubeCredentials) -> Result<Self, ConnectError> {
        let config = credentials.config()?;
        let client = Client::try_from(config).map_err(|source| ConnectError::Client { source })?;
        Ok(Self::new(client))
    }

    /// Sets how many objects each list call asks for.
    pub fn with_page_size(mut self, page_size: u32) -> Self {
        self.page_size = page_size.max(1);
        self
    }

    /// Every object of `api`, following `continue` tokens.
    async fn list_all<K>(&self, api: &Api<K>, fields: Option<&str>, what: &str) -> Result<Vec<K>, ClusterError>
    where
        K: Resource + Clone + DeserializeOwned + fmt::Debug,
    {
        let mut items = Vec::new();
        let mut token: Option<String> = None;
        for page in 1..=MAX_PAGES {
            let mut params = ListParams::default().limit(self.page_size);
            if let Some(fields) = fields {
                params = params.fields(fields);
            }
            if let Some(t) = token.take() {
                params = params.continue_token(&t);
            }
            let list = api.list(&params).await.map_err(|e| classify(format!("listing {what} (page {page})"), e))?;
            items.extend(list.items);
            match list.metadata.continue_ {
                Some(t) if !t.is_empty() => token = Some(t),
                _ => return Ok(items),
            }
        }
        Err(ClusterError::Permanent {
            operation: format!("listing {what}"),
            source: format!("more than {MAX_PAGES} pages of {}", self.page_size).into(),
        })
    }

    /// Reads the node, computes the patch from it, and applies it guarded by the version read;
    /// reads again when someone else changed the node in between (409).
    async fn patch_node(
        &self,
        name: &str,
        verb: &str,
        compute: fn(&core::Node) -> Option<serde_json::Value>,
    ) -> Result<(), ClusterError> {
        let api: Api<core::Node> = Api::all(self.client.clone());
        let params = PatchParams { field_manager: Some(FIELD_MANAGER.to_owned()), ..PatchParams::default() };
        let mut attempt = 1;
        loop {
            let node = api.get(name).await.map_err(|e| classify(format!("reading node {name} for {verb}"), e))?;
            let Some(patch) = compute(&node) else {
                debug!(node = name, verb, "Node already in the wanted state.");
                return Ok(());
            };
            match api.patch(name, &params, &Patch::Merge(&patch)).await {
                Ok(_) => return Ok(()),
                Err(e) if http_status(&e) == Some(409) && attempt < PATCH_ATTEMPTS => {
                    debug!(node = name, verb, attempt, "Node changed while patching; reading it again.");
                    attempt += 1;
                }
                Err(e) => return Err(classify(format!("{verb} {name}"), e)),
            }
        }
    }
}

impl Cluster for KubeCluster {
    async fn nodes(&self) -> Result<Vec<Node>, ClusterError> {
        let api: Api<core::Node> = Api::all(self.client.clone());
        let nodes = self.list_all(&api, None, "nodes").await?;
        nodes
            .iter()
            .map(|n| {
                node::to_node(n).map_err(|e| ClusterError::Permanent {
                    operation: format!("reading node {}", n.metadata.name.as_deref().unwrap_or_default()),
                    source: Box::new(e),
                })
            })
            .collect()
    }

    async fn pods(&self) -> Result<Vec<Pod>, ClusterError> {
        let api: Api<core::Pod> = Api::all(self.client.clone());
        let pods = self.list_all(&api, Some(LIVE_PODS), "pods").await?;
        pods.iter()
            .map(|p| {
                pod::to_pod(p).map_err(|e| ClusterError::Permanent {
                    operation: format!(
                        "reading pod {}/{}",
                        p.metadata.namespace.as_deref().unwrap_or_default(),
                        p.metadata.name.as_deref().unwrap_or_default()
                    ),
                    source: Box::new(e),
                })
            })
            .collect()
    }

    async fn pdbs(&self) -> Result<Vec<Pdb>, ClusterError> {
        let api: Api<policy::PodDisruptionBudget> = Api::all(self.client.clone());
        let pdbs = self.list_all(&api, None, "PodDisruptionBudgets").await?;
        let mut out = Vec::with_capacity(pdbs.len());
        for p in &pdbs {
            let read = pdb::to_pdb(p).map_err(|e| ClusterError::Permanent {
                operation: format!("reading {}", e.pdb),
                source: Box::new(e),
            })?;
            out.extend(read);
        }
        Ok(out)
    }

    async fn cordon(&self, node: &str) -> Result<(), ClusterError> {
        self.patch_node(node, "cordoning", cordon::cordon_patch).await
    }

    async fn uncordon(&self, node: &str) -> Result<(), ClusterError> {
        self.patch_node(node, "uncordoning", cordon::uncordon_patch).await
    }

    async fn evict(&self, namespace: &str, name: &str, grace_seconds: u32) -> Result<Eviction, ClusterError> {
        let api: Api<core::Pod> = Api::namespaced(self.client.clone(), namespace);
        let eviction = policy::Eviction {
            metadata: ObjectMeta {
                name: Some(name.to_owned()),
                namespace: Some(namespace.to_owned()),
                ..ObjectMeta::default()
            },
            delete_options: Some(DeleteOptions {
                grace_period_seconds: Some(i64::from(grace_seconds)),
                ..DeleteOptions::default()
            }),
        };
        // Not `Api::evict`: kube 5 drops the delete options from the body it posts.
        let result =
            api.create_subresource::<_, serde_json::Value>("eviction", name, &PostParams::default(), &eviction).await;
        match result {
            Ok(_) => Ok(Eviction::Evicted),
            Err(e) => match http_status(&e) {
                Some(429) => Ok(Eviction::Blocked),
                Some(404) => Ok(Eviction::Gone),
                // Two budgets over one pod: the API server refuses every eviction of it with a
                // 500. Retrying the message cannot help; the drain waits and times out visibly.
                Some(500) if multiple_budgets(&e) => {
                    warn!(
                        namespace,
                        pod = name,
                        "Eviction refused: the pod is covered by more than one PodDisruptionBudget."
                    );
                    Ok(Eviction::Blocked)
                }
                _ => Err(classify(format!("evicting pod {namespace}/{name}"), e)),
            },
        }
    }

    async fn delete_node(&self, node: &str) -> Result<(), ClusterError> {
        let api: Api<core::Node> = Api::all(self.client.clone());
        match api.delete(node, &DeleteParams::default()).await {
            Ok(_) => Ok(()),
            Err(e) if http_status(&e) == Some(404) => {
                debug!(node, "Node object already gone.");
                Ok(())
            }
            Err(e) => Err(classify(format!("deleting node {node}"), e)),
        }
    }
}

fn multiple_budgets(err: &kube::Error) -> bool {
    matches!(err, kube::Error::Api(s) if s.message.contains("more than one PodDisruptionBudget"))
}
