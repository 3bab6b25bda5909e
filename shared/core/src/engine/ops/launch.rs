//! Scale-up phases of the operation in flight: launching (the request, EC2 errors, the failure
//! backoff) and waiting for Ready (never-Ready workers, the rebalance hand-over to a drain).

use crate::{
    Lifecycle, OperationKind, Phase,
    engine::{Ctx, Engine, EngineError, Step},
    metric::{Metric, names},
    notification::NotificationKind,
    ports::{Clock, Cloud, CloudError, Cluster, LaunchRequest, Metrics, Notifier, StateStore},
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

    pub(super) async fn launch(&self, ctx: &mut Ctx) -> Result<bool, EngineError> {
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

    pub(super) async fn check_ready(&self, ctx: &mut Ctx) -> Result<bool, EngineError> {
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
}
