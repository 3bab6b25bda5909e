//! What a run is judged by, measured on the world itself at every step (never taken from a
//! controller's own account): cost and node-hours, overload, Pending pods, fleet bounds, pod
//! conservation, and how long each scale-up (and scale-down) condition waited for its action.

use std::collections::VecDeque;

use serde::Serialize;

use super::{
    scenario::{Prices, Scenario},
    workload::{Usage, is_app},
};
use crate::{Lifecycle, PodPhase, memory::WorldState, signal::InstanceState};

/// Average worker CPU above which a step counts as overloaded, percent.
pub const OVERLOAD_PERCENT: f64 = 80.0;
/// A condition that stops holding for this long has ended (noise does not split one episode).
const EPISODE_GAP_SECONDS: u64 = 60;

/// Percentiles of a latency, seconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Latency {
    /// Median (nearest rank); `null` without samples.
    pub p50: Option<f64>,
    /// 99th percentile (nearest rank).
    pub p99: Option<f64>,
    /// Longest.
    pub max: Option<f64>,
    /// Conditions measured.
    pub samples: usize,
}

impl Latency {
    fn of(mut xs: Vec<u64>) -> Self {
        xs.sort_unstable();
        let rank = |q: f64| xs.get(((q * xs.len() as f64).ceil() as usize).saturating_sub(1)).map(|v| *v as f64);
        Self { p50: rank(0.5), p99: rank(0.99), max: xs.last().map(|v| *v as f64), samples: xs.len() }
    }
}

/// One sample of the chart's series.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Point {
    /// Hours since the start.
    pub hours: f64,
    /// Application demand, cores.
    pub demand_cores: f64,
    /// Allocatable CPU of the Ready workers, cores.
    pub capacity_cores: f64,
    /// Ready workers.
    pub workers: u32,
}

/// What happened in one step, beyond the world's state.
#[derive(Debug, Clone, Copy, Default)]
pub struct StepEvents {
    /// Scale-up launches issued in this step.
    pub launched: u32,
    /// Removal drains started in this step.
    pub drains_started: u32,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Episode {
    Idle,
    Open { start: u64, last_true: u64 },
}

/// The running measurement of one strategy.
#[derive(Debug, Clone)]
pub struct Measure {
    step: u64,
    prices: Prices,
    up_cpu: f64,
    down_cpu: f64,
    down_for: u64,
    pending_for: u64,
    min_policy: u32,
    max_policy: u32,
    recent_cpu: VecDeque<f64>,
    low_since: Option<u64>,
    up: Episode,
    down: Episode,
    up_samples: Vec<u64>,
    down_samples: Vec<u64>,
    sample_every: u64,
    /// Billed worker-seconds, on-demand and Spot.
    pub worker_seconds: (f64, f64),
    /// Steps above `OVERLOAD_PERCENT`.
    pub overload_seconds: u64,
    /// Demand not served, millicore-seconds.
    pub unserved_millis_seconds: f64,
    /// Σ Pending pods × step.
    pub pending_pod_seconds: u64,
    /// Longest time a pod waited Pending.
    pub max_pending_seconds: u64,
    /// Fewest and most Ready workers, and Σ workers × step.
    pub workers: (u32, u32, u64),
    /// Steps at which an application pod was neither running on a node nor Pending, or the
    /// Deployment did not have its replicas.
    pub conservation_violations: u64,
    /// The chart's series.
    pub series: Vec<Point>,
}

impl Measure {
    /// A measurement for `s`.
    pub fn new(s: &Scenario) -> Self {
        let step = s.step.as_secs().max(1);
        // About 2,000 points whatever the duration, on whole minutes.
        let sample_every = (s.duration.as_secs() / 2000).div_ceil(60).max(1) * 60;
        Self {
            step,
            prices: s.prices,
            up_cpu: s.policy.scale_up.cpu_percent,
            down_cpu: s.policy.scale_down.cpu_percent,
            down_for: s.policy.scale_down.cpu_for.as_secs(),
            pending_for: s.policy.scale_up.pending_for.as_secs(),
            min_policy: s.policy.min_workers,
            max_policy: s.policy.max_workers,
            recent_cpu: VecDeque::new(),
            low_since: None,
            up: Episode::Idle,
            down: Episode::Idle,
            up_samples: vec![],
            down_samples: vec![],
            sample_every,
            worker_seconds: (0.0, 0.0),
            overload_seconds: 0,
            unserved_millis_seconds: 0.0,
            pending_pod_seconds: 0,
            max_pending_seconds: 0,
            workers: (u32::MAX, 0, 0),
            conservation_violations: 0,
            series: vec![],
        }
    }

    /// Records the world at `t` (seconds into the run).
    #[allow(clippy::too_many_arguments)]
    pub fn record(
        &mut self,
        t: u64,
        w: &WorldState,
        usage: &Usage,
        demand: f64,
        replicas: u32,
        age: impl Fn(&crate::Pod) -> u64,
        ev: StepEvents,
    ) {
        let dt = self.step;
        for i in w.instances.values().filter(|i| i.state != InstanceState::Terminated) {
            match i.lifecycle {
                Lifecycle::OnDemand => self.worker_seconds.0 += dt as f64,
                Lifecycle::Spot => self.worker_seconds.1 += dt as f64,
            }
        }
        let cpu = usage.cpu_percent();
        if cpu > OVERLOAD_PERCENT {
            self.overload_seconds += dt;
        }
        self.unserved_millis_seconds += (demand - usage.served_millis).max(0.0) * dt as f64;
        let pending: Vec<u64> = w.pods.iter().filter(|p| p.is_unschedulable()).map(&age).collect();
        self.pending_pod_seconds += pending.len() as u64 * dt;
        let oldest = pending.iter().copied().max().unwrap_or(0);
        self.max_pending_seconds = self.max_pending_seconds.max(oldest);
        let ready = usage.nodes.len() as u32;
        self.workers = (self.workers.0.min(ready), self.workers.1.max(ready), self.workers.2 + u64::from(ready) * dt);
        let app: Vec<&crate::Pod> = w.pods.iter().filter(|p| is_app(p)).collect();
        let placed = |p: &&crate::Pod| match (&p.node, p.phase) {
            (Some(n), PodPhase::Running) => w.nodes.iter().any(|x| x.name == *n),
            (None, PodPhase::Pending) => true,
            _ => false,
        };
        if app.len() != replicas as usize || !app.iter().all(placed) {
            self.conservation_violations += 1;
        }
        self.episodes(t, cpu, oldest, !pending.is_empty(), ready, w, ev);
        if t.is_multiple_of(self.sample_every) {
            self.series.push(Point {
                hours: t as f64 / 3600.0,
                demand_cores: demand / 1000.0,
                capacity_cores: usage.capacity_millis() / 1000.0,
                workers: ready,
            });
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn episodes(&mut self, t: u64, cpu: f64, oldest: u64, pending: bool, ready: u32, w: &WorldState, ev: StepEvents) {
        let window = (60 / self.step).max(1) as usize;
        self.recent_cpu.push_back(cpu);
        if self.recent_cpu.len() > window {
            self.recent_cpu.pop_front();
        }
        let avg = self.recent_cpu.iter().sum::<f64>() / self.recent_cpu.len() as f64;
        let booting = w
            .instances
            .values()
            .any(|i| i.state == InstanceState::Running && !w.nodes.iter().any(|n| n.name == i.id.0 && n.ready));
        let draining = w.nodes.iter().any(|n| n.is_worker() && n.cordoned);
        // Scale-up: the 1-minute average CPU above the trigger, or a pod Pending for its window.
        let up = avg > self.up_cpu || oldest >= self.pending_for;
        self.up = step_episode(
            self.up,
            t,
            up && !booting && ready < self.max_policy,
            up,
            ev.launched > 0,
            &mut self.up_samples,
        );
        // Scale-down: low for the whole window, nothing Pending, above the minimum.
        let low = avg < self.down_cpu && !pending && ready > self.min_policy;
        self.low_since = if low { self.low_since.or(Some(t)) } else { None };
        let due = self.low_since.is_some_and(|s| t - s >= self.down_for);
        self.down = step_episode(
            self.down,
            t,
            due && !draining && !booting,
            low,
            ev.drains_started > 0,
            &mut self.down_samples,
        );
    }

    /// The result.
    pub fn finish(&self) -> (Latency, Latency) {
        (Latency::of(self.up_samples.clone()), Latency::of(self.down_samples.clone()))
    }

    /// USD billed.
    pub fn cost_usd(&self) -> f64 {
        (self.worker_seconds.0 * self.prices.on_demand_per_hour + self.worker_seconds.1 * self.prices.spot_per_hour)
            / 3600.0
    }
}

/// Advances an episode: it opens when `open` holds, records its latency when `acted`, and ends
/// without a sample when `holds` has been false for `EPISODE_GAP_SECONDS`.
fn step_episode(e: Episode, t: u64, open: bool, holds: bool, acted: bool, samples: &mut Vec<u64>) -> Episode {
    let e = match e {
        Episode::Idle if open => Episode::Open { start: t, last_true: t },
        other => other,
    };
    match e {
        Episode::Open { start, .. } if acted => {
            samples.push(t - start);
            Episode::Idle
        }
        Episode::Open { start, .. } if holds => Episode::Open { start, last_true: t },
        Episode::Open { last_true, .. } if t - last_true >= EPISODE_GAP_SECONDS => Episode::Idle,
        other => other,
    }
}
