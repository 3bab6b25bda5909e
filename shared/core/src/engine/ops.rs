//! Advancing the operation in flight, one phase handler each: launching → waiting-ready →
//! done | failed; cordoned → draining → terminating → done | aborted. A handler returns whether
//! it moved the operation, so one message advances as far as it can without waiting.

use super::{Ctx, Engine, EngineError, Step};
use crate::{
    Lifecycle, OperationKind, Phase,
    metric::{Metric, names},
    notification::NotificationKind,
    policy::plan_drain,
    ports::{Clock, Cloud, CloudError, Cluster, Eviction, LaunchRequest, Metrics, Notifier, StateStore},
    time::{after, elapsed, human},
};

impl<S, C, K, N, M, T> Engine<S, C, K, N, M, T>
where
    S: StateStore,
    C: Cloud,
    K: Cluster,
    N: Notifier,
    M: Metrics,
    T: Clock,
{
    /// Advances the operation in flight as far as it goes now.
    pub(crate) async fn advance(&self, ctx: &mut Ctx) -> Result<(), EngineError> {
        // Bounded: every phase is visited at most once per message.
        for _ in 0..6 {
            let Some(phase) = ctx.state.active_operation().map(|o| o.phase) else { return Ok(()) };
            let moved = match phase {
                Phase::Launching => self.launch(ctx).await?,
                Phase::WaitingReady => self.check_ready(ctx).await?,
                Phase::Cordoned | Phase::Draining => self.drain(ctx).await?,
                Phase::Terminating => self.terminate(ctx).await?,
                Phase::Done | Phase::Failed | Phase::Aborted => false,
            };
            if !moved {
                break;
            }
        }
        Ok(())
    }

    fn cluster_str(&self) -> &str {
        self.settings.cluster_id.as_str()
    }

    /// The launch request of the operation: on-demand up to the base, Spot above it, zones with
    /// the fewest workers first.
    fn launch_request(&self, ctx: &Ctx) -> LaunchRequest {
        let policy = &self.settings.policy;
        let op = ctx.state.operation.as_ref().expect("an operation is in flight");
        let count = op.launch_count;
        let workers = ctx.obs.nodes.iter().filter(|n| n.is_worker());
        let on_demand_now = workers.clone().filter(|n| n.lifecycle == Lifecycle::OnDemand && n.ready).count() as u32;
        let need_on_demand = policy.on_demand_base().saturating_sub(on_demand_now).min(count);
        let spot = if policy.worker.spot { count - need_on_demand } else { 0 };
        let mut zones = self.settings.zones.clone();
        zones.sort_by_key(|z| (workers.clone().filter(|n| &n.zone == z).count(), z.clone()));
        let avoided: Vec<&String> = op.avoid.iter().map(|(z, _)| z).collect();
        // Prefer zones other than the interrupted pool's, but keep them as a last resort.
        zones.sort_by_key(|z| avoided.contains(&z));
        LaunchRequest {
            operation_id: op.id.clone(),
            on_demand: count - spot,
            spot,
            zones,
            instance_types: policy.worker.instance_types.clone(),
            avoid: op.avoid.clone(),
        }
    }

    async fn launch(&self, ctx: &mut Ctx) -> Result<bool, EngineError> {
        let req = self.launch_request(ctx);
        let policy = &self.settings.policy;
        let result = self.cloud.launch(&req).await;
        self.crash(Step::AfterAct)?;
        let now = ctx.now;
        match result {
            Ok(done) => {
                let ids: Vec<String> = done.instances.iter().map(|i| i.id.to_string()).collect();
                let op = ctx.state.operation.as_mut().expect("in flight");
                op.instances = done.instances.iter().map(|i| i.id.clone()).collect();
                op.advance(Phase::WaitingReady, after(now, policy.worker.ready_timeout)).expect("launching → waiting");
                let mut reasons = op.reasons.clone();
                reasons.extend(done.fallbacks.iter().map(|f| format!("capacity fallback: {f}")));
                let summary =
                    format!("Launching {} workers ({} on-demand, {} Spot)", ids.len(), req.on_demand, req.spot);
                ctx.actions.push(format!("launched {}", ids.join(",")));
                ctx.metrics.push(Metric::count(names::SCALE_UPS, self.cluster_str()).value(f64::from(req.count())));
                let note = self.note(ctx, NotificationKind::ScaleUpStarted, summary, reasons, ids);
                ctx.notes.push(note);
                Ok(true)
            }
            Err(e) if e.retryable() => Err(e.into()),
            Err(e) => {
                self.fail_launch(ctx, &e);
                Ok(true)
            }
        }
    }

    fn fail_launch(&self, ctx: &mut Ctx, e: &CloudError) {
        let policy = &self.settings.policy;
        let now = ctx.now;
        let op = ctx.state.operation.as_mut().expect("in flight");
        op.phase = Phase::Failed;
        op.result = Some(format!("{e}"));
        ctx.state.backoff_until = Some(after(now, policy.scale_up.failure_backoff));
        let reasons = vec![
            format!("EC2 error code {}", e.code()),
            format!("{e}"),
            format!(
                "no launch before {} (failure backoff {})",
                after(now, policy.scale_up.failure_backoff),
                human(policy.scale_up.failure_backoff)
            ),
        ];
        ctx.metrics
            .push(Metric::count(names::FAILED_OPERATIONS, self.cluster_str()).with("reason", e.code().to_owned()));
        let note = self.note(ctx, NotificationKind::LaunchFailed, "Launch failed".into(), reasons, vec![]);
        ctx.notes.push(note);
    }

    async fn check_ready(&self, ctx: &mut Ctx) -> Result<bool, EngineError> {
        let op = ctx.state.operation.clone().expect("in flight");
        let ready: Vec<_> =
            op.instances.iter().filter(|i| ctx.obs.node_of(i).is_some_and(|n| n.ready)).cloned().collect();
        if !op.instances.is_empty() && ready.len() == op.instances.len() {
            let took = elapsed(ctx.now, op.started_at);
            ctx.metrics.push(Metric::seconds(names::NODE_JOIN_SECONDS, self.cluster_str(), took.as_secs_f64()));
            if op.kind == OperationKind::Rebalance {
                return self.cordon_at_risk(ctx).await;
            }
            let o = ctx.state.operation.as_mut().expect("in flight");
            o.advance(Phase::Done, ctx.now).expect("waiting → done");
            o.result = Some(format!("{} workers Ready after {}", ready.len(), human(took)));
            ctx.state.last_scale_up_at = Some(ctx.now);
            let ids = ready.iter().map(ToString::to_string).collect();
            let note = self.note(
                ctx,
                NotificationKind::ScaleUpDone,
                format!("{} new workers Ready", ready.len()),
                op.reasons,
                ids,
            );
            ctx.notes.push(note);
            return Ok(true);
        }
        if !op.overdue(ctx.now) {
            return Ok(false);
        }
        // Not Ready in time: terminate what never joined, fail, back off.
        let stuck: Vec<_> = op.instances.iter().filter(|i| !ready.contains(i)).cloned().collect();
        for id in &stuck {
            self.cloud.terminate(id).await?;
            ctx.actions.push(format!("terminated {id} (never Ready)"));
        }
        self.crash(Step::AfterAct)?;
        let policy = &self.settings.policy;
        let o = ctx.state.operation.as_mut().expect("in flight");
        o.advance(Phase::Failed, ctx.now).expect("waiting → failed");
        o.result = Some(format!(
            "{} of {} workers not Ready within {}",
            stuck.len(),
            op.instances.len(),
            human(policy.worker.ready_timeout)
        ));
        ctx.state.backoff_until = Some(after(ctx.now, policy.scale_up.failure_backoff));
        if !ready.is_empty() {
            ctx.state.last_scale_up_at = Some(ctx.now);
        }
        ctx.metrics.push(Metric::count(names::FAILED_OPERATIONS, self.cluster_str()).with("reason", "never_ready"));
        let reasons = vec![
            o.result.clone().unwrap_or_default(),
            "terminated; check the worker user data and the join token".into(),
        ];
        let ids = stuck.iter().map(ToString::to_string).collect();
        let note = self.note(ctx, NotificationKind::NodeNeverReady, "Workers never became Ready".into(), reasons, ids);
        ctx.notes.push(note);
        Ok(true)
    }

    /// Rebalance: the replacement is Ready, now drain the at-risk worker.
    async fn cordon_at_risk(&self, ctx: &mut Ctx) -> Result<bool, EngineError> {
        let node = ctx.state.operation.as_ref().and_then(|o| o.nodes.first().cloned());
        let deadline = after(ctx.now, self.settings.policy.drain.timeout);
        match node {
            Some(node) if ctx.obs.nodes.iter().any(|n| n.name == node) => {
                // The drain handler cordons (idempotently) and evicts.
                let o = ctx.state.operation.as_mut().expect("in flight");
                o.advance(Phase::Cordoned, deadline).expect("waiting → cordoned");
                let note = self.note(
                    ctx,
                    NotificationKind::DrainStarted,
                    format!("Draining at-risk worker {node}"),
                    vec![],
                    vec![node],
                );
                ctx.notes.push(note);
            }
            _ => {
                // The at-risk worker is already gone: the replacement was all that was needed.
                let o = ctx.state.operation.as_mut().expect("in flight");
                o.advance(Phase::Done, ctx.now).expect("waiting → done");
                o.result = Some("replacement Ready; the at-risk worker was already gone".into());
                ctx.state.last_scale_up_at = Some(ctx.now);
            }
        }
        Ok(true)
    }

    async fn drain(&self, ctx: &mut Ctx) -> Result<bool, EngineError> {
        let policy = &self.settings.policy;
        let op = ctx.state.operation.clone().expect("in flight");
        let Some(node) = op.nodes.first().cloned() else {
            let o = ctx.state.operation.as_mut().expect("in flight");
            o.phase = Phase::Aborted;
            o.result = Some("operation names no node".into());
            return Ok(true);
        };
        if op.phase == Phase::Cordoned {
            // Idempotent: a message redelivered after a crash re-applies it.
            self.cluster.cordon(&node).await?;
            ctx.actions.push(format!("cordoned {node}"));
        }
        let pods: Vec<_> = ctx.obs.pods.iter().filter(|p| p.node.as_deref() == Some(node.as_str())).collect();
        let plan = plan_drain(pods.iter().copied(), &ctx.obs.pdbs, policy);
        let new_blocker = plan.blocking.iter().find(|b| !b.contains("allows 0 disruptions"));
        if let Some(blocker) = new_blocker {
            let reason = format!("node {node} now runs {blocker}");
            return self.abort_drain(ctx, &node, NotificationKind::Aborted, reason).await;
        }
        if plan.evict.is_empty() && plan.blocking.is_empty() {
            let o = ctx.state.operation.as_mut().expect("in flight");
            if o.phase == Phase::Cordoned {
                o.advance(Phase::Draining, o.deadline).expect("cordoned → draining");
            }
            o.advance(Phase::Terminating, after(ctx.now, policy.drain.timeout)).expect("draining → terminating");
            ctx.metrics.push(Metric::seconds(
                names::DRAIN_SECONDS,
                self.cluster_str(),
                elapsed(ctx.now, op.started_at).as_secs_f64(),
            ));
            return Ok(true);
        }
        if op.overdue(ctx.now) {
            let reason = format!(
                "drain timed out after {}; still on the node: {}",
                human(policy.drain.timeout),
                plan.evict.iter().chain(&plan.blocking).cloned().collect::<Vec<_>>().join(", ")
            );
            return self.abort_drain(ctx, &node, NotificationKind::DrainTimedOut, reason).await;
        }
        let mut blocked = 0;
        // PDB-blocked pods are retried too: the API server answers 429 until the budget allows.
        let keys =
            plan.evict.iter().map(String::as_str).chain(plan.blocking.iter().map(|b| b.split(' ').next().unwrap_or(b)));
        for key in keys {
            let (ns, name) = key.split_once('/').unwrap_or(("default", key));
            match self.cluster.evict(ns, name, policy.drain.pod_grace_seconds).await? {
                Eviction::Evicted => ctx.actions.push(format!("evicted {key}")),
                Eviction::Gone => {}
                Eviction::Blocked => blocked += 1,
            }
        }
        self.crash(Step::AfterAct)?;
        if blocked > 0 {
            ctx.metrics.push(Metric::count(names::EVICTIONS_BLOCKED, self.cluster_str()).value(f64::from(blocked)));
        }
        let o = ctx.state.operation.as_mut().expect("in flight");
        if o.phase == Phase::Cordoned {
            o.advance(Phase::Draining, o.deadline).expect("cordoned → draining");
        }
        // Evicted pods take their grace period to go: the next message looks again.
        Ok(false)
    }

    async fn abort_drain(
        &self,
        ctx: &mut Ctx,
        node: &str,
        kind: NotificationKind,
        reason: String,
    ) -> Result<bool, EngineError> {
        self.cluster.uncordon(node).await?;
        ctx.actions.push(format!("uncordoned {node}"));
        let o = ctx.state.operation.as_mut().expect("in flight");
        o.phase = Phase::Aborted;
        o.result = Some(reason.clone());
        // Do not pick the same node again at once, and let the next low-CPU period restart.
        ctx.state.last_scale_down_at = Some(ctx.now);
        ctx.state.scale_down_target = None;
        let why = if kind == NotificationKind::DrainTimedOut { "drain_timeout" } else { "drain_aborted" };
        ctx.metrics.push(Metric::count(names::FAILED_OPERATIONS, self.cluster_str()).with("reason", why));
        let summary = format!("Drain of {node} given up; node uncordoned");
        let note = self.note(ctx, kind, summary, vec![reason], vec![node.to_owned()]);
        ctx.notes.push(note);
        Ok(true)
    }

    async fn terminate(&self, ctx: &mut Ctx) -> Result<bool, EngineError> {
        let op = ctx.state.operation.clone().expect("in flight");
        let node = op.nodes.first().cloned().unwrap_or_default();
        let instance = ctx.obs.nodes.iter().find(|n| n.name == node).and_then(|n| n.instance_id.clone());
        let instance = instance.or_else(|| op.instances.last().cloned());
        if let Some(id) = &instance {
            match self.cloud.terminate(id).await {
                Ok(()) => ctx.actions.push(format!("terminated {id}")),
                Err(CloudError::NotOurs { id }) => {
                    let why = format!("refused to terminate {id}: not tagged as a worker of this cluster");
                    let o = ctx.state.operation.as_mut().expect("in flight");
                    o.phase = Phase::Failed;
                    o.result = Some(why.clone());
                    self.cluster.uncordon(&node).await?;
                    ctx.metrics
                        .push(Metric::count(names::FAILED_OPERATIONS, self.cluster_str()).with("reason", "not_ours"));
                    let reasons = vec![why, "node uncordoned; check the instance's k3s-autoscaler tags".into()];
                    let note = self.note(
                        ctx,
                        NotificationKind::Aborted,
                        format!("Removal of {node} refused"),
                        reasons,
                        vec![node],
                    );
                    ctx.notes.push(note);
                    return Ok(true);
                }
                Err(e) => return Err(e.into()),
            }
        }
        self.crash(Step::AfterAct)?;
        self.cluster.delete_node(&node).await?;
        ctx.actions.push(format!("deleted node {node}"));
        let o = ctx.state.operation.as_mut().expect("in flight");
        o.advance(Phase::Done, ctx.now).expect("terminating → done");
        o.result = Some(format!("{node} drained and terminated"));
        ctx.state.last_scale_down_at = Some(ctx.now);
        ctx.metrics.push(Metric::count(names::SCALE_DOWNS, self.cluster_str()));
        let summary = format!("Removed worker {node}");
        let note = self.note(ctx, NotificationKind::ScaleDownDone, summary, op.reasons.clone(), vec![node]);
        ctx.notes.push(note);
        Ok(true)
    }
}
