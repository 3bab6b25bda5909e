//! A stand-in for node-exporter and kube-state-metrics: series of the same names, labels and
//! types, for two busy workers (90% CPU) and an idle master, with counters that grow with real
//! time so Prometheus' `rate()` sees a steady load.

use std::{fmt::Write as _, net::SocketAddr, time::Instant};

use axum::{Router, extract::Path, extract::State, routing::get};

/// A node the exporter reports.
#[derive(Debug, Clone, Copy)]
pub struct FakeNode {
    /// Kubernetes node name (the EC2 instance id for workers).
    pub name: &'static str,
    /// Whether it is the K3s server (role label and NoSchedule taint).
    pub control_plane: bool,
    /// CPUs.
    pub cpus: u32,
    /// Share of each CPU's time spent busy (user + system), 0 to 1.
    pub busy: f64,
}

/// The cluster the test runs: worker CPU 90% (demand 3.6 of 4 cores). The master idles; were
/// it counted, the average would be 61.7% and HighCPU would not fire.
pub const NODES: [FakeNode; 3] = [
    FakeNode { name: "i-0a1b2c3d4e5f60001", control_plane: false, cpus: 2, busy: 0.9 },
    FakeNode { name: "i-0a1b2c3d4e5f60002", control_plane: false, cpus: 2, busy: 0.9 },
    FakeNode { name: "ip-10-0-1-10", control_plane: true, cpus: 2, busy: 0.05 },
];

/// Serves `/node-exporter/<node>` and `/kube-state-metrics` on a free loopback port.
pub async fn start() -> SocketAddr {
    let app = Router::new()
        .route("/node-exporter/{node}", get(node_exporter))
        .route("/kube-state-metrics", get(kube_state_metrics))
        .with_state(Instant::now());
    super::support::serve(app).await
}

async fn node_exporter(State(started): State<Instant>, Path(node): Path<String>) -> Result<String, http::StatusCode> {
    let node = NODES.iter().find(|n| n.name == node).ok_or(http::StatusCode::NOT_FOUND)?;
    // Seconds since boot, as if the node had been up for a day.
    let uptime = 86_400.0 + started.elapsed().as_secs_f64();
    let idle = 1.0 - node.busy;
    let modes = [
        ("idle", idle * 0.8),
        ("iowait", idle * 0.2),
        ("irq", 0.0),
        ("nice", 0.0),
        ("softirq", 0.0),
        ("steal", 0.0),
        ("system", node.busy / 6.0),
        ("user", node.busy * 5.0 / 6.0),
    ];
    let mut out = String::from(
        "# HELP node_cpu_seconds_total Seconds the CPUs spent in each mode.\n# TYPE node_cpu_seconds_total counter\n",
    );
    for cpu in 0..node.cpus {
        for (mode, share) in modes {
            writeln!(out, "node_cpu_seconds_total{{cpu=\"{cpu}\",mode=\"{mode}\"}} {:.6}", share * uptime).unwrap();
        }
    }
    Ok(out)
}

async fn kube_state_metrics(State(started): State<Instant>) -> String {
    let created = jiff::Timestamp::now().as_second() - 3600 - started.elapsed().as_secs() as i64;
    let mut out = String::new();
    out.push_str("# HELP kube_node_info Information about a cluster node.\n# TYPE kube_node_info gauge\n");
    for n in NODES {
        writeln!(
            out,
            "kube_node_info{{node=\"{}\",container_runtime_version=\"containerd://1.7.23-k3s2\",kernel_version=\"6.1.0-28-cloud-amd64\",kubelet_version=\"v1.33.1+k3s1\",os_image=\"Debian GNU/Linux 12 (bookworm)\",provider_id=\"aws:///us-east-1a/{}\"}} 1",
            n.name, n.name
        )
        .unwrap();
    }
    out.push_str("# HELP kube_node_role The role of a cluster node.\n# TYPE kube_node_role gauge\n");
    out.push_str("# HELP kube_node_spec_taint The taint of a cluster node.\n# TYPE kube_node_spec_taint gauge\n");
    for n in NODES.iter().filter(|n| n.control_plane) {
        writeln!(out, "kube_node_role{{node=\"{}\",role=\"control-plane\"}} 1", n.name).unwrap();
        writeln!(
            out,
            "kube_node_spec_taint{{node=\"{}\",key=\"node-role.kubernetes.io/control-plane\",value=\"true\",effect=\"NoSchedule\"}} 1",
            n.name
        )
        .unwrap();
    }
    out.push_str("# HELP kube_pod_status_phase The pods current phase.\n# TYPE kube_pod_status_phase gauge\n");
    out.push_str("# HELP kube_pod_created Unix creation timestamp\n# TYPE kube_pod_created gauge\n");
    for (i, pod) in ["web-7d4b9c-abcde", "web-7d4b9c-fghij", "worker-5f6d7-klmno"].iter().enumerate() {
        for phase in ["Pending", "Running", "Succeeded", "Failed", "Unknown"] {
            let v = u8::from(phase == "Running");
            writeln!(
                out,
                "kube_pod_status_phase{{namespace=\"default\",pod=\"{pod}\",uid=\"00000000-0000-0000-0000-00000000000{i}\",phase=\"{phase}\"}} {v}"
            )
            .unwrap();
        }
        writeln!(out, "kube_pod_created{{namespace=\"default\",pod=\"{pod}\",uid=\"00000000-0000-0000-0000-00000000000{i}\"}} {created}").unwrap();
    }
    out
}
