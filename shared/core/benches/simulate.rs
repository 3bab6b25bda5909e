//! Benchmark of `sim::simulate`: the shipped business day (24 h at 15 s steps, three strategies)
//! and the same day repeated for a week. The 30-day figure is in docs/SIMULATOR.md (hyperfine).

use std::{hint::black_box, time::Duration};

use autoscaler_core::sim::{self, Scenario};
use criterion::{Criterion, SamplingMode, criterion_group, criterion_main};

fn bench(c: &mut Criterion) {
    let day = Scenario::shipped("business-day").expect("shipped");
    let mut week = day.clone();
    week.duration = Duration::from_secs(7 * 86_400);
    let mut group = c.benchmark_group("simulate");
    // Whole runs take a fraction of a second to seconds: few, flat samples.
    group.sample_size(10).sampling_mode(SamplingMode::Flat).measurement_time(Duration::from_secs(30));
    for (name, s) in [("business_day_24h", &day), ("business_day_7d", &week)] {
        group.bench_function(name, |b| b.iter(|| sim::simulate(black_box(s), &|_, _| {})));
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
