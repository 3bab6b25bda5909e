//! Benchmark of `policy::decide` on a 10-node and a 1,000-node / 30,000-pod snapshot.

use std::hint::black_box;

use autoscaler_core::{Policy, policy, testing};
use criterion::{Criterion, criterion_group, criterion_main};

fn bench(c: &mut Criterion) {
    let policy = Policy::default();
    for (nodes, pods_per_node) in [(10u32, 30u32), (1000, 30)] {
        for (name, cpu) in [("scale_down", 20.0), ("scale_up", 85.0)] {
            let (snap, now) = testing::synthetic(nodes, pods_per_node, cpu);
            c.bench_function(&format!("decide/{nodes}_nodes/{name}"), |b| {
                b.iter(|| policy::decide(black_box(&snap), black_box(&policy), now))
            });
        }
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
