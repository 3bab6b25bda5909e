//! The engine: the scaler's per-message procedure, written once against the ports and used by
//! the Lambda, the local poller and the simulator:
//!
//! parse → idempotency check → lease → load → observe → apply the signal → handle instance
//! events → advance the operation in flight → decide (the pure policy) and start an operation →
//! persist (conditional on version and lease, with the idempotency record) → release → notify.
//!
//! Long work is an operation persisted with a phase and a deadline; each message advances it as
//! far as it can without waiting, so an invocation stays far below its time limit.

mod apply;
mod events;
#[cfg(test)]
mod harness;
mod ops;
mod outcome;
mod settings;
mod start;
#[cfg(test)]
mod tests;

pub use apply::apply;
pub use outcome::{EngineError, Outcome, Step};
pub use settings::Settings;

use crate::{
    ClusterId, ClusterState, Decision, Node, Pdb, Pod,
    message::{self, Parsed},
    metric::{Metric, names},
    notification::{Notification, NotificationKind},
    ports::{Clock, Cloud, Cluster, DecisionRecord, Instance, Metrics, Notifier, StateStore, StoreError},
    signal::Signal,
    time::{Timestamp, after},
};

/// What the engine observed at the start of a message.
#[derive(Debug, Clone, Default)]
pub(crate) struct Observation {
    pub nodes: Vec<Node>,
    pub pods: Vec<Pod>,
    pub pdbs: Vec<Pdb>,
    pub instances: Vec<Instance>,
}

impl Observation {
    /// The node backed by `id`.
    pub fn node_of(&self, id: &crate::InstanceId) -> Option<&Node> {
        self.nodes.iter().find(|n| n.instance_id.as_ref() == Some(id) || n.name == id.0)
    }

    /// Whether `id` is one of this cluster's (tagged, live) instances.
    pub fn is_ours(&self, id: &crate::InstanceId) -> bool {
        self.instances.iter().any(|i| &i.id == id)
    }
}

/// The working set of one message.
#[derive(Debug)]
pub(crate) struct Ctx {
    pub now: Timestamp,
    pub message_id: String,
    pub state: ClusterState,
    pub obs: Observation,
    pub notes: Vec<Notification>,
    pub metrics: Vec<Metric>,
    pub actions: Vec<String>,
    pub decision: Option<Decision>,
    pub record: Option<DecisionRecord>,
}

/// The engine, generic over its ports.
#[derive(Debug)]
pub struct Engine<S, C, K, N, M, T> {
    /// State store.
    pub store: S,
    /// EC2.
    pub cloud: C,
    /// K3s API.
    pub cluster: K,
    /// Notifier.
    pub notifier: N,
    /// Metrics sink.
    pub metrics: M,
    /// Clock.
    pub clock: T,
    /// Settings.
    pub settings: Settings,
    /// Test hook: stop at this step as if the invocation died.
    pub crash_at: Option<Step>,
}

impl<S, C, K, N, M, T> Engine<S, C, K, N, M, T>
where
    S: StateStore,
    C: Cloud,
    K: Cluster,
    N: Notifier,
    M: Metrics,
    T: Clock,
{
    /// An engine over these ports.
    pub fn new(store: S, cloud: C, cluster: K, notifier: N, metrics: M, clock: T, settings: Settings) -> Self {
        Self { store, cloud, cluster, notifier, metrics, clock, settings, crash_at: None }
    }

    fn cluster_id(&self) -> &ClusterId {
        &self.settings.cluster_id
    }

    fn crash(&self, step: Step) -> Result<(), EngineError> {
        if self.crash_at == Some(step) { Err(EngineError::Crashed(step)) } else { Ok(()) }
    }

    fn ignored(&self, reason: &str) {
        self.metrics.emit(&Metric::count(names::MESSAGES_IGNORED, self.cluster_id().as_str()).with("reason", reason));
    }

    /// Processes one queue message body.
    pub async fn handle(&self, body: &str) -> Result<Outcome, EngineError> {
        let cluster = self.cluster_id().clone();
        let parsed = match message::parse(body, &cluster) {
            Ok(p) => p,
            Err(e) => {
                self.ignored("poison");
                return Ok(Outcome::Poison(e.to_string()));
            }
        };
        if parsed.cluster != cluster {
            self.ignored("other_cluster");
            return Ok(Outcome::Ignored(format!(
                "message for cluster {}, this scaler serves {cluster}",
                parsed.cluster
            )));
        }
        let Some(signal) = parsed.signal.clone() else {
            self.ignored("not_actionable");
            return Ok(Outcome::Ignored(parsed.ignored.clone().unwrap_or_else(|| "not actionable".into())));
        };
        let now = self.clock.now();
        if self.store.seen(&cluster, &parsed.id, now).await? {
            self.ignored("duplicate");
            return Ok(Outcome::Duplicate);
        }
        self.crash(Step::AfterSeen)?;
        let lease =
            match self.store.acquire(&cluster, &self.settings.owner, now, after(now, self.settings.lease_for)).await {
                Ok(l) => l,
                Err(e) => {
                    if matches!(e, StoreError::LeaseHeld { .. }) {
                        self.metrics.emit(&Metric::count(names::LEASE_CONFLICTS, cluster.as_str()));
                    }
                    return Err(e.into());
                }
            };
        self.crash(Step::AfterLease)?;
        // Checked again under the lease: another invocation may have processed a copy of this
        // message while we waited for it (found by the model check, tests/model_check.rs).
        match self.store.seen(&cluster, &parsed.id, now).await {
            Ok(false) => {}
            Ok(true) => {
                let _ = self.store.release(&lease).await;
                self.ignored("duplicate");
                return Ok(Outcome::Duplicate);
            }
            Err(e) => {
                let _ = self.store.release(&lease).await;
                return Err(e.into());
            }
        }
        let ctx = match self.process(&parsed, &signal, &lease, now).await {
            Ok(ctx) => ctx,
            Err(e) => {
                if !matches!(e, EngineError::Crashed(_)) {
                    // Best effort: an unreleased lease only delays the retry until it expires.
                    let _ = self.store.release(&lease).await;
                }
                return Err(e);
            }
        };
        self.store.release(&lease).await?;
        self.crash(Step::AfterRelease)?;
        for m in &ctx.metrics {
            self.metrics.emit(m);
        }
        for n in &ctx.notes {
            self.notifier.notify(n).await;
        }
        Ok(Outcome::Processed { decision: ctx.decision, actions: ctx.actions })
    }

    async fn process(
        &self,
        parsed: &Parsed,
        signal: &Signal,
        lease: &crate::ports::Lease,
        now: Timestamp,
    ) -> Result<Ctx, EngineError> {
        let cluster = self.cluster_id();
        let state = self.store.load(cluster).await?.unwrap_or_else(|| ClusterState::new(cluster.clone()));
        let obs = self.observe().await?;
        self.crash(Step::AfterObserve)?;
        let mut ctx = Ctx {
            now,
            message_id: parsed.id.clone(),
            state,
            obs,
            notes: vec![],
            metrics: vec![],
            actions: vec![],
            decision: None,
            record: None,
        };
        apply(&mut ctx.state, signal, &self.settings.policy, parsed.received_at.min(now));
        fix_demand(&mut ctx.state, &ctx.obs, signal);
        let op_before = ctx.state.operation.clone();
        self.on_signal(&mut ctx, signal, lease).await?;
        self.advance(&mut ctx).await?;
        self.drain_interrupted(&mut ctx).await?;
        if ctx.state.active_operation().is_none() {
            self.start_next(&mut ctx, lease).await?;
        }
        self.crash(Step::BeforePersist)?;
        let workers = ctx.obs.nodes.iter().filter(|n| n.is_worker()).count() as u32;
        ctx.state.node_count = workers;
        ctx.state.scaling_in_progress = ctx.state.active_operation().is_some();
        ctx.metrics.push(Metric::count(names::WORKERS, cluster.as_str()).value(f64::from(workers)));
        let pending = ctx.obs.pods.iter().filter(|p| p.is_unschedulable()).count();
        ctx.metrics.push(Metric::count(names::PENDING_PODS, cluster.as_str()).value(pending as f64));
        let fresh = ctx
            .state
            .cpu
            .observed_at
            .is_some_and(|at| crate::time::elapsed(now, at) <= self.settings.policy.signals.stale_after);
        if let (Some(pct), true) = (ctx.state.cpu.percent, fresh) {
            let mut m = Metric::count(names::CPU_PERCENT, cluster.as_str()).value(pct);
            m.unit = crate::metric::Unit::None;
            ctx.metrics.push(m);
        }
        if let Some(record) = &ctx.record {
            let expires = after(now, self.settings.decision_ttl);
            self.store.put_decision(record, expires).await?;
        }
        if ctx.state.operation != op_before
            && let Some(op) = &ctx.state.operation
        {
            self.store.put_operation(cluster, op).await?;
        }
        let expires = after(now, self.settings.message_ttl);
        ctx.state.version = self.store.save(&ctx.state, lease, Some(&parsed.id), expires, now).await?;
        self.crash(Step::AfterPersist)?;
        Ok(ctx)
    }

    async fn observe(&self) -> Result<Observation, EngineError> {
        let (nodes, pods, pdbs, instances) =
            futures_join(self.cluster.nodes(), self.cluster.pods(), self.cluster.pdbs(), self.cloud.instances()).await;
        Ok(Observation { nodes: nodes?, pods: pods?, pdbs: pdbs?, instances: instances? })
    }

    /// Persists the state mid-message (an operation's intent, before acting on it), so that a
    /// crash after the action is resumed by the redelivered message instead of repeated blindly.
    async fn persist_intent(&self, ctx: &mut Ctx, lease: &crate::ports::Lease) -> Result<(), EngineError> {
        let far = after(ctx.now, self.settings.message_ttl);
        ctx.state.scaling_in_progress = ctx.state.active_operation().is_some();
        ctx.state.version = self.store.save(&ctx.state, lease, None, far, ctx.now).await?;
        self.crash(Step::AfterIntent)
    }

    fn note(
        &self,
        ctx: &Ctx,
        kind: NotificationKind,
        summary: String,
        reasons: Vec<String>,
        nodes: Vec<String>,
    ) -> Notification {
        let op = ctx.state.operation.as_ref();
        Notification {
            cluster: self.cluster_id().clone(),
            kind,
            severity: kind.severity(),
            summary,
            reasons,
            nodes,
            operation_id: op.map(|o| o.id.clone()),
            duration: op.map(|o| crate::time::elapsed(ctx.now, o.started_at)),
            config_version: self.settings.policy.version(),
            at: ctx.now,
        }
    }
}

/// A CPU percentage means nothing without the fleet it was measured on: when an alert carried
/// no absolute demand, it is fixed now from the Ready capacity that produced the reading, so a
/// later decision on a different fleet does not rescale an old percentage.
fn fix_demand(state: &mut ClusterState, obs: &Observation, signal: &Signal) {
    let carried = matches!(
        signal,
        Signal::HighCpu { .. } | Signal::LowCpu { .. } | Signal::Overprovisioned { .. } | Signal::Watchdog { .. }
    );
    if carried
        && state.cpu.observed_at.is_some()
        && state.cpu.demand_cores.is_none()
        && let Some(pct) = state.cpu.percent
    {
        let ready: u64 = obs.nodes.iter().filter(|n| n.is_worker() && n.ready).map(|n| n.allocatable.cpu_millis).sum();
        state.cpu.demand_cores = Some(pct / 100.0 * ready as f64 / 1000.0);
    }
}

/// Awaits four futures concurrently without an async runtime dependency.
async fn futures_join<A, B, C, D>(a: A, b: B, c: C, d: D) -> (A::Output, B::Output, C::Output, D::Output)
where
    A: std::future::Future,
    B: std::future::Future,
    C: std::future::Future,
    D: std::future::Future,
{
    let ((a, b), (c, d)) = join2(join2(a, b), join2(c, d)).await;
    (a, b, c, d)
}

async fn join2<A: std::future::Future, B: std::future::Future>(a: A, b: B) -> (A::Output, B::Output) {
    let mut a = std::pin::pin!(a);
    let mut b = std::pin::pin!(b);
    let (mut ra, mut rb) = (None, None);
    std::future::poll_fn(|cx| {
        if ra.is_none()
            && let std::task::Poll::Ready(v) = a.as_mut().poll(cx)
        {
            ra = Some(v);
        }
        if rb.is_none()
            && let std::task::Poll::Ready(v) = b.as_mut().poll(cx)
        {
            rb = Some(v);
        }
        if ra.is_some() && rb.is_some() { std::task::Poll::Ready(()) } else { std::task::Poll::Pending }
    })
    .await;
    (ra.expect("ready"), rb.expect("ready"))
}

#[cfg(test)]
mod consolidation;
#[cfg(test)]
mod crash;
#[cfg(test)]
mod hold;
