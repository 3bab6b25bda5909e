//! The reconciler: a slow safety net. It reads the state, EC2 and K3s, finds drift, and enqueues
//! one `reconcile` message into the cluster's FIFO group; that message also advances operations
//! between alerts. It never mutates EC2, K3s or the state itself.

use autoscaler_core::{
    ClusterId, Policy,
    message::{Envelope, Kind, id},
    metric::{Metric, names},
    ports::{Cloud, Cluster, Metrics, OutgoingMessage, Queue, StateStore},
    reconcile::{self, PIPELINE_SILENT},
    signal::Signal,
    time::Timestamp,
};

/// Why a reconcile pass failed.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// Reading the state failed.
    #[error("reading the cluster state")]
    Store(#[source] autoscaler_core::ports::StoreError),
    /// Listing instances failed.
    #[error("listing the cluster's EC2 instances")]
    Cloud(#[source] autoscaler_core::ports::CloudError),
    /// Listing nodes failed.
    #[error("listing the K3s nodes")]
    Cluster(#[source] autoscaler_core::ports::ClusterError),
    /// Enqueueing the tick failed.
    #[error("enqueueing the reconcile message")]
    Queue(#[source] autoscaler_core::ports::QueueError),
}

/// One pass: observe, find drift, enqueue the tick, emit the heartbeat. Returns the findings.
#[allow(clippy::too_many_arguments)]
pub async fn run_once(
    cluster: &ClusterId,
    policy: &Policy,
    store: &impl StateStore,
    cloud: &impl Cloud,
    k3s: &impl Cluster,
    queue: &impl Queue,
    metrics: &impl Metrics,
    now: Timestamp,
) -> Result<Vec<String>, ReconcileError> {
    let state = store.load(cluster).await.map_err(ReconcileError::Store)?;
    let instances = cloud.instances().await.map_err(ReconcileError::Cloud)?;
    let nodes = k3s.nodes().await.map_err(ReconcileError::Cluster)?;
    let findings = reconcile::findings(state.as_ref(), &instances, &nodes, policy, now);
    // One tick per minute: a retried invocation in the same minute is deduplicated.
    let at = Timestamp::from_second(now.as_second() - now.as_second().rem_euclid(60)).unwrap_or(now);
    let env = Envelope::new(
        id::reconcile(cluster, at),
        Kind::Reconcile,
        cluster.clone(),
        now,
        Signal::Reconcile { at, findings: findings.clone() },
    );
    let msg = OutgoingMessage { group_id: cluster.to_string(), dedup_id: env.id.clone(), body: env.to_body() };
    queue.send(&[msg]).await.map_err(ReconcileError::Queue)?;
    let c = cluster.as_str();
    metrics.emit(&Metric::count(names::HEARTBEAT, c));
    metrics.emit(&Metric::count(names::DRIFT_FINDINGS, c).value(findings.len() as f64));
    let silent = findings.iter().any(|f| f.starts_with(PIPELINE_SILENT));
    metrics.emit(&Metric::count(names::PIPELINE_SILENT, c).value(if silent { 1.0 } else { 0.0 }));
    Ok(findings)
}

#[cfg(test)]
mod tests {
    use autoscaler_core::{
        Lifecycle,
        memory::{ManualClock, MemoryQueue, MemoryStore, RecordingMetrics, World},
        message,
        ports::Clock,
    };
    use futures_executor::block_on;

    use super::*;

    #[test]
    fn a_pass_enqueues_one_deduplicated_tick_with_findings_and_a_heartbeat() {
        let clock = ManualClock::at("2026-06-01T12:00:30Z".parse().unwrap());
        let world = World::new(clock.clone());
        world.add_worker("a", Lifecycle::OnDemand);
        let (store, queue, metrics) = (MemoryStore::default(), MemoryQueue::default(), RecordingMetrics::default());
        let cluster = ClusterId::new("prod").unwrap();
        let run = || {
            block_on(run_once(
                &cluster,
                &Policy::default(),
                &store,
                &world.cloud(),
                &world.cluster(),
                &queue,
                &metrics,
                clock.now(),
            ))
            .unwrap()
        };
        let findings = run();
        assert!(findings.contains(&"1 Ready workers is below min_workers (2)".to_string()), "{findings:?}");
        let sent = queue.sent();
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].group_id, "prod");
        let parsed = message::parse(&sent[0].body, &cluster).unwrap();
        assert_eq!(parsed.kind, message::Kind::Reconcile);
        // The same minute gives the same dedup id: a retried invocation is not a second tick.
        clock.advance(std::time::Duration::from_secs(20));
        run();
        assert_eq!(queue.sent()[1].dedup_id, sent[0].dedup_id);
        assert_eq!(metrics.total(names::HEARTBEAT, &[("cluster", "prod")]), 2.0);
        assert_eq!(metrics.total(names::PIPELINE_SILENT, &[]), 2.0, "no Watchdog was ever seen");
    }

    #[test]
    fn a_queue_failure_fails_the_pass() {
        let clock = ManualClock::at("2026-06-01T12:00:00Z".parse().unwrap());
        let world = World::new(clock.clone());
        let queue = MemoryQueue::default();
        queue.set_failing(true);
        let cluster = ClusterId::new("prod").unwrap();
        let r = block_on(run_once(
            &cluster,
            &Policy::default(),
            &MemoryStore::default(),
            &world.cloud(),
            &world.cluster(),
            &queue,
            &RecordingMetrics::default(),
            clock.now(),
        ));
        assert!(matches!(r, Err(ReconcileError::Queue(_))));
    }
}
