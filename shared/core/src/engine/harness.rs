//! The engine test harness: an engine on the in-memory world with a manual clock, and helpers
//! to send it alerts, EC2 events and reconcile ticks (test-only, used by the engine's tests).

use std::time::Duration;

use futures_executor::block_on;

use super::*;
use crate::{
    Lifecycle, Policy,
    memory::{ManualClock, MemoryCloud, MemoryCluster, MemoryStore, RecordingMetrics, RecordingNotifier, World},
    message::{Envelope, Kind},
    signal::{AlertStatus, CpuValues},
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
