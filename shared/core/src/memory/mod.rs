//! In-memory implementations of every port, with the same semantics as the real adapters
//! (leases, versions, atomic idempotency records, PDB-honouring evictions, tagged instances).
//! Tests and the simulator use them; they record calls and take scripted failures.

mod clock;
mod store;
pub mod world;

pub use clock::ManualClock;
pub use store::MemoryStore;
pub use world::{MemoryCloud, MemoryCluster, ScriptedError, World, WorldState};

use std::sync::{Arc, Mutex};

use crate::{
    metric::Metric,
    notification::Notification,
    ports::{Metrics, Notifier, OutgoingMessage, Queue, QueueError},
};

/// A queue that records what it was sent, and can be told to refuse.
#[derive(Debug, Clone, Default)]
pub struct MemoryQueue {
    sent: Arc<Mutex<Vec<OutgoingMessage>>>,
    fail: Arc<Mutex<bool>>,
}

impl MemoryQueue {
    /// Every message accepted so far.
    pub fn sent(&self) -> Vec<OutgoingMessage> {
        self.sent.lock().expect("lock").clone()
    }

    /// Removes and returns every message accepted so far.
    pub fn drain(&self) -> Vec<OutgoingMessage> {
        std::mem::take(&mut *self.sent.lock().expect("lock"))
    }

    /// Makes every later send fail (or succeed again).
    pub fn set_failing(&self, failing: bool) {
        *self.fail.lock().expect("lock") = failing;
    }
}

impl Queue for MemoryQueue {
    async fn send(&self, messages: &[OutgoingMessage]) -> Result<(), QueueError> {
        if *self.fail.lock().expect("lock") {
            return Err(QueueError::Partial {
                failed: messages.len(),
                total: messages.len(),
                dedup_ids: messages.iter().map(|m| m.dedup_id.clone()).collect(),
                first_code: "ServiceUnavailable".into(),
            });
        }
        self.sent.lock().expect("lock").extend_from_slice(messages);
        Ok(())
    }
}

/// A notifier that records notifications.
#[derive(Debug, Clone, Default)]
pub struct RecordingNotifier {
    sent: Arc<Mutex<Vec<Notification>>>,
}

impl RecordingNotifier {
    /// Every notification so far.
    pub fn sent(&self) -> Vec<Notification> {
        self.sent.lock().expect("lock").clone()
    }
}

impl Notifier for RecordingNotifier {
    async fn notify(&self, n: &Notification) {
        self.sent.lock().expect("lock").push(n.clone());
    }
}

/// A metrics sink that records metrics.
#[derive(Debug, Clone, Default)]
pub struct RecordingMetrics {
    emitted: Arc<Mutex<Vec<Metric>>>,
}

impl RecordingMetrics {
    /// Every metric so far.
    pub fn emitted(&self) -> Vec<Metric> {
        self.emitted.lock().expect("lock").clone()
    }

    /// The sum of the values of metric `name` whose dimensions include `dims`.
    pub fn total(&self, name: &str, dims: &[(&str, &str)]) -> f64 {
        self.emitted
            .lock()
            .expect("lock")
            .iter()
            .filter(|m| m.name == name)
            .filter(|m| dims.iter().all(|(k, v)| m.dimensions.iter().any(|(mk, mv)| mk == k && mv == v)))
            .map(|m| m.value)
            .sum()
    }
}

impl Metrics for RecordingMetrics {
    fn emit(&self, m: &Metric) {
        self.emitted.lock().expect("lock").push(m.clone());
    }
}
