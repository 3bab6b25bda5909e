//! Benchmark of `policy::decide` on a 10-node and a 1,000-node / 30,000-pod snapshot, with a
//! baseline in the same run: one pass over the snapshot's pods summing their CPU requests, the
//! least work any decision that looks at every pod must do. Report `decide` as a ratio to it so
//! the figure survives a busy or a faster machine.

use std::hint::black_box;

use autoscaler_core::{Policy, Snapshot, policy, testing};
use criterion::{Criterion, criterion_group, criterion_main};

/// The floor: read every pod once.
fn scan(snap: &Snapshot) -> u64 {
    snap.pods.iter().filter(|p| p.node.is_some() && !p.is_terminal()).map(|p| p.requests.cpu_millis).sum()
}

fn bench(c: &mut Criterion) {
    for (nodes, pods_per_node) in [(10u32, 30u32), (1000, 30)] {
        // Bounds that let both triggers act, so each case runs its whole rule path (sizing, and
        // removal selection) rather than stopping at max_workers.
        let policy = Policy { max_workers: 2 * nodes, ..Policy::default() };
        let (snap, _) = testing::synthetic(nodes, pods_per_node, 50.0);
        c.bench_function(&format!("baseline/{nodes}_nodes/scan_pods"), |b| b.iter(|| scan(black_box(&snap))));
        for (name, cpu) in [("scale_down", 20.0), ("scale_up", 85.0)] {
            let (snap, now) = testing::synthetic(nodes, pods_per_node, cpu);
            let d = policy::decide(&snap, &policy, now);
            assert_eq!(d.action.as_str(), name, "the {name} case must act: {:?}", d.reasons);
            c.bench_function(&format!("decide/{nodes}_nodes/{name}"), |b| {
                b.iter(|| policy::decide(black_box(&snap), black_box(&policy), now))
            });
        }
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
