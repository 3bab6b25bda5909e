//! The `autoscaler` strategy: this project as deployed. Prometheus' alerts go through
//! Alertmanager (the shipped routing and timing) to the webhook's own parser and mapping, EC2
//! events and the reconciler's minute ticks join them on the FIFO queue, and every message
//! reaches the production engine, one at a time, over the in-memory ports.

use futures_executor::block_on;
use serde::Serialize;

use super::{
    alertmanager::Alertmanager,
    am_config::AmConfig,
    events::Event,
    ports::{AuditedCluster, SimMetrics, SimNotifier, SimStore},
    prometheus::Sent,
    queue::{Receipt, SimQueue},
    run::{Controller, Env, instant},
    scenario::{Scenario, ZONES},
};
use crate::{
    ClusterId, OperationKind,
    engine::{Engine, Outcome, Settings},
    memory::{ManualClock, MemoryCloud},
    message::{Envelope, Kind, alertmanager as webhook, id},
    ports::{Cloud, Cluster, OutgoingMessage, Queue, StateStore},
    reconcile,
    signal::Signal,
};

/// The simulated cluster's id.
pub const CLUSTER: &str = "sim";

type SimEngine = Engine<SimStore, MemoryCloud<ManualClock>, AuditedCluster, SimNotifier, SimMetrics, ManualClock>;

/// What the message pipeline did, for the report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Pipeline {
    /// Webhook notifications Alertmanager sent.
    pub webhook_notifications: u64,
    /// Payloads the webhook refused (should be 0).
    pub webhook_rejected: u64,
    /// Messages the queue accepted.
    pub enqueued: u64,
    /// Sends the queue dropped as duplicates within its 5-minute window.
    pub deduplicated_by_queue: u64,
    /// Messages the engine processed.
    pub processed: u64,
    /// Messages the engine recognised as already processed (its idempotency record).
    pub deduplicated_by_engine: u64,
    /// Messages well-formed but not actionable, or not understood (should be 0).
    pub ignored_or_poison: u64,
    /// Deliveries that failed and were retried after the visibility timeout.
    pub retried: u64,
    /// Messages moved to the dead-letter queue.
    pub dead_lettered: u64,
    /// Decisions the policy made.
    pub decisions: u64,
    /// Drift the reconciler reported (each finding of each tick).
    pub drift_findings: u64,
}

/// The strategy.
#[derive(Debug)]
pub struct Autoscaler {
    engine: SimEngine,
    am: Alertmanager,
    queue: SimQueue,
    cluster: ClusterId,
    /// Pipeline counts.
    pub pipeline: Pipeline,
}

impl Autoscaler {
    /// The engine and its pipeline over `env`'s world.
    pub fn new(s: &Scenario, env: &Env) -> Self {
        let cluster = ClusterId::new(CLUSTER).expect("valid cluster id");
        let settings =
            Settings::new(cluster.clone(), s.policy.clone(), "sim", ZONES.iter().map(|z| (*z).to_owned()).collect());
        let engine = Engine::new(
            SimStore::default(),
            env.world.cloud(),
            AuditedCluster::new(&env.world),
            SimNotifier::default(),
            SimMetrics::default(),
            env.clock.clone(),
            settings,
        );
        let am = Alertmanager::new(AmConfig::shipped(), CLUSTER, instant(s, 0));
        Self { engine, am, queue: SimQueue::new(env.clock.clone()), cluster, pipeline: Pipeline::default() }
    }

    /// The cluster view's audit (evictions, PDB violations).
    pub fn cluster(&self) -> &AuditedCluster {
        &self.engine.cluster
    }

    /// The engine's store.
    pub fn store(&self) -> &SimStore {
        &self.engine.store
    }

    /// Notifications the engine sent.
    pub fn notifications(&self) -> &SimNotifier {
        &self.engine.notifier
    }

    fn enqueue(&mut self, messages: Vec<OutgoingMessage>) {
        if messages.is_empty() {
            return;
        }
        block_on(self.queue.send(&messages)).expect("the simulated queue accepts every send");
    }

    /// The reconciler's minute tick, as `services/reconciler` makes it: the drift it finds in the
    /// state, EC2 and K3s, in one deduplicated message per minute.
    fn reconcile(&mut self, now: crate::time::Timestamp) {
        let state = block_on(self.engine.store.load(&self.cluster)).expect("in-memory store");
        let instances = block_on(self.engine.cloud.instances()).expect("in-memory cloud");
        let nodes = block_on(self.engine.cluster.nodes()).expect("in-memory cluster");
        let findings = reconcile::findings(state.as_ref(), &instances, &nodes, &self.engine.settings.policy, now);
        self.pipeline.drift_findings += findings.len() as u64;
        let at = crate::time::Timestamp::from_second(now.as_second() - now.as_second().rem_euclid(60)).unwrap_or(now);
        let tick = Envelope::new(
            id::reconcile(&self.cluster, at),
            Kind::Reconcile,
            self.cluster.clone(),
            now,
            Signal::Reconcile { at, findings },
        );
        self.enqueue(vec![OutgoingMessage {
            group_id: CLUSTER.into(),
            dedup_id: tick.id.clone(),
            body: tick.to_body(),
        }]);
    }

    /// The webhook: the same parse and mapping as `services/webhook`.
    fn webhook(&mut self, body: &str, env: &Env) {
        self.pipeline.webhook_notifications += 1;
        let now = crate::ports::Clock::now(&env.clock);
        let converted = webhook::parse(body.as_bytes()).and_then(|p| webhook::convert(&p, Some(&self.cluster), now));
        match converted {
            Ok(c) => {
                let out = c
                    .messages
                    .iter()
                    .map(|m| OutgoingMessage {
                        group_id: m.cluster.to_string(),
                        dedup_id: m.id.clone(),
                        body: m.to_body(),
                    })
                    .collect();
                self.enqueue(out);
            }
            Err(_) => self.pipeline.webhook_rejected += 1,
        }
    }
}

impl Controller for Autoscaler {
    fn on_event(&mut self, _env: &Env, event: &Event) {
        // EventBridge's SQS target uses the event id as the deduplication id.
        let m = OutgoingMessage { group_id: CLUSTER.into(), dedup_id: event.id.clone(), body: event.body.clone() };
        self.enqueue(vec![m]);
    }

    fn step(&mut self, env: &mut Env, sent: Vec<Sent>) {
        let t = env.t;
        let now = crate::ports::Clock::now(&env.clock);
        if !sent.is_empty() {
            self.am.receive(t, sent);
        }
        for payload in self.am.flush(t) {
            self.webhook(&payload, env);
        }
        if t.is_multiple_of(60) {
            self.reconcile(now);
        }
        let (engine, world, pipeline) = (&self.engine, &env.world, &mut self.pipeline);
        self.queue.deliver(|body| {
            super::run::settle(world);
            match block_on(engine.handle(body)) {
                Ok(Outcome::Processed { .. }) => pipeline.processed += 1,
                Ok(Outcome::Duplicate) => pipeline.deduplicated_by_engine += 1,
                Ok(Outcome::Ignored(_) | Outcome::Poison(_)) => pipeline.ignored_or_poison += 1,
                Err(_) => return Receipt::Failed,
            }
            Receipt::Done
        });
        let q = self.queue.stats();
        self.pipeline.enqueued = q.accepted;
        self.pipeline.deduplicated_by_queue = q.deduplicated;
        self.pipeline.retried = q.retried;
        self.pipeline.dead_lettered = q.dead_lettered;
        self.pipeline.decisions = self.engine.store.decisions();
    }

    fn is_scale_up(&self, op: Option<&str>) -> bool {
        let Some(op) = op else { return false };
        self.engine.store.inner.operations().iter().any(|o| o.id == op && o.kind == OperationKind::ScaleUp)
            || self
                .engine
                .store
                .inner
                .state(&self.cluster)
                .and_then(|s| s.operation)
                .is_some_and(|o| o.id == op && o.kind == OperationKind::ScaleUp)
    }
}
