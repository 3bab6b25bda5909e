//! Builders of nodes, pods and snapshots for tests, benchmarks and the simulator. Pure.

use crate::{
    ClusterId, ClusterState, InstanceId, Lifecycle, Node, OwnerKind, Pod, PodPhase, Resources, Snapshot,
    time::{Timestamp, before},
};

/// One GiB in bytes.
pub const GIB: u64 = 1024 * 1024 * 1024;

/// A Ready, managed, on-demand t3.small-sized worker named after its instance id.
pub fn worker(name: &str, zone: &str) -> Node {
    Node {
        name: name.into(),
        instance_id: Some(InstanceId(name.into())),
        zone: zone.into(),
        ready: true,
        cordoned: false,
        managed: true,
        control_plane: false,
        scale_down_disabled: false,
        lifecycle: Lifecycle::OnDemand,
        allocatable: Resources::new(2000, 2 * GIB),
        created_at: "2026-01-01T00:00:00Z".parse().expect("valid"),
    }
}

/// The K3s server node.
pub fn master() -> Node {
    Node { control_plane: true, managed: false, allocatable: Resources::new(2000, 4 * GIB), ..worker("master", "a") }
}

/// A running ReplicaSet pod on `node` requesting `cpu_millis` and 256 MiB.
pub fn pod(ns: &str, name: &str, node: &str, cpu_millis: u64) -> Pod {
    Pod {
        namespace: ns.into(),
        name: name.into(),
        node: Some(node.into()),
        phase: PodPhase::Running,
        owner: OwnerKind::ReplicaSet,
        priority_class: None,
        labels: [("app".to_string(), name.split('-').next().unwrap_or(name).to_string())].into(),
        annotations: Default::default(),
        requests: Resources::new(cpu_millis, 256 * 1024 * 1024),
        pending_since: None,
        local_storage: false,
    }
}

/// An unschedulable pod Pending since `since`.
pub fn pending(ns: &str, name: &str, cpu_millis: u64, since: Timestamp) -> Pod {
    Pod { node: None, phase: PodPhase::Pending, pending_since: Some(since), ..pod(ns, name, "", cpu_millis) }
}

/// A snapshot of `nodes` with a fresh CPU reading at `cpu_percent`, holding for an hour.
pub fn snapshot(nodes: Vec<Node>, pods: Vec<Pod>, cpu_percent: f64, now: Timestamp) -> Snapshot {
    let mut state = ClusterState::new(ClusterId::new("test").expect("valid"));
    state.cpu.percent = Some(cpu_percent);
    state.cpu.observed_at = Some(now);
    state.cpu.high_since = Some(before(now, std::time::Duration::from_secs(3600)));
    state.cpu.low_since = state.cpu.high_since;
    Snapshot { taken_at: Some(now), state, nodes, pods, pdbs: vec![] }
}

/// A large synthetic cluster: `nodes` workers across two zones, `pods_per_node` pods each plus
/// one DaemonSet pod, a master, and a CPU reading of `cpu_percent` (for benchmarks).
pub fn synthetic(nodes: u32, pods_per_node: u32, cpu_percent: f64) -> (Snapshot, Timestamp) {
    let now: Timestamp = "2026-06-01T12:00:00Z".parse().expect("valid");
    let mut ns = vec![master()];
    let mut pods = Vec::with_capacity((nodes * (pods_per_node + 1)) as usize);
    for i in 0..nodes {
        let name = format!("i-{i:017x}");
        let mut n = worker(&name, if i % 2 == 0 { "us-east-1a" } else { "us-east-1b" });
        n.allocatable = Resources::new(64_000, 256 * GIB);
        n.lifecycle = if i % 3 == 0 { Lifecycle::Spot } else { Lifecycle::OnDemand };
        for j in 0..pods_per_node {
            pods.push(pod("shop", &format!("web-{i}-{j}"), &name, 100 + u64::from((i * 7 + j) % 900)));
        }
        let mut ds = pod("kube-system", &format!("node-exporter-{i}"), &name, 50);
        ds.owner = OwnerKind::DaemonSet;
        pods.push(ds);
        ns.push(n);
    }
    (snapshot(ns, pods, cpu_percent, now), now)
}
