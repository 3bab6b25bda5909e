//! Instance events: Spot interruption warnings (drain at once, replace at once), rebalance
//! recommendations and scheduled retirements (replace first, then drain), and state changes of
//! managed instances that we did not cause (clean up the Node, report). Events for instances
//! that are not this cluster's workers change nothing.

use super::{Ctx, Engine, EngineError};
use crate::{
    InstanceId, OperationKind, Phase,
    notification::NotificationKind,
    policy::skip_reason,
    ports::{Clock, Cloud, Cluster, Eviction, Lease, Metrics, Notifier, StateStore},
    signal::{InstanceState, Signal},
    time::{before, elapsed, human},
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
    /// Reacts to the instance-scoped part of a signal.
    pub(crate) async fn on_signal(&self, ctx: &mut Ctx, signal: &Signal, lease: &Lease) -> Result<(), EngineError> {
        match signal {
            Signal::SpotInterruption { instance_id, action_at } => {
                self.on_spot_interruption(ctx, instance_id, *action_at, lease).await
            }
            Signal::Rebalance { instance_id } => {
                self.mark_at_risk(ctx, std::slice::from_ref(instance_id), "rebalance recommendation");
                Ok(())
            }
            Signal::ScheduledChange { instance_ids, .. } => {
                self.mark_at_risk(ctx, instance_ids, "scheduled change (AWS Health)");
                Ok(())
            }
            Signal::InstanceStateChange { instance_id, state } => self.on_state_change(ctx, instance_id, *state).await,
            Signal::Reconcile { findings, .. } if !findings.is_empty() => {
                let note =
                    self.note(ctx, NotificationKind::Drift, "Reconciler found drift".into(), findings.clone(), vec![]);
                // The reconciler itself counts `DriftFindings`; counting here too would double it.
                ctx.notes.push(note);
                Ok(())
            }
            _ => Ok(()),
        }
    }

    fn not_ours(&self, ctx: &mut Ctx, id: &InstanceId, what: &str) {
        ctx.actions.push(format!("ignored {what} for {id}: not one of this cluster's workers"));
    }

    async fn on_spot_interruption(
        &self,
        ctx: &mut Ctx,
        id: &InstanceId,
        action_at: crate::time::Timestamp,
        lease: &Lease,
    ) -> Result<(), EngineError> {
        if !ctx.obs.is_ours(id) || ctx.state.interrupted.contains(id) {
            if !ctx.obs.is_ours(id) {
                self.not_ours(ctx, id, "Spot interruption");
            }
            return Ok(());
        }
        let node = ctx.obs.node_of(id).map(|n| n.name.clone());
        if self.settings.policy.dry_run {
            let summary = format!("Would drain {id} and launch a replacement (Spot interruption)");
            let note = self.note(
                ctx,
                NotificationKind::DryRun,
                summary,
                vec![format!("reclaimed at {action_at}")],
                vec![id.to_string()],
            );
            ctx.notes.push(note);
            return Ok(());
        }
        ctx.state.interrupted.push(id.clone());
        ctx.state.spot_deadline = Some(ctx.state.spot_deadline.map_or(action_at, |d| d.min(action_at)));
        if let Some(node) = &node {
            self.cluster.cordon(node).await?;
            ctx.actions.push(format!("cordoned {node}"));
        }
        // A scale-down in flight gives way: its node is capacity we now need.
        if let Some(op) = ctx.state.active_operation().cloned()
            && op.kind == OperationKind::ScaleDown
            && let Some(n) = op.nodes.first()
        {
            self.cluster.uncordon(n).await?;
            let o = ctx.state.operation.as_mut().expect("in flight");
            o.phase = Phase::Aborted;
            o.result = Some(format!("preempted by the Spot interruption of {id}"));
            ctx.state.scale_down_target = None;
            ctx.actions.push(format!("aborted scale-down of {n}"));
        }
        let pool = ctx.obs.instances.iter().find(|i| &i.id == id).map(|i| (i.zone.clone(), i.instance_type.clone()));
        let left = elapsed(action_at, ctx.now);
        let mut reasons = vec![format!("EC2 reclaims {id} at {action_at} ({} from now)", human(left))];
        let in_backoff = ctx.state.backoff_until.is_some_and(|u| ctx.now < u);
        if ctx.state.active_operation().is_none() && !in_backoff {
            // The replacement is its own operation; cooldowns do not apply to it.
            let reason = format!("replacing Spot worker {id} under an interruption notice");
            self.begin_launch(ctx, OperationKind::SpotReplace, 1, vec![reason], pool.into_iter().collect(), lease)
                .await?;
            reasons.push("replacement launched at once".into());
        } else {
            ctx.state.replacements_owed += 1;
            reasons.push("replacement owed: launched as soon as the operation in flight ends".into());
        }
        let note = self.note(
            ctx,
            NotificationKind::SpotInterruption,
            format!("Spot interruption of {id}"),
            reasons,
            node.into_iter().collect(),
        );
        ctx.notes.push(note);
        Ok(())
    }

    /// Evicts whatever is still on interrupted Spot workers, until EC2 takes them.
    pub(crate) async fn drain_interrupted(&self, ctx: &mut Ctx) -> Result<(), EngineError> {
        let drain = &self.settings.policy.drain;
        // Pods get their grace period, but never past the Spot deadline less the margin: a pod
        // still shutting down when EC2 takes the instance loses what it was saving.
        let grace = match ctx.state.spot_deadline {
            Some(deadline) => {
                let left = elapsed(before(deadline, drain.spot_margin), ctx.now).as_secs();
                drain.pod_grace_seconds.min(u32::try_from(left).unwrap_or(u32::MAX))
            }
            None => drain.pod_grace_seconds,
        };
        for id in ctx.state.interrupted.clone() {
            let Some(node) = ctx.obs.node_of(&id).map(|n| n.name.clone()) else { continue };
            let pods: Vec<(String, String)> = ctx
                .obs
                .pods
                .iter()
                .filter(|p| p.node.as_deref() == Some(node.as_str()) && skip_reason(p).is_none())
                .map(|p| (p.namespace.clone(), p.name.clone()))
                .collect();
            for (ns, name) in pods {
                if self.cluster.evict(&ns, &name, grace).await? == Eviction::Evicted {
                    ctx.actions.push(format!("evicted {ns}/{name}"));
                }
            }
        }
        Ok(())
    }

    fn mark_at_risk(&self, ctx: &mut Ctx, ids: &[InstanceId], why: &str) {
        for id in ids {
            if !ctx.obs.is_ours(id) {
                self.not_ours(ctx, id, why);
                continue;
            }
            let handled = ctx.state.at_risk.contains(id)
                || ctx.state.interrupted.contains(id)
                || ctx.state.active_operation().is_some_and(|o| o.nodes.iter().any(|n| n == &id.0));
            if !handled {
                ctx.state.at_risk.push(id.clone());
                ctx.actions.push(format!("marked {id} at risk ({why})"));
            }
        }
    }

    async fn on_state_change(&self, ctx: &mut Ctx, id: &InstanceId, state: InstanceState) -> Result<(), EngineError> {
        let gone = matches!(state, InstanceState::ShuttingDown | InstanceState::Terminated);
        let stopped = matches!(state, InstanceState::Stopping | InstanceState::Stopped);
        if !gone && !stopped {
            return Ok(()); // pending/running: the Ready check of the operation picks it up.
        }
        let op = ctx.state.active_operation().cloned();
        let removing = op.as_ref().is_some_and(|o| o.nodes.iter().any(|n| n == &id.0) && o.phase == Phase::Terminating);
        if removing {
            return Ok(());
        }
        let node = ctx.obs.node_of(id).cloned();
        let launching = op.as_ref().is_some_and(|o| o.instances.contains(id) && o.phase == Phase::WaitingReady);
        let interrupted = ctx.state.interrupted.contains(id);
        let managed = node.as_ref().is_some_and(|n| n.managed) || ctx.obs.is_ours(id);
        if !(launching || interrupted || managed) {
            self.not_ours(ctx, id, "state change");
            return Ok(());
        }
        if launching && gone {
            let o = ctx.state.operation.as_mut().expect("in flight");
            o.instances.retain(|i| i != id);
            if o.instances.is_empty() {
                o.phase = Phase::Failed;
                o.result = Some(format!("{id} terminated before it was Ready"));
                ctx.state.backoff_until =
                    Some(crate::time::after(ctx.now, self.settings.policy.scale_up.failure_backoff));
            }
        }
        if gone {
            ctx.state.interrupted.retain(|i| i != id);
            if ctx.state.interrupted.is_empty() {
                ctx.state.spot_deadline = None;
            }
            ctx.state.at_risk.retain(|i| i != id);
            if let Some(n) = &node {
                self.cluster.delete_node(&n.name).await?;
                ctx.actions.push(format!("deleted node {}", n.name));
            }
        }
        if !interrupted {
            let verb = if gone { "terminated" } else { "stopped" };
            let summary = format!("Worker {id} {verb} outside the autoscaler");
            let reasons = vec![format!("EC2 reports {state:?}; the count is reconciled by the next decision")];
            let note = self.note(ctx, NotificationKind::InstanceLost, summary, reasons, vec![id.to_string()]);
            ctx.notes.push(note);
        }
        Ok(())
    }
}
