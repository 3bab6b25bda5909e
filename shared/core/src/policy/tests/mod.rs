//! Table-driven tests of every rule and boundary of the policy, and proptest invariants: the
//! shared fixtures here, the tests by theme beside (triggers, removal, invariants).

use std::time::Duration;

use super::*;
use crate::{
    Node, Pod,
    testing::{master, pod, snapshot, worker},
};

mod invariants;
mod removal;
mod triggers;

fn now() -> Timestamp {
    "2026-03-02T12:00:00Z".parse().unwrap()
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// `n` idle workers (one small pod each) across two zones, plus the master.
fn fleet(n: usize) -> (Vec<Node>, Vec<Pod>) {
    let mut nodes = vec![master()];
    let mut pods = vec![];
    for i in 0..n {
        let name = format!("i-{i:03}");
        nodes.push(worker(&name, if i % 2 == 0 { "a" } else { "b" }));
        pods.push(pod("shop", &format!("web-{i}"), &name, 200));
    }
    (nodes, pods)
}

/// A snapshot of `n` workers at `cpu` percent.
fn at(n: usize, cpu: f64) -> Snapshot {
    let (nodes, pods) = fleet(n);
    snapshot(nodes, pods, cpu, now())
}

/// Builds a 3-worker low-CPU snapshot where worker `i-000` carries `extra` and the others are
/// kept from removal, so the test isolates one rule.
fn only_candidate_has(extra: Pod) -> Snapshot {
    let mut s = at(3, 10.0);
    for n in s.nodes.iter_mut().filter(|n| n.name != "i-000" && n.is_worker()) {
        n.scale_down_disabled = true;
    }
    s.pods.push(extra);
    s
}
