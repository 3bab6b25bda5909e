//! The simulator: replays a scenario (a day or a month of demand, flash sales, Spot
//! interruptions, capacity errors) against three strategies, each on its own copy of the same
//! simulated world with the same seed, and measures cost and service on the world itself.
//!
//! - `autoscaler`: this project — Prometheus rules, Alertmanager, the webhook's mapping, the FIFO
//!   queue and the production engine (`crate::engine`), over the in-memory ports.
//! - `fixed`: the initial workers, 24/7.
//! - `polling`: the challenge's baseline, a 2-minute poll adding or removing one worker.
//!
//! Deterministic for a given scenario: no wall clock, no unseeded randomness, no thread timing.
//! The user guide is `docs/SIMULATOR.md`.

pub mod alertmanager;
pub mod am_config;
pub mod autoscaler;
mod check;
pub mod daytime;
pub mod demand;
pub mod events;
pub mod import;
pub mod measure;
pub mod polling;
pub mod ports;
pub mod prometheus;
pub mod queue;
mod report;
pub mod rng;
pub mod run;
pub mod scenario;
pub mod scheduler;
pub mod workload;

pub use measure::{Latency, Point};
pub use report::{Report, Results, StrategyResult};
pub use scenario::{Scenario, ScenarioError};

use serde::Serialize;

/// A scaling strategy compared by the simulator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// This project, through the engine.
    Autoscaler,
    /// The initial workers, never scaled.
    Fixed,
    /// The challenge's 2-minute polling baseline.
    Polling,
}

impl Strategy {
    /// Every strategy, in report order.
    pub const ALL: [Strategy; 3] = [Strategy::Autoscaler, Strategy::Fixed, Strategy::Polling];

    /// `autoscaler`, `fixed` or `polling`.
    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::Autoscaler => "autoscaler",
            Strategy::Fixed => "fixed",
            Strategy::Polling => "polling",
        }
    }
}

/// Runs every strategy over `scenario` (in parallel threads; the results do not depend on it).
/// `progress` is called now and then with a strategy and the fraction of it done.
pub fn simulate(scenario: &Scenario, progress: &(dyn Fn(Strategy, f64) + Sync)) -> Report {
    let demand = demand::series(scenario);
    let results: Vec<StrategyResult> = std::thread::scope(|scope| {
        let handles: Vec<_> = Strategy::ALL
            .iter()
            .map(|&strategy| {
                let demand = &demand;
                scope.spawn(move || report::run_one(scenario, demand, strategy, &|f| progress(strategy, f)))
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("a strategy's run panicked")).collect()
    });
    let mut it = results.into_iter();
    let (autoscaler, fixed, polling) = (it.next(), it.next(), it.next());
    Report {
        scenario: scenario.clone(),
        results: Results {
            autoscaler: autoscaler.expect("three results"),
            fixed: fixed.expect("three results"),
            polling: polling.expect("three results"),
        },
    }
}
