//! Engine behaviour on the in-memory world: scale-up until Ready, drains that honour PDBs and
//! time out, Spot interruptions, rebalances, idempotency, leases, dry run, metrics.

use std::time::Duration;

use futures_executor::block_on;

use super::*;
use crate::{
    Lifecycle, OperationKind, Phase,
    memory::{
        ManualClock, MemoryCloud, MemoryCluster, MemoryStore, RecordingMetrics, RecordingNotifier, World,
        world::ScriptedError,
    },
    message::{Envelope, Kind},
    pdb::LabelSelector,
    signal::{AlertStatus, CpuValues, InstanceState},
    testing::pod,
    time::before,
};

pub(super) type TestEngine = Engine<
    MemoryStore,
    MemoryCloud<ManualClock>,
    MemoryCluster<ManualClock>,
    RecordingNotifier,
    RecordingMetrics,
    ManualClock,
>;

pub(super) struct Harness {
    pub clock: ManualClock,
    pub world: World<ManualClock>,
    pub store: MemoryStore,
    pub notifier: RecordingNotifier,
    pub metrics: RecordingMetrics,
    pub engine: TestEngine,
    seq: u32,
}

pub(super) fn cluster() -> ClusterId {
    ClusterId::new("prod").unwrap()
}

impl Harness {
    /// `n` on-demand workers alternating between two zones, each running one 300m web pod.
    pub fn new(n: usize) -> Self {
        let clock = ManualClock::at("2026-06-01T12:00:00Z".parse().unwrap());
        let world = World::new(clock.clone());
        for i in 0..n {
            let id = world.add_worker(if i % 2 == 0 { "us-east-1a" } else { "us-east-1b" }, Lifecycle::OnDemand);
            world.lock().pods.push(pod("shop", &format!("web-{i}"), &id.0, 300));
        }
        let store = MemoryStore::default();
        let notifier = RecordingNotifier::default();
        let metrics = RecordingMetrics::default();
        let settings =
            Settings::new(cluster(), Policy::default(), "test", vec!["us-east-1a".into(), "us-east-1b".into()]);
        let engine = Engine::new(
            store.clone(),
            world.cloud(),
            world.cluster(),
            notifier.clone(),
            metrics.clone(),
            clock.clone(),
            settings,
        );
        Self { clock, world, store, notifier, metrics, engine, seq: 0 }
    }

    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    pub fn envelope(&mut self, kind: Kind, signal: Signal) -> String {
        self.seq += 1;
        Envelope::new(format!("m-{}", self.seq), kind, cluster(), self.now(), signal).to_body()
    }

    pub fn high_cpu(&mut self, pct: f64) -> String {
        let starts_at = before(self.now(), Duration::from_secs(30));
        let values = CpuValues { cpu_percent: pct, demand_cores: None };
        self.envelope(Kind::Alert, Signal::HighCpu { status: AlertStatus::Firing, starts_at, values })
    }

    pub fn low_cpu(&mut self, pct: f64) -> String {
        let starts_at = before(self.now(), Duration::from_secs(60));
        let values = CpuValues { cpu_percent: pct, demand_cores: None };
        self.envelope(Kind::Alert, Signal::LowCpu { status: AlertStatus::Firing, starts_at, values })
    }

    pub fn tick(&mut self) -> String {
        let at = self.now();
        self.envelope(Kind::Reconcile, Signal::Reconcile { at, findings: vec![] })
    }

    pub fn send(&self, body: &str) -> Result<Outcome, EngineError> {
        self.world.tick();
        block_on(self.engine.handle(body))
    }

    /// Moves time on by `secs` and lets the world catch up.
    pub fn wait(&self, secs: u64) {
        self.clock.advance(Duration::from_secs(secs));
        self.world.tick();
    }

    pub fn state(&self) -> ClusterState {
        self.store.state(&cluster()).expect("state saved")
    }

    pub fn calls(&self, prefix: &str) -> Vec<String> {
        self.world.lock().calls.iter().filter(|c| c.starts_with(prefix)).cloned().collect()
    }

    pub fn workers(&self) -> usize {
        self.world.lock().nodes.iter().filter(|n| n.is_worker()).count()
    }

    pub fn kinds(&self) -> Vec<NotificationKind> {
        self.notifier.sent().iter().map(|n| n.kind).collect()
    }

    /// Sends reconcile ticks every `step` seconds for `secs`.
    pub fn run_ticks(&mut self, secs: u64, step: u64) {
        for _ in 0..secs / step {
            self.wait(step);
            let t = self.tick();
            self.send(&t).expect("tick processed");
        }
    }
}

#[test]
fn high_cpu_launches_the_sized_count_and_completes_when_nodes_are_ready() {
    let mut h = Harness::new(5);
    let m = h.high_cpu(85.0);
    let out = h.send(&m).unwrap();
    let Outcome::Processed { decision: Some(d), .. } = out else { panic!("{out:?}") };
    assert_eq!((d.action, d.count), (crate::Action::ScaleUp, 2), "{:?}", d.reasons);
    assert_eq!(h.calls("launch").len(), 2);
    let op = h.state().operation.unwrap();
    assert_eq!((op.kind, op.phase, op.instances.len()), (OperationKind::ScaleUp, Phase::WaitingReady, 2));
    // Spread across both zones, fewest workers first (b has 2, a has 3).
    assert!(h.calls("launch")[0].contains("us-east-1b"), "{:?}", h.calls("launch"));
    h.run_ticks(120, 60);
    let s = h.state();
    assert_eq!(s.operation.as_ref().unwrap().phase, Phase::Done);
    assert_eq!(s.last_scale_up_at, Some(h.now()));
    assert_eq!(h.workers(), 7);
    assert_eq!(h.kinds(), vec![NotificationKind::ScaleUpStarted, NotificationKind::ScaleUpDone]);
}

#[test]
fn a_redelivered_message_never_launches_twice() {
    let mut h = Harness::new(5);
    let m = h.high_cpu(85.0);
    h.send(&m).unwrap();
    assert_eq!(h.send(&m).unwrap(), Outcome::Duplicate);
    assert_eq!(h.calls("launch").len(), 2);
    assert_eq!(h.metrics.total(names::MESSAGES_IGNORED, &[("reason", "duplicate")]), 1.0);
}

#[test]
fn a_held_lease_fails_the_message_for_retry_and_changes_nothing() {
    let mut h = Harness::new(5);
    block_on(h.store.acquire(&cluster(), "other", h.now(), after(h.now(), Duration::from_secs(60)))).unwrap();
    let m = h.high_cpu(85.0);
    let err = h.send(&m).unwrap_err();
    assert!(matches!(err, EngineError::Store(StoreError::LeaseHeld { .. })), "{err:?}");
    assert!(err.retryable());
    assert!(h.calls("launch").is_empty());
    assert_eq!(h.metrics.total(names::LEASE_CONFLICTS, &[]), 1.0);
    // After the holder's lease expires, the retried message is processed.
    h.wait(61);
    assert!(matches!(h.send(&m).unwrap(), Outcome::Processed { .. }));
    assert_eq!(h.calls("launch").len(), 2);
}

#[test]
fn poison_and_foreign_messages_are_acknowledged_and_counted() {
    let h = Harness::new(2);
    assert!(matches!(h.send("{not json").unwrap(), Outcome::Poison(_)));
    let other = Envelope::new(
        "x".into(),
        Kind::Reconcile,
        ClusterId::new("staging").unwrap(),
        h.now(),
        Signal::Reconcile { at: h.now(), findings: vec![] },
    );
    assert!(matches!(h.send(&other.to_body()).unwrap(), Outcome::Ignored(_)));
    assert_eq!(h.metrics.total(names::MESSAGES_IGNORED, &[("reason", "poison")]), 1.0);
    assert_eq!(h.metrics.total(names::MESSAGES_IGNORED, &[("reason", "other_cluster")]), 1.0);
    assert!(h.store.state(&cluster()).is_none(), "nothing was written");
}

#[test]
fn low_cpu_drains_one_node_then_terminates_it() {
    let mut h = Harness::new(4);
    let m = h.low_cpu(10.0);
    h.send(&m).unwrap();
    let op = h.state().operation.unwrap();
    assert_eq!(op.kind, OperationKind::ScaleDown);
    let node = op.nodes[0].clone();
    assert_eq!(h.calls("cordon"), vec![format!("cordon {node}")]);
    assert_eq!(h.calls("evict").len(), 1, "one web pod to move: {:?}", h.calls("evict"));
    h.run_ticks(60, 60);
    assert_eq!(h.state().operation.unwrap().phase, Phase::Done);
    assert_eq!(h.calls("terminate"), vec![format!("terminate {node}")]);
    assert_eq!(h.calls("delete-node"), vec![format!("delete-node {node}")]);
    assert_eq!(h.workers(), 3);
    assert_eq!(h.metrics.total(names::SCALE_DOWNS, &[]), 1.0);
    assert_eq!(h.metrics.total(names::DRAIN_SECONDS, &[]), 60.0, "cordon at 0 s, empty at the 60 s tick");
    // The evicted pod was rescheduled elsewhere, never lost.
    assert!(h.world.lock().pods.iter().filter(|p| p.namespace == "shop").all(|p| p.node.is_some()));
}

#[test]
fn scale_down_continues_toward_the_target_with_a_pause_between_removals() {
    let mut h = Harness::new(5);
    let m = h.low_cpu(10.0);
    h.send(&m).unwrap();
    assert_eq!(h.state().scale_down_target, Some(2));
    // The reconciler's ticks carry the scale-down on between alerts (the CPU reading stays fresh
    // through Watchdog re-fires in production; here a re-fired LowCPU every 5 minutes).
    for _ in 0..4 {
        h.run_ticks(300, 60);
        let m = h.low_cpu(10.0);
        h.send(&m).unwrap();
    }
    h.run_ticks(300, 60);
    assert_eq!(h.workers(), 2, "{:?}", h.calls(""));
    assert_eq!(h.calls("terminate").len(), 3);
}

fn pdb(h: &Harness, app: &str, min_available: u32) {
    let selector = LabelSelector { match_labels: [("app".into(), app.into())].into(), ..Default::default() };
    let p = crate::Pdb { namespace: "shop".into(), name: app.into(), selector, disruptions_allowed: 0 };
    h.world.lock().pdbs.push((p, min_available));
    h.world.tick();
}

#[test]
fn a_pdb_allowing_one_of_three_drains_pod_by_pod() {
    let mut h = Harness::new(3);
    // Three api pods on the first worker; the PDB keeps two available.
    let first = h.world.lock().nodes[0].name.clone();
    for i in 0..3 {
        h.world.lock().pods.push(pod("shop", &format!("api-{i}"), &first, 100));
    }
    for n in h.world.lock().nodes.iter_mut().skip(1) {
        n.scale_down_disabled = true;
    }
    pdb(&h, "api", 2);
    let m = h.low_cpu(10.0);
    h.send(&m).unwrap();
    let evicted = |h: &Harness| h.calls("evict shop/api").len();
    let blocked = |h: &Harness| h.calls("evict-blocked").len();
    assert_eq!((evicted(&h), blocked(&h)), (1, 2), "first pass evicts one, PDB refuses two");
    h.run_ticks(60, 60);
    assert_eq!(evicted(&h), 2);
    h.run_ticks(60, 60);
    assert_eq!(evicted(&h), 3);
    h.run_ticks(120, 60);
    assert_eq!(h.state().operation.unwrap().phase, Phase::Done);
    assert!(h.metrics.total(names::EVICTIONS_BLOCKED, &[]) >= 2.0);
}

#[test]
fn a_pdb_allowing_nothing_times_out_at_five_minutes_and_uncordons() {
    let mut h = Harness::new(3);
    let first = h.world.lock().nodes[0].name.clone();
    h.world.lock().pods.push(pod("shop", "db-0", &first, 100));
    for n in h.world.lock().nodes.iter_mut().skip(1) {
        n.scale_down_disabled = true;
    }
    h.world.lock().pods.push(pod("shop", "db-1", &first, 100));
    // The budget allows one disruption when the node is chosen …
    pdb(&h, "db", 1);
    let m = h.low_cpu(10.0);
    h.send(&m).unwrap();
    assert_eq!(h.calls("evict shop/db"), vec!["evict shop/db-0".to_string()]);
    // … then its owner tightens it: nothing more may go.
    h.world.lock().pdbs[0].1 = 10;
    h.run_ticks(240, 60);
    assert_eq!(h.state().operation.unwrap().phase, Phase::Draining, "still waiting at 4 minutes");
    h.run_ticks(60, 60);
    let op = h.state().operation.unwrap();
    assert_eq!(op.phase, Phase::Aborted);
    assert!(op.result.unwrap().starts_with("drain timed out after 5m"));
    assert_eq!(h.calls("uncordon"), vec![format!("uncordon {first}")]);
    assert!(h.calls("terminate").is_empty(), "nothing force-removed");
    assert!(h.kinds().contains(&NotificationKind::DrainTimedOut));
    assert_eq!(h.metrics.total(names::FAILED_OPERATIONS, &[("reason", "drain_timeout")]), 1.0);
}

#[test]
fn daemonset_pods_are_never_evicted_and_kube_system_nodes_never_chosen() {
    let mut h = Harness::new(3);
    let names: Vec<String> = h.world.lock().nodes.iter().map(|n| n.name.clone()).collect();
    // coredns on the first two workers: only the third can go.
    for n in &names[..2] {
        h.world.lock().pods.push(pod("kube-system", &format!("coredns-{n}"), n, 100));
    }
    let m = h.low_cpu(10.0);
    h.send(&m).unwrap();
    assert_eq!(h.state().operation.unwrap().nodes, vec![names[2].clone()]);
    h.run_ticks(120, 60);
    assert!(h.calls("evict").iter().all(|c| !c.contains("node-exporter")), "{:?}", h.calls("evict"));
    assert!(h.calls("evict").iter().all(|c| !c.contains("coredns")));
}

#[test]
fn node_never_ready_is_terminated_and_backs_off() {
    let mut h = Harness::new(5);
    h.world.lock().boot_delay = Duration::from_secs(3600);
    let m = h.high_cpu(75.0);
    h.send(&m).unwrap();
    h.run_ticks(540, 60);
    assert_eq!(h.state().operation.unwrap().phase, Phase::WaitingReady);
    h.run_ticks(60, 60);
    let s = h.state();
    assert_eq!(s.operation.unwrap().phase, Phase::Failed);
    assert_eq!(h.calls("terminate").len(), 1);
    assert!(s.backoff_until.unwrap() > h.now());
    assert!(h.kinds().contains(&NotificationKind::NodeNeverReady));
    // No launch while backing off, even with CPU still high.
    let m = h.high_cpu(95.0);
    h.send(&m).unwrap();
    assert_eq!(h.calls("launch").len(), 1);
}

#[test]
fn quota_errors_fail_fast_with_one_notification_and_no_retry_loop() {
    let mut h = Harness::new(5);
    let (from, until) = (h.now(), after(h.now(), Duration::from_secs(3600)));
    h.world.lock().errors.push(ScriptedError { code: "VcpuLimitExceeded".into(), zone: None, from, until });
    let m = h.high_cpu(85.0);
    assert!(matches!(h.send(&m).unwrap(), Outcome::Processed { .. }));
    h.run_ticks(240, 60);
    let m = h.high_cpu(85.0);
    h.send(&m).unwrap();
    let failed: Vec<_> = h.notifier.sent().into_iter().filter(|n| n.kind == NotificationKind::LaunchFailed).collect();
    assert_eq!(failed.len(), 1);
    assert!(failed[0].reasons[0].contains("VcpuLimitExceeded"));
    assert_eq!(h.metrics.total(names::FAILED_OPERATIONS, &[("reason", "VcpuLimitExceeded")]), 1.0);
}

#[test]
fn capacity_errors_in_one_zone_fall_back_to_the_other() {
    let mut h = Harness::new(4);
    let (from, until) = (h.now(), after(h.now(), Duration::from_secs(3600)));
    h.world.lock().errors.push(ScriptedError {
        code: "InsufficientInstanceCapacity".into(),
        zone: Some("us-east-1a".into()),
        from,
        until,
    });
    let m = h.high_cpu(90.0);
    h.send(&m).unwrap();
    let launches = h.calls("launch");
    assert!(!launches.is_empty() && launches.iter().all(|l| l.contains("us-east-1b")), "{launches:?}");
    let started = &h.notifier.sent()[0];
    assert!(
        started.reasons.iter().any(|r| r.contains("capacity fallback: InsufficientInstanceCapacity in us-east-1a"))
    );
}

#[test]
fn spot_interruption_drains_at_once_and_replaces_within_the_notice() {
    let mut h = Harness::new(2);
    let spot = h.world.add_worker("us-east-1a", Lifecycle::Spot);
    h.world.lock().pods.push(pod("shop", "cart-0", &spot.0, 300));
    let sig =
        Signal::SpotInterruption { instance_id: spot.clone(), action_at: after(h.now(), Duration::from_secs(120)) };
    let m = h.envelope(Kind::Ec2Event, sig);
    h.send(&m).unwrap();
    assert_eq!(h.calls("cordon"), vec![format!("cordon {spot}")]);
    assert!(h.calls("evict").iter().any(|c| c.contains("cart-0")), "{:?}", h.calls("evict"));
    let op = h.state().operation.unwrap();
    assert_eq!((op.kind, op.launch_count), (OperationKind::SpotReplace, 1));
    assert_eq!(h.calls("launch").len(), 1, "replacement launched in the same message");
    assert!(h.calls("launch")[0].contains("us-east-1b"), "another zone preferred: {:?}", h.calls("launch"));
    // EC2 takes the instance at the end of the notice.
    h.wait(120);
    h.world.lock().instances.get_mut(&spot).unwrap().state = InstanceState::Terminated;
    let gone = h.envelope(
        Kind::Ec2Event,
        Signal::InstanceStateChange { instance_id: spot.clone(), state: InstanceState::Terminated },
    );
    h.send(&gone).unwrap();
    assert_eq!(h.calls("delete-node"), vec![format!("delete-node {spot}")]);
    assert!(!h.kinds().contains(&NotificationKind::InstanceLost), "an expected loss is not reported as one");
    assert!(h.kinds().contains(&NotificationKind::SpotInterruption));
}

#[test]
fn never_below_min_workers_even_under_interruption() {
    let mut h = Harness::new(0);
    let a = h.world.add_worker("us-east-1a", Lifecycle::Spot);
    let b = h.world.add_worker("us-east-1b", Lifecycle::Spot);
    for (i, id) in [&a, &b].into_iter().enumerate() {
        let sig =
            Signal::SpotInterruption { instance_id: id.clone(), action_at: after(h.now(), Duration::from_secs(120)) };
        let m = h.envelope(Kind::Ec2Event, sig);
        h.send(&m).unwrap();
        assert_eq!(h.state().replacements_owed, i as u32, "the second replacement waits for the slot");
    }
    h.wait(120);
    for id in [&a, &b] {
        h.world.lock().instances.get_mut(id).unwrap().state = InstanceState::Terminated;
        let m = h.envelope(
            Kind::Ec2Event,
            Signal::InstanceStateChange { instance_id: id.clone(), state: InstanceState::Terminated },
        );
        h.send(&m).unwrap();
    }
    h.run_ticks(300, 60);
    assert_eq!(h.workers(), 2, "both interrupted workers replaced: {:?}", h.calls(""));
    assert!(h.world.lock().nodes.iter().all(|n| n.ready));
}

#[test]
fn rebalance_launches_the_replacement_first_then_drains() {
    let mut h = Harness::new(3);
    let at_risk = h.world.lock().nodes[0].instance_id.clone().unwrap();
    let m = h.envelope(Kind::Ec2Event, Signal::Rebalance { instance_id: at_risk.clone() });
    h.send(&m).unwrap();
    assert_eq!(h.calls("launch").len(), 1);
    assert!(h.calls("cordon").is_empty(), "no drain before the replacement is Ready");
    h.run_ticks(120, 60);
    assert_eq!(h.calls("cordon"), vec![format!("cordon {at_risk}")]);
    h.run_ticks(180, 60);
    assert_eq!(h.state().operation.unwrap().phase, Phase::Done);
    assert_eq!(h.calls("terminate"), vec![format!("terminate {at_risk}")]);
    assert_eq!(h.workers(), 3);
}

#[test]
fn managed_instances_lost_outside_the_autoscaler_are_cleaned_up_and_reported() {
    let mut h = Harness::new(3);
    let id = h.world.lock().nodes[1].instance_id.clone().unwrap();
    h.world.lock().instances.get_mut(&id).unwrap().state = InstanceState::Terminated;
    let m = h.envelope(
        Kind::Ec2Event,
        Signal::InstanceStateChange { instance_id: id.clone(), state: InstanceState::Terminated },
    );
    h.send(&m).unwrap();
    assert_eq!(h.calls("delete-node"), vec![format!("delete-node {id}")]);
    assert!(h.kinds().contains(&NotificationKind::InstanceLost));
    // An unknown instance changes nothing.
    let m = h.envelope(
        Kind::Ec2Event,
        Signal::InstanceStateChange {
            instance_id: crate::InstanceId("i-unknown".into()),
            state: InstanceState::Terminated,
        },
    );
    let Outcome::Processed { actions, .. } = h.send(&m).unwrap() else { panic!() };
    assert!(actions.iter().any(|a| a.contains("not one of this cluster's workers")), "{actions:?}");
    assert_eq!(h.calls("delete-node").len(), 1);
}

#[test]
fn dry_run_decides_records_and_notifies_but_mutates_nothing() {
    let mut h = Harness::new(5);
    h.engine.settings.policy.dry_run = true;
    let m = h.high_cpu(85.0);
    h.send(&m).unwrap();
    let m = h.low_cpu(5.0);
    h.send(&m).unwrap();
    assert!(h.world.lock().calls.is_empty(), "{:?}", h.world.lock().calls);
    let notes = h.notifier.sent();
    assert!(notes[0].summary.starts_with("Dry run: would scale up by 2 (5 → 7)"), "{}", notes[0].summary);
    assert!(notes[0].reasons[0].contains("CPU 85.0% > 70%"));
    assert_eq!(h.store.decisions().len(), 2);
    assert!(h.store.decisions().iter().all(|d| d.dry_run));
}

#[test]
fn every_decision_is_recorded_with_inputs_and_config_version() {
    let mut h = Harness::new(5);
    let m = h.high_cpu(85.0);
    h.send(&m).unwrap();
    let d = &h.store.decisions()[0];
    assert_eq!(d.decision.action, crate::Action::ScaleUp);
    assert_eq!(d.config_version, Policy::default().version());
    assert_eq!(d.inputs["cpu_percent"], 85.0);
    assert_eq!(d.inputs["workers"], 5);
    assert_eq!(h.metrics.total(names::DECISIONS, &[("action", "scale_up")]), 1.0);
    assert_eq!(h.metrics.total(names::SCALE_UPS, &[]), 2.0);
    // Condition true 30 s before the alert's start plus the 1 m window: 90 s latency.
    assert_eq!(h.metrics.total(names::DECISION_LATENCY, &[("action", "scale_up")]), 90.0);
}

#[test]
fn node_join_and_drain_durations_are_measured() {
    let mut h = Harness::new(5);
    let m = h.high_cpu(75.0);
    h.send(&m).unwrap();
    h.run_ticks(120, 60);
    assert_eq!(h.metrics.total(names::NODE_JOIN_SECONDS, &[]), 120.0);
    h.wait(700);
    let m = h.low_cpu(10.0);
    h.send(&m).unwrap();
    // The least-requested worker is a new one holding only a DaemonSet pod: empty at once.
    let drains: Vec<_> = h.metrics.emitted().into_iter().filter(|m| m.name == names::DRAIN_SECONDS).collect();
    assert_eq!(drains.len(), 1);
    assert_eq!(drains[0].value, 0.0);
}

#[test]
fn reconciler_findings_are_reported_as_drift() {
    let mut h = Harness::new(2);
    let at = h.now();
    let m = h.envelope(
        Kind::Reconcile,
        Signal::Reconcile { at, findings: vec!["instance i-1 running 12m without a node".into()] },
    );
    h.send(&m).unwrap();
    assert!(h.kinds().contains(&NotificationKind::Drift));
    assert_eq!(h.metrics.total(names::DRIFT_FINDINGS, &[]), 0.0, "the reconciler counts findings, not the scaler");
}
