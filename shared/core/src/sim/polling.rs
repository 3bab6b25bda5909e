//! The `polling` strategy: the challenge's baseline design, as a small controller of its own
//! (not our engine). Every 2 minutes it reads the instantaneous average worker CPU from
//! Prometheus and the Pending pods from the K3s API, and adds or removes one on-demand worker at
//! a time with the policy's thresholds, windows, cooldowns, bounds, drain timeout and removal
//! rules, through the same world (EC2 launches, PDB-honouring evictions).

use futures_executor::block_on;

use super::{
    events::Event,
    ports::AuditedCluster,
    prometheus::Sent,
    run::{Controller, Env},
    scenario::{Scenario, ZONES},
};
use crate::{
    ClusterId, ClusterState, InstanceId, Policy, Snapshot,
    memory::{ManualClock, MemoryCloud},
    policy::{self, plan_drain},
    ports::{Clock, Cloud, Cluster, LaunchRequest},
    time::elapsed,
};

/// The baseline's schedule: an EventBridge rule every 2 minutes.
pub const PERIOD_SECONDS: u64 = 120;

/// Operation counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    /// Workers launched (one per scale-up).
    pub scale_ups: u64,
    /// Workers drained and terminated.
    pub scale_downs: u64,
    /// Launches that failed, nodes never Ready, drains that timed out.
    pub failed: u64,
}

#[derive(Debug, Clone)]
struct Launch {
    op: String,
    instance: InstanceId,
    at: u64,
}

#[derive(Debug, Clone)]
struct Drain {
    node: String,
    at: u64,
}

/// The baseline controller.
#[derive(Debug)]
pub struct Polling {
    policy: Policy,
    cloud: MemoryCloud<ManualClock>,
    /// Its cluster view (audited).
    pub cluster: AuditedCluster,
    launching: Option<Launch>,
    draining: Option<Drain>,
    last_up: Option<u64>,
    last_down: Option<u64>,
    backoff_until: u64,
    low_since: Option<u64>,
    seq: u64,
    /// What it did.
    pub tally: Tally,
}

impl Polling {
    /// The controller over `env`'s world.
    pub fn new(s: &Scenario, env: &Env) -> Self {
        Self {
            policy: s.policy.clone(),
            cloud: env.world.cloud(),
            cluster: AuditedCluster::new(&env.world),
            launching: None,
            draining: None,
            last_up: None,
            last_down: None,
            backoff_until: 0,
            low_since: None,
            seq: 0,
            tally: Tally::default(),
        }
    }

    fn since(t: u64, last: Option<u64>) -> u64 {
        last.map_or(u64::MAX, |l| t - l)
    }

    fn poll(&mut self, env: &Env) {
        let t = env.t;
        let p = self.policy.clone();
        let now = env.clock.now();
        let nodes = block_on(self.cluster.nodes()).expect("in-memory cluster");
        let pods = block_on(self.cluster.pods()).expect("in-memory cluster");
        let workers = nodes.iter().filter(|n| n.is_worker()).count() as u32;
        if let Some(l) = self.launching.clone() {
            if nodes.iter().any(|n| n.name == l.instance.0 && n.ready) {
                self.launching = None;
                self.last_up = Some(t);
            } else if t - l.at >= p.worker.ready_timeout.as_secs() {
                block_on(self.cloud.terminate(&l.instance)).expect("our instance");
                self.launching = None;
                self.tally.failed += 1;
                self.backoff_until = t + p.scale_up.failure_backoff.as_secs();
            }
        }
        if let Some(d) = self.draining.clone() {
            self.drain(env, &d, &pods);
        }
        if self.launching.is_some() || self.draining.is_some() {
            return; // one operation at a time
        }
        let cpu = env.prom.cpu.map(|c| c.percent);
        let unschedulable: Vec<u64> = pods
            .iter()
            .filter(|p| p.is_unschedulable())
            .map(|p| p.pending_since.map_or(0, |s| elapsed(now, s).as_secs()))
            .collect();
        let pending_long = unschedulable.iter().any(|a| *a >= p.scale_up.pending_for.as_secs());
        let hot = cpu.is_some_and(|c| c > p.scale_up.cpu_percent) || pending_long;
        let low = cpu.is_some_and(|c| c < p.scale_down.cpu_percent) && unschedulable.is_empty();
        self.low_since = if low { self.low_since.or(Some(t)) } else { None };
        let cooled = Self::since(t, self.last_up) >= p.scale_up.cooldown.as_secs() && t >= self.backoff_until;
        if workers < p.min_workers || (hot && workers < p.max_workers && cooled) {
            self.launch(env, &nodes);
            return;
        }
        let low_long = self.low_since.is_some_and(|s| t - s >= p.scale_down.cpu_for.as_secs());
        if low_long
            && workers > p.min_workers
            && Self::since(t, self.last_up) >= p.scale_down.after_scale_up.as_secs()
            && Self::since(t, self.last_down) >= p.scale_down.removal_pause.as_secs()
        {
            let pdbs = block_on(self.cluster.pdbs()).expect("in-memory cluster");
            let cluster = ClusterId::new(super::autoscaler::CLUSTER).expect("valid");
            let snap =
                Snapshot { taken_at: Some(now), state: ClusterState::new(cluster), nodes, pods: pods.clone(), pdbs };
            let (candidates, _) = policy::removal_candidates(&snap, &p);
            if let Some(c) = candidates.first() {
                block_on(self.cluster.cordon(&c.name)).expect("in-memory cluster");
                let d = Drain { node: c.name.clone(), at: t };
                self.draining = Some(d.clone());
                self.drain(env, &d, &pods);
            }
        }
    }

    fn launch(&mut self, env: &Env, nodes: &[crate::Node]) {
        self.seq += 1;
        let mut zones: Vec<String> = ZONES.iter().map(|z| (*z).to_owned()).collect();
        zones.sort_by_key(|z| (nodes.iter().filter(|n| n.is_worker() && &n.zone == z).count(), z.clone()));
        let req = LaunchRequest {
            operation_id: format!("poll-{}", self.seq),
            on_demand: 1,
            spot: 0,
            zones,
            instance_types: self.policy.worker.instance_types.clone(),
            avoid: vec![],
        };
        match block_on(self.cloud.launch(&req)) {
            Ok(r) if !r.instances.is_empty() => {
                self.tally.scale_ups += 1;
                self.launching = Some(Launch { op: req.operation_id, instance: r.instances[0].id.clone(), at: env.t });
            }
            _ => {
                self.tally.failed += 1;
                self.backoff_until = env.t + self.policy.scale_up.failure_backoff.as_secs();
            }
        }
    }

    /// Evicts what is left on the node; terminates it once empty; gives up at the timeout.
    fn drain(&mut self, env: &Env, d: &Drain, pods: &[crate::Pod]) {
        let on_node: Vec<&crate::Pod> = pods.iter().filter(|p| p.node.as_deref() == Some(d.node.as_str())).collect();
        let pdbs = block_on(self.cluster.pdbs()).expect("in-memory cluster");
        let plan = plan_drain(on_node.iter().copied(), &pdbs, &self.policy);
        if plan.evict.is_empty() && plan.blocking.is_empty() {
            block_on(self.cloud.terminate(&InstanceId(d.node.clone()))).expect("our instance");
            block_on(self.cluster.delete_node(&d.node)).expect("in-memory cluster");
            self.draining = None;
            self.last_down = Some(env.t);
            self.tally.scale_downs += 1;
            return;
        }
        if env.t - d.at >= self.policy.drain.timeout.as_secs() {
            block_on(self.cluster.uncordon(&d.node)).expect("in-memory cluster");
            self.draining = None;
            self.last_down = Some(env.t);
            self.tally.failed += 1;
            return;
        }
        let keys =
            plan.evict.iter().cloned().chain(plan.blocking.iter().map(|b| b.split(' ').next().unwrap_or(b).to_owned()));
        for key in keys {
            let (ns, name) = key.split_once('/').unwrap_or(("default", key.as_str()));
            block_on(self.cluster.evict(ns, name, self.policy.drain.pod_grace_seconds)).expect("in-memory cluster");
        }
    }
}

impl Controller for Polling {
    fn on_event(&mut self, _env: &Env, _event: &Event) {
        // The baseline subscribes to no EC2 events.
    }

    fn step(&mut self, env: &mut Env, _sent: Vec<Sent>) {
        if env.t.is_multiple_of(PERIOD_SECONDS) {
            self.poll(env);
        }
    }

    fn is_scale_up(&self, op: Option<&str>) -> bool {
        op.is_some_and(|o| o.starts_with("poll-")) || self.launching.as_ref().is_some_and(|l| Some(l.op.as_str()) == op)
    }
}

/// The `fixed` strategy: the initial workers, 24/7, nothing scaled.
#[derive(Debug, Default)]
pub struct Fixed;

impl Controller for Fixed {
    fn on_event(&mut self, _env: &Env, _event: &Event) {}
    fn step(&mut self, _env: &mut Env, _sent: Vec<Sent>) {}
    fn is_scale_up(&self, _op: Option<&str>) -> bool {
        false
    }
}
