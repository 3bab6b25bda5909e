//! Scale-down phases of the operation in flight: cordon and drain (PDB-blocked pods retried,
//! new blockers and timeouts abort and uncordon), then terminate and delete the node.

use crate::{
    Phase,
    engine::{Ctx, Engine, EngineError, Step},
    metric::{Metric, names},
    notification::NotificationKind,
    policy::plan_drain,
    ports::{Clock, Cloud, CloudError, Cluster, Eviction, Metrics, Notifier, StateStore},
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
    pub(super) async fn drain(&self, ctx: &mut Ctx) -> Result<bool, EngineError> {
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

    pub(super) async fn terminate(&self, ctx: &mut Ctx) -> Result<bool, EngineError> {
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
