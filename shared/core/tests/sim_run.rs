//! Whole runs: deterministic for a seed, no pod ever lost, every strategy on every shipped
//! scenario within the policy's bounds and without a PodDisruptionBudget violation, the
//! autoscaler reached through the whole pipeline, and its business-day figures not regressed.

use autoscaler_core::{
    Lifecycle,
    memory::{ManualClock, World},
    ports::{Cluster, Eviction},
    sim::{self, Scenario, Strategy, ports::AuditedCluster, workload},
};
use futures_executor::block_on;

/// The autoscaler's business-day figures documented in the README (section "Simulator and measurements") and
/// docs/SIMULATOR.md, produced by `cargo run --release -- simulate --json report.json`. A
/// change of the engine, the policy or the simulator that makes either more than 10% worse fails
/// here; update both documents and these constants when a change is intended.
const BUSINESS_DAY_COST_USD: f64 = 1.4914;
const BUSINESS_DAY_OVERLOAD_MINUTES: f64 = 3.25;

fn run(name: &str) -> sim::Report {
    sim::simulate(&Scenario::shipped(name).unwrap(), &|_, _| {})
}

#[test]
fn the_same_seed_gives_the_same_report_and_another_seed_another() {
    let s = Scenario::shipped("business-day").unwrap();
    let a = serde_json::to_string(&sim::simulate(&s, &|_, _| {})).unwrap();
    let b = serde_json::to_string(&sim::simulate(&s, &|_, _| {})).unwrap();
    assert_eq!(a, b);
    let mut other = s.clone();
    other.seed += 1;
    let c = serde_json::to_string(&sim::simulate(&other, &|_, _| {})).unwrap();
    assert_ne!(a, c);
}

#[test]
fn every_strategy_on_every_shipped_scenario_keeps_its_invariants() {
    for (name, _) in sim::scenario::SHIPPED {
        let report = run(name);
        let policy = &report.scenario.policy;
        for st in Strategy::ALL {
            let r = report.results.get(st);
            let who = format!("{name}/{}", st.as_str());
            assert_eq!(r.pdb_violations, 0, "{who}: evictions below a PDB's minAvailable");
            assert_eq!(r.conservation_violations, 0, "{who}: an application pod was lost");
            assert!(r.cost_usd > 0.0 && r.node_hours > 0.0, "{who}: nothing billed");
            if st == Strategy::Fixed {
                let n = report.scenario.initial_workers;
                assert_eq!((r.min_workers, r.max_workers, r.scale_ups, r.scale_downs), (n, n, 0, 0), "{who}");
            } else {
                assert!(r.min_workers >= policy.min_workers, "{who}: {} Ready workers", r.min_workers);
                assert!(r.max_workers <= policy.max_workers, "{who}: {} Ready workers", r.max_workers);
            }
        }
        let p = report.results.autoscaler.pipeline.expect("the autoscaler reports its pipeline");
        assert!(p.webhook_notifications > 0 && p.processed > 0, "{name}: {p:?}");
        assert_eq!((p.webhook_rejected, p.ignored_or_poison, p.dead_lettered), (0, 0, 0), "{name}: {p:?}");
    }
}

#[test]
fn on_business_day_the_autoscaler_is_cheaper_than_both_and_overloaded_less() {
    let r = run("business-day").results;
    let (a, f, p) = (&r.autoscaler, &r.fixed, &r.polling);
    assert!(a.cost_usd < f.cost_usd && a.cost_usd < p.cost_usd, "{} vs {} and {}", a.cost_usd, f.cost_usd, p.cost_usd);
    assert!(a.overload_minutes < f.overload_minutes && a.overload_minutes < p.overload_minutes);
    assert!(a.scale_ups > 0 && a.scale_downs > 0);
    // The target: at most 60% of the fixed fleet's cost.
    assert!(
        a.cost_usd <= 0.60 * f.cost_usd,
        "{} is {:.1}% of {}",
        a.cost_usd,
        100.0 * a.cost_usd / f.cost_usd,
        f.cost_usd
    );
    // The challenge's requirement: a scale-up condition is acted on within 3 minutes.
    assert!(a.decision_latency_seconds.p99.is_some_and(|s| s < 180.0), "{:?}", a.decision_latency_seconds);
}

#[test]
fn consolidation_is_what_brings_the_day_after_the_flash_sale_down() {
    // Without the Overprovisioned trigger the fleet sized for the 14:00 flash sale stays inside
    // the 30-70% band all afternoon, where the low-CPU trigger never fires.
    let mut s = Scenario::shipped("business-day").unwrap();
    let with = sim::simulate(&s, &|_, _| {}).results.autoscaler;
    s.policy.scale_down.consolidation.enabled = false;
    let without = sim::simulate(&s, &|_, _| {}).results.autoscaler;
    assert!(with.node_hours < 0.85 * without.node_hours, "{} vs {} node-hours", with.node_hours, without.node_hours);
    assert!(
        with.overload_minutes <= without.overload_minutes * 1.10,
        "{} vs {}",
        with.overload_minutes,
        without.overload_minutes
    );
    assert_eq!(with.pdb_violations, 0);
}

#[test]
fn business_day_cost_and_overload_have_not_regressed() {
    let a = run("business-day").results.autoscaler;
    assert!(
        a.cost_usd <= BUSINESS_DAY_COST_USD * 1.10,
        "cost {} USD is more than 10% above the documented {BUSINESS_DAY_COST_USD}",
        a.cost_usd
    );
    assert!(
        a.overload_minutes <= BUSINESS_DAY_OVERLOAD_MINUTES * 1.10,
        "overload {} min is more than 10% above the documented {BUSINESS_DAY_OVERLOAD_MINUTES}",
        a.overload_minutes
    );
}

#[test]
fn a_spot_storm_is_ridden_out_by_replacing_every_interrupted_worker() {
    let r = run("spot-storm").results;
    let a = &r.autoscaler;
    assert!(a.spot_interruptions >= 8, "the storm hit {} Spot workers", a.spot_interruptions);
    assert_eq!(a.replacements, a.spot_interruptions, "one replacement per interrupted worker");
    assert_eq!((r.fixed.spot_interruptions, r.polling.spot_interruptions), (0, 0), "only the autoscaler runs Spot");
    assert!(a.unserved_core_hours < 0.5, "{}", a.unserved_core_hours);
}

#[test]
fn launches_failing_everywhere_are_reported_and_backed_off_not_retried_in_a_loop() {
    let r = run("capacity-outage").results;
    let a = &r.autoscaler;
    // 13:55-14:20: every zone refuses; the policy's 5-minute backoff allows about five tries.
    assert!((1..=6).contains(&a.failed_operations), "{} failed launches", a.failed_operations);
    assert!(a.max_workers >= 8, "the fleet still grew for the flash sale once capacity returned");
}

#[test]
fn the_auditor_counts_an_eviction_below_min_available_even_when_the_world_allows_it() {
    let clock = ManualClock::at("2026-06-01T00:00:00Z".parse().unwrap());
    let world = World::new(clock);
    let node = world.add_worker("us-east-1a", Lifecycle::OnDemand);
    let spec = sim::scenario::PodSpec { min_replicas: 2, pdb_min_available_percent: 50.0, ..Default::default() };
    let mut app = workload::Workload::new(spec, 0.0);
    app.install(&mut world.lock());
    world.tick();
    let names: Vec<String> = world.lock().pods.iter().filter(|p| workload::is_app(p)).map(|p| p.name.clone()).collect();
    assert_eq!(names.len(), 2);
    assert!(world.lock().pods.iter().filter(|p| workload::is_app(p)).all(|p| p.node.as_deref() == Some(node.as_str())));
    let audited = AuditedCluster::new(&world);
    // minAvailable 1 of 2: the first eviction is fine.
    assert_eq!(block_on(audited.evict(workload::NAMESPACE, &names[0], 30)).unwrap(), Eviction::Evicted);
    assert_eq!(audited.audit.pdb_violations.load(std::sync::atomic::Ordering::Relaxed), 0);
    // Wrong bookkeeping in the world (an allowance left over): the world lets the eviction of
    // the last healthy pod through; the auditor, which counts pods itself, reports it.
    world.lock().pdbs[0].0.disruptions_allowed = 1;
    assert_eq!(block_on(audited.evict(workload::NAMESPACE, &names[1], 30)).unwrap(), Eviction::Evicted);
    assert_eq!(audited.audit.pdb_violations.load(std::sync::atomic::Ordering::Relaxed), 1);
}

#[test]
fn a_pod_bound_to_a_vanished_node_or_a_missing_replica_is_a_conservation_violation() {
    let s = Scenario::shipped("quiet-weekend").unwrap();
    let clock = ManualClock::at("2026-06-01T00:00:00Z".parse().unwrap());
    let world = World::new(clock);
    world.add_worker("us-east-1a", Lifecycle::OnDemand);
    let mut app = workload::Workload::new(s.pod.clone(), 0.0);
    app.install(&mut world.lock());
    world.tick();
    let mut m = sim::measure::Measure::new(&s);
    let record = |m: &mut sim::measure::Measure, w: &autoscaler_core::memory::WorldState, replicas: u32| {
        let usage = workload::usage(w, 0.0);
        m.record(0, w, &usage, 0.0, replicas, |_| 0, Default::default());
    };
    record(&mut m, &world.lock(), app.replicas);
    assert_eq!(m.conservation_violations, 0);
    record(&mut m, &world.lock(), app.replicas + 1);
    assert_eq!(m.conservation_violations, 1, "a replica missing");
    world.lock().nodes.clear();
    record(&mut m, &world.lock(), app.replicas);
    assert_eq!(m.conservation_violations, 2, "pods bound to a node that is gone");
}
