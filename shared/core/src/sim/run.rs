//! One strategy's run: its own copy of the world, advanced step by step — EC2 events (Spot
//! notices, reclaims, state changes), the HPA and the scheduler, the node lifecycle controller,
//! Prometheus — with the strategy's controller acting through the ports, and the measurement.

use std::{collections::BTreeMap, time::Duration};

use super::{
    daytime::DAY,
    events::{self, Event},
    measure::{Measure, StepEvents},
    prometheus::{Prometheus, Rules, Sent},
    rng::Rng,
    scenario::{Scenario, ZONES},
    scheduler,
    workload::{self, Workload},
};
use crate::{
    InstanceId, Lifecycle, PodPhase,
    memory::{ManualClock, ScriptedError, World, WorldState},
    message::eventbridge::SPOT_NOTICE,
    policy::skip_reason,
    ports::Clock,
    signal::InstanceState,
    time::{Timestamp, after, elapsed},
};

/// The calendar day every run starts on (a Monday), simulated UTC.
pub const START_DATE: &str = "2026-06-01T00:00:00Z";
/// Kubernetes evicts the pods of a node NotReady for this long (taint-based eviction).
const NOT_READY_EVICTION_SECONDS: u64 = 300;
/// How often the HPA syncs.
const HPA_SYNC_SECONDS: u64 = 15;

/// The world of one strategy, as a controller sees it at a step.
#[derive(Debug)]
pub struct Env {
    /// Simulated time.
    pub clock: ManualClock,
    /// The EC2 fleet and the K3s cluster.
    pub world: World<ManualClock>,
    /// Seconds into the run.
    pub t: u64,
    /// Prometheus (the polling baseline queries it; the autoscaler hears its alerts).
    pub prom: Prometheus,
}

/// A scaling strategy.
pub trait Controller {
    /// An EventBridge event reaches the strategy's queue (if it has one).
    fn on_event(&mut self, env: &Env, event: &Event);
    /// One step at `env.t`; `sent` are the alerts Prometheus sent to Alertmanager now.
    fn step(&mut self, env: &mut Env, sent: Vec<Sent>);
    /// Whether instances launched by operation `op` are a scale-up (not a replacement).
    fn is_scale_up(&self, op: Option<&str>) -> bool;
}

/// The instant `t` seconds into a run of `s`.
pub fn instant(s: &Scenario, t: u64) -> Timestamp {
    let day: Timestamp = START_DATE.parse().expect("valid start date");
    after(day, Duration::from_secs(s.start.seconds() + t))
}

/// Everything a strategy's run leaves behind.
#[derive(Debug)]
pub struct Run {
    /// The measurement.
    pub measure: Measure,
    /// Spot workers that received a notice.
    pub spot_notices: u64,
    /// The final world.
    pub env: Env,
}

/// Runs `controller` over `s` with the precomputed `demand` (millicores per step); `progress`
/// is called with the fraction done.
pub fn run(s: &Scenario, demand: &[f64], controller: &mut dyn Controller, env: Env, progress: &dyn Fn(f64)) -> Run {
    let step = s.step.as_secs().max(1);
    let eval = s.policy.signals.evaluation_interval.as_secs().max(1);
    let mut env = env;
    let mut rng = Rng::new(s.seed, 2);
    let mut workload = Workload::new(s.pod.clone(), demand[0]);
    workload.install(&mut env.world.lock());
    settle(&env.world);
    let notices = spot_schedule(s);
    let mut reclaims: Vec<(u64, InstanceId)> = vec![];
    let mut noticed = 0u64;
    // The workers that exist before the run are not news.
    let mut known: BTreeMap<InstanceId, InstanceState> =
        env.world.lock().instances.iter().map(|(id, i)| (id.clone(), i.state)).collect();
    let mut not_ready: BTreeMap<String, u64> = BTreeMap::new();
    let mut outbox: Vec<Event> = vec![];
    let mut measure = Measure::new(s);
    // Each step stands for the interval [t, t + step): the run covers exactly its duration.
    let steps = demand.len().saturating_sub(1).max(1);
    for (k, &d) in demand.iter().enumerate().take(steps) {
        let t = k as u64 * step;
        env.t = t;
        env.clock.set(instant(s, t));
        let now = env.clock.now();
        for (_, id) in reclaims.extract_if(.., |(at, _)| *at <= t) {
            reclaim(&mut env.world.lock(), &id);
        }
        for &(_, count) in notices.iter().filter(|(at, _)| *at == t) {
            for (id, zone) in pick_spot(&env.world.lock(), count, &reclaims, &mut rng) {
                outbox.push(events::spot_interruption(&id, &zone, now));
                reclaims.push((t + SPOT_NOTICE.as_secs(), id));
                noticed += 1;
            }
        }
        for e in std::mem::take(&mut outbox) {
            controller.on_event(&env, &e);
        }
        {
            let mut w = env.world.lock();
            if t.is_multiple_of(HPA_SYNC_SECONDS) {
                workload.sync(&mut w, t, d);
            }
            evict_from_lost_nodes(&mut w, t, &mut not_ready, now);
        }
        settle(&env.world);
        let usage = workload::usage(&env.world.lock(), d);
        env.prom.observe(&usage);
        let sent = if t.is_multiple_of(eval) {
            env.prom.scrape();
            let w = env.world.lock();
            env.prom.evaluate(t, &w.pods, |p| p.pending_since.map(|s| elapsed(now, s).as_secs()))
        } else {
            vec![]
        };
        controller.step(&mut env, sent);
        let w = &mut *env.world.lock();
        let ev = step_events(w, controller, &mut known, &reclaims, now, &mut outbox);
        measure.record(
            t,
            w,
            &usage,
            d,
            workload.replicas,
            |p| p.pending_since.map_or(0, |s| elapsed(now, s).as_secs()),
            ev,
        );
        w.calls.clear();
        if k.is_multiple_of((steps / 100).max(1)) {
            progress(k as f64 / steps as f64);
        }
    }
    progress(1.0);
    Run { measure, spot_notices: noticed, env }
}

/// The cluster's controllers catch up: Pending pods are placed, spread over the workers; then
/// booted instances join (the world places what still waits onto them), and PDB allowances are
/// recomputed.
pub fn settle(world: &World<ManualClock>) {
    scheduler::spread(&mut world.lock());
    world.tick();
}

/// A world of `s.initial_workers` on-demand workers spread over the zones, booting new ones in
/// `boot_seconds`, failing launches in the scenario's capacity-error windows.
pub fn new_env(s: &Scenario) -> Env {
    let clock = ManualClock::at(instant(s, 0));
    let world = World::new(clock.clone());
    {
        let mut w = world.lock();
        w.boot_delay = Duration::from_secs(s.boot_seconds);
        w.worker_size = crate::Resources::new(s.policy.worker.cpu_millis, s.policy.worker.memory_mib * 1024 * 1024);
        w.errors = capacity_errors(s);
    }
    for i in 0..s.initial_workers as usize {
        world.add_worker(ZONES[i % ZONES.len()], Lifecycle::OnDemand);
    }
    // Workers that exist before the run were sized like the ones the policy launches.
    let size = world.lock().worker_size;
    world.lock().nodes.iter_mut().for_each(|n| n.allocatable = size);
    Env { clock, world, t: 0, prom: Prometheus::new(Rules::from_policy(&s.policy)) }
}

/// Every occurrence of every capacity-error window that overlaps the run.
fn capacity_errors(s: &Scenario) -> Vec<ScriptedError> {
    let duration = s.duration.as_secs() as i64;
    let start = s.start.seconds() as i64;
    let mut out = vec![];
    for c in &s.capacity_errors {
        let len = (c.to.seconds() as i64 - c.from.seconds() as i64).rem_euclid(DAY as i64);
        for d in 0..=(duration / DAY as i64 + 1) {
            if c.day.is_some_and(|want| i64::from(want) != d + 1) {
                continue;
            }
            let from = d * DAY as i64 + c.from.seconds() as i64 - start;
            let to = from + len;
            if to > 0 && from < duration {
                let at = |x: i64| instant(s, 0) + jiff::SignedDuration::from_secs(x);
                out.push(ScriptedError { code: c.code.clone(), zone: c.zone.clone(), from: at(from), until: at(to) });
            }
        }
    }
    out
}

/// `(offset, count)` of every Spot interruption of the run.
fn spot_schedule(s: &Scenario) -> Vec<(u64, u32)> {
    let step = s.step.as_secs().max(1);
    let mut v: Vec<(u64, u32)> = s
        .spot_interruptions
        .iter()
        .flat_map(|x| {
            super::daytime::occurrences(x.at, x.day, s.start, s.duration.as_secs())
                .into_iter()
                .map(move |o| (o.div_ceil(step) * step, x.count))
        })
        .collect();
    v.sort_unstable();
    v
}

/// Chooses up to `count` running Spot workers with a Ready node not already under notice.
fn pick_spot(w: &WorldState, count: u32, reclaims: &[(u64, InstanceId)], rng: &mut Rng) -> Vec<(InstanceId, String)> {
    let mut pool: Vec<(InstanceId, String)> = w
        .instances
        .values()
        .filter(|i| i.lifecycle == Lifecycle::Spot && i.state == InstanceState::Running)
        .filter(|i| w.nodes.iter().any(|n| n.name == i.id.0 && n.ready))
        .filter(|i| !reclaims.iter().any(|(_, r)| r == &i.id))
        .map(|i| (i.id.clone(), i.zone.clone()))
        .collect();
    let mut out = vec![];
    while out.len() < count as usize && !pool.is_empty() {
        out.push(pool.remove(rng.below(pool.len())));
    }
    out
}

/// EC2 takes a Spot instance at the end of its notice: the machine is gone, its node NotReady.
fn reclaim(w: &mut WorldState, id: &InstanceId) {
    if let Some(i) = w.instances.get_mut(id) {
        i.state = InstanceState::Terminated;
    }
    w.nodes.iter_mut().filter(|n| n.instance_id.as_ref() == Some(id)).for_each(|n| n.ready = false);
}

/// The node lifecycle controller: pods of a node NotReady for 5 minutes are deleted, and their
/// controllers recreate them Pending. The Node object stays until someone deletes it.
fn evict_from_lost_nodes(w: &mut WorldState, t: u64, since: &mut BTreeMap<String, u64>, now: Timestamp) {
    since.retain(|n, _| w.nodes.iter().any(|x| &x.name == n && !x.ready));
    for n in w.nodes.iter().filter(|n| n.is_worker() && !n.ready) {
        since.entry(n.name.clone()).or_insert(t);
    }
    for (node, at) in since.iter() {
        if t - at < NOT_READY_EVICTION_SECONDS {
            continue;
        }
        for p in w.pods.iter_mut().filter(|p| p.node.as_deref() == Some(node.as_str()) && skip_reason(p).is_none()) {
            p.node = None;
            p.phase = PodPhase::Pending;
            p.pending_since = Some(now);
        }
    }
}

/// Instance state changes become EventBridge events (delivered next step), and the step's
/// scale-up launches and removal drains are counted for the measurement, from the world's log of
/// mutating calls (a drain may start and finish within one message).
fn step_events(
    w: &WorldState,
    controller: &dyn Controller,
    known: &mut BTreeMap<InstanceId, InstanceState>,
    reclaims: &[(u64, InstanceId)],
    now: Timestamp,
    outbox: &mut Vec<Event>,
) -> StepEvents {
    let mut ev = StepEvents::default();
    for (id, i) in &w.instances {
        let before = known.get(id).copied();
        if before == Some(i.state) {
            continue;
        }
        known.insert(id.clone(), i.state);
        match (before, i.state) {
            (None, InstanceState::Running) => {
                if controller.is_scale_up(i.operation.as_deref()) {
                    ev.launched += 1;
                }
                outbox.push(events::state_change(id, &i.zone, "pending", now));
                outbox.push(events::state_change(id, &i.zone, "running", now));
            }
            (Some(InstanceState::Running), InstanceState::Terminated) => {
                outbox.push(events::state_change(id, &i.zone, "shutting-down", now));
                outbox.push(events::state_change(id, &i.zone, "terminated", now));
            }
            _ => {}
        }
    }
    for call in &w.calls {
        if let Some(node) = call.strip_prefix("cordon ")
            && !reclaims.iter().any(|(_, id)| id.0 == node)
        {
            ev.drains_started += 1;
        }
    }
    ev
}
