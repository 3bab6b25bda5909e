//! Starting work when no operation is in flight: owed Spot replacements first, then at-risk
//! workers (replacement first), then whatever the policy decides. Every start persists the
//! operation's intent before acting, so a crash resumes it instead of repeating or losing it.

use super::{Ctx, Engine, EngineError};
use crate::{
    Decision, Operation, OperationKind, Phase, Snapshot,
    decision::Action,
    message::id,
    metric::{Metric, names},
    notification::NotificationKind,
    policy,
    ports::{Clock, Cloud, Cluster, DecisionRecord, Lease, Metrics, Notifier, StateStore},
    time::{after, elapsed},
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
    /// Starts the next piece of work, if any.
    pub(crate) async fn start_next(&self, ctx: &mut Ctx, lease: &Lease) -> Result<(), EngineError> {
        let in_backoff = ctx.state.backoff_until.is_some_and(|u| ctx.now < u);
        if ctx.state.replacements_owed > 0 && !in_backoff && !self.settings.policy.dry_run {
            let n = std::mem::take(&mut ctx.state.replacements_owed);
            let reason = format!("replacing {n} interrupted Spot workers");
            return self.begin_launch(ctx, OperationKind::SpotReplace, n, vec![reason], vec![], lease).await;
        }
        ctx.state.at_risk.retain(|i| ctx.obs.is_ours(i));
        if let Some(at_risk) = ctx.state.at_risk.first().cloned()
            && !in_backoff
            && !self.settings.policy.dry_run
        {
            ctx.state.at_risk.remove(0);
            let reason = format!("replacing at-risk worker {at_risk} before draining it");
            let pool =
                ctx.obs.instances.iter().find(|i| i.id == at_risk).map(|i| (i.zone.clone(), i.instance_type.clone()));
            self.begin_launch(ctx, OperationKind::Rebalance, 1, vec![reason], pool.into_iter().collect(), lease)
                .await?;
            if let Some(op) = ctx.state.operation.as_mut() {
                op.nodes = vec![at_risk.0.clone()];
            }
            return Ok(());
        }
        self.decide(ctx, lease).await
    }

    async fn decide(&self, ctx: &mut Ctx, lease: &Lease) -> Result<(), EngineError> {
        let policy = &self.settings.policy;
        let snap = Snapshot {
            taken_at: Some(ctx.now),
            state: ctx.state.clone(),
            nodes: ctx.obs.nodes.clone(),
            pods: ctx.obs.pods.clone(),
            pdbs: ctx.obs.pdbs.clone(),
        };
        let decision = policy::decide(&snap, policy, ctx.now);
        let cluster = self.settings.cluster_id.as_str();
        ctx.metrics.push(Metric::count(names::DECISIONS, cluster).with("action", decision.action.as_str()));
        ctx.record = Some(self.record(ctx, &snap, &decision));
        ctx.state.desired_count = decision.target;
        self.track_hold(ctx, &decision);
        match decision.action {
            Action::None => {
                if decision.target >= decision.current {
                    ctx.state.scale_down_target = None;
                }
            }
            _ if policy.dry_run => {
                let verb = if decision.action == Action::ScaleUp { "scale up" } else { "scale down" };
                let summary =
                    format!("Dry run: would {verb} by {} ({} → {})", decision.count, decision.current, decision.target);
                let note =
                    self.note(ctx, NotificationKind::DryRun, summary, decision.reasons.clone(), decision.nodes.clone());
                ctx.notes.push(note);
            }
            Action::ScaleUp => {
                ctx.state.scale_down_target = None;
                if let Some(since) = up_condition_since(&snap, policy) {
                    ctx.metrics.push(
                        Metric::seconds(names::DECISION_LATENCY, cluster, elapsed(ctx.now, since).as_secs_f64())
                            .with("action", "scale_up"),
                    );
                }
                let kind = OperationKind::ScaleUp;
                self.begin_launch(ctx, kind, decision.count, decision.reasons.clone(), vec![], lease).await?;
            }
            Action::ScaleDown => {
                ctx.state.scale_down_target = Some(decision.target);
                if let Some(since) = down_condition_since(&snap, policy, ctx.now) {
                    ctx.metrics.push(
                        Metric::seconds(names::DECISION_LATENCY, cluster, elapsed(ctx.now, since).as_secs_f64())
                            .with("action", "scale_down"),
                    );
                }
                self.begin_drain(ctx, &decision, lease).await?;
            }
        }
        ctx.decision = Some(decision);
        Ok(())
    }

    /// Tracks how long the decisions have wanted fewer workers without removing one, and
    /// notifies once when that lasts `scale_down.report_held_after`: a cooldown or a pause
    /// between removals ends within minutes, a blocking pod does not.
    fn track_hold(&self, ctx: &mut Ctx, decision: &Decision) {
        let held = decision.action == Action::None && decision.target < decision.current;
        if !held {
            ctx.state.scale_down_held_since = None;
            ctx.state.scale_down_held_reported = false;
            return;
        }
        let since = *ctx.state.scale_down_held_since.get_or_insert(ctx.now);
        let after = self.settings.policy.scale_down.report_held_after;
        if !ctx.state.scale_down_held_reported && elapsed(ctx.now, since) >= after {
            ctx.state.scale_down_held_reported = true;
            let summary = format!(
                "{} workers for {} although the demand needs {}; none could be removed",
                decision.current,
                crate::time::human(elapsed(ctx.now, since)),
                decision.target
            );
            let note = self.note(ctx, NotificationKind::ScaleDownHeld, summary, decision.reasons.clone(), vec![]);
            ctx.notes.push(note);
        }
    }

    fn record(&self, ctx: &Ctx, snap: &Snapshot, decision: &Decision) -> DecisionRecord {
        let pending = snap.pods.iter().filter(|p| p.is_unschedulable()).count();
        DecisionRecord {
            cluster_id: self.settings.cluster_id.clone(),
            at: ctx.now,
            message_id: ctx.message_id.clone(),
            inputs: serde_json::json!({
                "workers": decision.current,
                "ready_workers": snap.nodes.iter().filter(|n| n.is_worker() && n.ready).count(),
                "cpu_percent": snap.state.cpu.percent,
                "demand_cores": snap.state.cpu.demand_cores,
                "cpu_observed_at": snap.state.cpu.observed_at,
                "pending_pods": pending,
                "scale_down_target": snap.state.scale_down_target,
            }),
            decision: decision.clone(),
            config_version: self.settings.policy.version(),
            dry_run: self.settings.policy.dry_run,
        }
    }

    /// Creates a launch operation, persists its intent, then launches.
    pub(crate) async fn begin_launch(
        &self,
        ctx: &mut Ctx,
        kind: OperationKind,
        count: u32,
        reasons: Vec<String>,
        avoid: Vec<(String, String)>,
        lease: &Lease,
    ) -> Result<(), EngineError> {
        let op_id = id::operation(&format!("{}#{kind:?}", ctx.message_id));
        ctx.state.operation = Some(Operation {
            id: op_id,
            kind,
            phase: Phase::Launching,
            started_at: ctx.now,
            deadline: after(ctx.now, self.settings.policy.worker.ready_timeout),
            launch_count: count,
            instances: vec![],
            nodes: vec![],
            avoid,
            reasons,
            result: None,
        });
        ctx.state.last_scale_time = Some(ctx.now);
        self.persist_intent(ctx, lease).await?;
        self.advance(ctx).await
    }

    /// Creates a drain operation for the decision's node, persists its intent, then cordons.
    async fn begin_drain(&self, ctx: &mut Ctx, decision: &Decision, lease: &Lease) -> Result<(), EngineError> {
        let node = decision.nodes.first().cloned().expect("a scale-down names its node");
        let instance = ctx.obs.nodes.iter().find(|n| n.name == node).and_then(|n| n.instance_id.clone());
        ctx.state.operation = Some(Operation {
            id: id::operation(&format!("{}#ScaleDown", ctx.message_id)),
            kind: OperationKind::ScaleDown,
            phase: Phase::Cordoned,
            started_at: ctx.now,
            deadline: after(ctx.now, self.settings.policy.drain.timeout),
            launch_count: 0,
            instances: instance.into_iter().collect(),
            nodes: vec![node.clone()],
            avoid: vec![],
            reasons: decision.reasons.clone(),
            result: None,
        });
        ctx.state.last_scale_time = Some(ctx.now);
        self.persist_intent(ctx, lease).await?;
        let summary = format!("Draining {node} ({} → {} workers)", decision.current, decision.current - 1);
        let note = self.note(ctx, NotificationKind::DrainStarted, summary, decision.reasons.clone(), vec![node]);
        ctx.notes.push(note);
        self.advance(ctx).await
    }
}

/// When the scale-down condition became true: the end of the low-CPU window, or of the
/// consolidation window, whichever has passed first. A removal that continues a scale-down
/// under way has neither and reports no latency.
fn down_condition_since(
    snap: &Snapshot,
    policy: &crate::Policy,
    now: crate::time::Timestamp,
) -> Option<crate::time::Timestamp> {
    let cpu = &snap.state.cpu;
    let low = cpu.low_since.map(|s| after(s, policy.scale_down.cpu_for));
    let consolidation = &policy.scale_down.consolidation;
    let surplus = cpu.surplus_since.filter(|_| consolidation.enabled).map(|s| after(s, consolidation.after));
    [low, surplus].into_iter().flatten().filter(|t| *t <= now).min()
}

/// When the scale-up condition became true: CPU above the threshold since `high_since`, or the
/// oldest Pending pod crossing its window.
fn up_condition_since(snap: &Snapshot, policy: &crate::Policy) -> Option<crate::time::Timestamp> {
    let cpu = snap.state.cpu.high_since;
    let pending = snap
        .pods
        .iter()
        .filter(|p| p.is_unschedulable())
        .filter_map(|p| p.pending_since)
        .min()
        .map(|s| after(s, policy.scale_up.pending_for));
    match (cpu, pending) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}
