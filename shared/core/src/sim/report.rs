//! The report of a simulation: per strategy, the figures a user judges it by (the JSON that
//! `simulate --json` writes), and the series the chart draws.

use std::sync::atomic::Ordering;

use serde::Serialize;

use super::{
    Strategy,
    autoscaler::{Autoscaler, Pipeline},
    measure::{Latency, Point},
    polling::{Fixed, Polling},
    ports::Audit,
    run::{self, Controller},
    scenario::Scenario,
};
use crate::{OperationKind, Phase};

/// What one strategy did and cost.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StrategyResult {
    /// Worker cost, USD (the master is not included: it is the same for every strategy).
    pub cost_usd: f64,
    /// Billed worker-hours (booting instances included).
    pub node_hours: f64,
    /// Of which Spot.
    pub spot_node_hours: f64,
    /// Minutes during which the average worker CPU was above 80%.
    pub overload_minutes: f64,
    /// Demand the workers could not serve, core-hours.
    pub unserved_core_hours: f64,
    /// Σ Pending pods × minutes.
    pub pending_pod_minutes: f64,
    /// Longest time one pod waited Pending, seconds.
    pub max_pending_seconds: u64,
    /// Scale-up operations that launched workers.
    pub scale_ups: u64,
    /// Workers removed by a scale-down.
    pub scale_downs: u64,
    /// Workers launched to replace others (Spot interruptions, rebalances).
    pub replacements: u64,
    /// Operations that failed or were given up (launch errors, nodes never Ready, drain
    /// timeouts, scale-downs preempted).
    pub failed_operations: u64,
    /// Evictions that took a PodDisruptionBudget below its minAvailable (counted by an auditor
    /// on the world, not by the strategy).
    pub pdb_violations: u64,
    /// Evictions accepted, and refused by a budget.
    pub evictions: u64,
    /// See `evictions`.
    pub evictions_blocked: u64,
    /// Fewest Ready workers at any step.
    pub min_workers: u32,
    /// Most Ready workers at any step.
    pub max_workers: u32,
    /// Mean Ready workers.
    pub mean_workers: f64,
    /// From a scale-up condition becoming true (1-minute average CPU above the trigger, or a pod
    /// Pending for its window, with no launch in flight) to the launch.
    pub decision_latency_seconds: Latency,
    /// From low CPU having held for its window (nothing Pending, above the minimum, no
    /// operation in flight) to the start of a removal drain.
    pub scale_down_latency_seconds: Latency,
    /// Spot workers EC2 interrupted.
    pub spot_interruptions: u64,
    /// Steps at which an application pod was lost (neither running on a node nor Pending).
    pub conservation_violations: u64,
    /// The autoscaler's message pipeline.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pipeline: Option<Pipeline>,
    /// The chart's series (not in the JSON).
    #[serde(skip)]
    pub series: Vec<Point>,
    /// What the autoscaler told its operators (Slack), in order (not in the JSON).
    #[serde(skip)]
    pub notifications: Vec<crate::notification::Notification>,
}

/// The three strategies' results.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Results {
    /// This project.
    pub autoscaler: StrategyResult,
    /// The initial workers, 24/7.
    pub fixed: StrategyResult,
    /// The 2-minute polling baseline.
    pub polling: StrategyResult,
}

/// A simulation's report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// The scenario, as run (policy defaults filled in).
    pub scenario: Scenario,
    /// Per strategy.
    pub results: Results,
}

impl Results {
    /// The result of `s`.
    pub fn get(&self, s: Strategy) -> &StrategyResult {
        match s {
            Strategy::Autoscaler => &self.autoscaler,
            Strategy::Fixed => &self.fixed,
            Strategy::Polling => &self.polling,
        }
    }
}

fn round(x: f64, places: i32) -> f64 {
    let k = 10f64.powi(places);
    (x * k).round() / k
}

struct Counts {
    scale_ups: u64,
    scale_downs: u64,
    replacements: u64,
    failed: u64,
}

/// Runs one strategy and compiles its result.
pub(super) fn run_one(s: &Scenario, demand: &[f64], strategy: Strategy, progress: &dyn Fn(f64)) -> StrategyResult {
    let env = run::new_env(s);
    let (run, counts, audit, pipeline, notifications) = match strategy {
        Strategy::Autoscaler => {
            let mut c = Autoscaler::new(s, &env);
            let run = run::run(s, demand, &mut c as &mut dyn Controller, env, progress);
            let ops = c.store().inner.operations();
            let counts = Counts {
                scale_ups: ops.iter().filter(|o| o.kind == OperationKind::ScaleUp && !o.instances.is_empty()).count()
                    as u64,
                scale_downs: ops.iter().filter(|o| o.kind == OperationKind::ScaleDown && o.phase == Phase::Done).count()
                    as u64,
                replacements: ops
                    .iter()
                    .filter(|o| matches!(o.kind, OperationKind::SpotReplace | OperationKind::Rebalance))
                    .map(|o| o.instances.len() as u64)
                    .sum(),
                failed: ops.iter().filter(|o| matches!(o.phase, Phase::Failed | Phase::Aborted)).count() as u64,
            };
            let notes = c.notifications().sent();
            (run, counts, c.cluster().audit.clone(), Some(c.pipeline), notes)
        }
        Strategy::Polling => {
            let mut c = Polling::new(s, &env);
            let run = run::run(s, demand, &mut c as &mut dyn Controller, env, progress);
            let t = c.tally;
            let counts =
                Counts { scale_ups: t.scale_ups, scale_downs: t.scale_downs, replacements: 0, failed: t.failed };
            (run, counts, c.cluster.audit.clone(), None, vec![])
        }
        Strategy::Fixed => {
            let run = run::run(s, demand, &mut Fixed, env, progress);
            (run, Counts { scale_ups: 0, scale_downs: 0, replacements: 0, failed: 0 }, Default::default(), None, vec![])
        }
    };
    let mut r = compile(s, run, counts, &audit, pipeline);
    r.notifications = notifications;
    r
}

fn compile(s: &Scenario, run: run::Run, c: Counts, audit: &Audit, pipeline: Option<Pipeline>) -> StrategyResult {
    let m = &run.measure;
    let (up, down) = m.finish();
    let duration = s.duration.as_secs().max(1) as f64;
    StrategyResult {
        cost_usd: round(m.cost_usd(), 4),
        node_hours: round((m.worker_seconds.0 + m.worker_seconds.1) / 3600.0, 3),
        spot_node_hours: round(m.worker_seconds.1 / 3600.0, 3),
        overload_minutes: round(m.overload_seconds as f64 / 60.0, 2),
        unserved_core_hours: round(m.unserved_millis_seconds / 1000.0 / 3600.0, 3),
        pending_pod_minutes: round(m.pending_pod_seconds as f64 / 60.0, 2),
        max_pending_seconds: m.max_pending_seconds,
        scale_ups: c.scale_ups,
        scale_downs: c.scale_downs,
        replacements: c.replacements,
        failed_operations: c.failed,
        pdb_violations: audit.pdb_violations.load(Ordering::Relaxed),
        evictions: audit.evicted.load(Ordering::Relaxed),
        evictions_blocked: audit.blocked.load(Ordering::Relaxed),
        min_workers: if m.workers.0 == u32::MAX { 0 } else { m.workers.0 },
        max_workers: m.workers.1,
        mean_workers: round(m.workers.2 as f64 / duration, 3),
        decision_latency_seconds: up,
        scale_down_latency_seconds: down,
        spot_interruptions: run.spot_notices,
        conservation_violations: m.conservation_violations,
        pipeline,
        series: m.series.clone(),
        notifications: vec![],
    }
}
