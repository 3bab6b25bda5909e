//! The cluster's SQS FIFO queue, as the scaler's event source mapping sees it: one message group,
//! delivery in order, a message sent again with the same deduplication id within 5 minutes
//! accepted but dropped, a failed message invisible for the visibility timeout while it blocks
//! the group behind it, and moved to the dead-letter queue after `maxReceiveCount` receives.

use std::{
    collections::{BTreeMap, VecDeque},
    sync::{Arc, Mutex},
};

use crate::{
    memory::ManualClock,
    ports::{Clock, OutgoingMessage, Queue, QueueError},
    time::Timestamp,
};

/// SQS FIFO's deduplication interval.
pub const DEDUP_WINDOW_SECONDS: i64 = 300;
/// The queue's visibility timeout (docs/CONTRACTS.md: 6 × the scaler's 60 s timeout).
pub const VISIBILITY_TIMEOUT_SECONDS: i64 = 360;
/// The redrive policy's `maxReceiveCount`.
pub const MAX_RECEIVE_COUNT: u32 = 5;

#[derive(Debug, Clone)]
struct Entry {
    message: OutgoingMessage,
    visible_at: Timestamp,
    receives: u32,
}

/// Counts of what the queue did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueStats {
    /// Messages accepted and queued.
    pub accepted: u64,
    /// Sends dropped as duplicates within the deduplication interval.
    pub deduplicated: u64,
    /// Receives that failed and were retried later.
    pub retried: u64,
    /// Messages moved to the dead-letter queue.
    pub dead_lettered: u64,
}

#[derive(Debug, Default)]
struct Inner {
    queue: VecDeque<Entry>,
    seen: BTreeMap<String, Timestamp>,
    stats: QueueStats,
}

/// The simulated FIFO queue (clones share it).
#[derive(Debug, Clone)]
pub struct SimQueue {
    inner: Arc<Mutex<Inner>>,
    clock: ManualClock,
}

/// What became of a received message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Receipt {
    /// Processed: delete it.
    Done,
    /// Failed: make it visible again after the visibility timeout.
    Failed,
}

impl SimQueue {
    /// An empty queue on `clock`.
    pub fn new(clock: ManualClock) -> Self {
        Self { inner: Arc::new(Mutex::new(Inner::default())), clock }
    }

    /// Counts so far.
    pub fn stats(&self) -> QueueStats {
        self.inner.lock().expect("queue lock").stats
    }

    /// Messages waiting.
    pub fn len(&self) -> usize {
        self.inner.lock().expect("queue lock").queue.len()
    }

    /// Whether nothing is waiting.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Delivers every visible message in order to `consume`, stopping at the first that fails
    /// (it blocks its group until it is visible again).
    pub fn deliver(&self, mut consume: impl FnMut(&str) -> Receipt) {
        loop {
            let now = self.clock.now();
            let body = {
                let mut inner = self.inner.lock().expect("queue lock");
                let Some(head) = inner.queue.front_mut() else { return };
                if head.visible_at > now {
                    return;
                }
                head.receives += 1;
                head.message.body.clone()
            };
            let receipt = consume(&body);
            let mut inner = self.inner.lock().expect("queue lock");
            match receipt {
                Receipt::Done => {
                    inner.queue.pop_front();
                }
                Receipt::Failed => {
                    let head = inner.queue.front_mut().expect("still at the head");
                    if head.receives >= MAX_RECEIVE_COUNT {
                        inner.queue.pop_front();
                        inner.stats.dead_lettered += 1;
                    } else {
                        head.visible_at = now + jiff::SignedDuration::from_secs(VISIBILITY_TIMEOUT_SECONDS);
                        inner.stats.retried += 1;
                        return;
                    }
                }
            }
        }
    }
}

impl Queue for SimQueue {
    async fn send(&self, messages: &[OutgoingMessage]) -> Result<(), QueueError> {
        let now = self.clock.now();
        let mut inner = self.inner.lock().expect("queue lock");
        let horizon = now - jiff::SignedDuration::from_secs(DEDUP_WINDOW_SECONDS);
        inner.seen.retain(|_, at| *at > horizon);
        for m in messages {
            if inner.seen.contains_key(&m.dedup_id) {
                inner.stats.deduplicated += 1;
                continue;
            }
            inner.seen.insert(m.dedup_id.clone(), now);
            inner.queue.push_back(Entry { message: m.clone(), visible_at: now, receives: 0 });
            inner.stats.accepted += 1;
        }
        Ok(())
    }
}
