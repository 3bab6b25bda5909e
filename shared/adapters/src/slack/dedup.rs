//! Duplicate suppression: the same kind, operation and summary sent within a window is sent once.
//! A small bounded memory of recent sends, oldest forgotten first. Pure: the caller passes `now`.

use std::{collections::VecDeque, time::Duration};

use autoscaler_core::notification::{Notification, NotificationKind};
use tokio::time::Instant;

/// What makes two notifications the same message.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Key {
    kind: NotificationKind,
    operation: Option<String>,
    summary: String,
}

impl Key {
    fn of(n: &Notification) -> Self {
        Self { kind: n.kind, operation: n.operation_id.clone(), summary: n.summary.clone() }
    }
}

/// Recently sent notifications.
#[derive(Debug)]
pub struct Recent {
    window: Duration,
    capacity: usize,
    sent: VecDeque<(Key, Instant)>,
}

impl Recent {
    /// Remembers up to `capacity` sends for `window` each.
    pub fn new(window: Duration, capacity: usize) -> Self {
        Self { window, capacity: capacity.max(1), sent: VecDeque::new() }
    }

    /// Whether `n` was sent less than the window ago.
    pub fn is_duplicate(&mut self, n: &Notification, now: Instant) -> bool {
        self.forget_expired(now);
        let key = Key::of(n);
        self.sent.iter().any(|(k, _)| *k == key)
    }

    /// Records that `n` was sent at `now`, forgetting the oldest send when full.
    pub fn record(&mut self, n: &Notification, now: Instant) {
        let key = Key::of(n);
        self.sent.retain(|(k, _)| *k != key);
        if self.sent.len() == self.capacity {
            self.sent.pop_front();
        }
        self.sent.push_back((key, now));
    }

    fn forget_expired(&mut self, now: Instant) {
        while self.sent.front().is_some_and(|(_, at)| now.saturating_duration_since(*at) >= self.window) {
            self.sent.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use autoscaler_core::{ClusterId, notification::Severity};

    use super::*;

    fn note(kind: NotificationKind, op: &str, summary: &str) -> Notification {
        Notification {
            cluster: ClusterId::new("prod").expect("valid"),
            kind,
            severity: Severity::Info,
            summary: summary.into(),
            reasons: vec![],
            nodes: vec![],
            operation_id: Some(op.into()),
            duration: None,
            config_version: "v1".into(),
            at: "2026-01-01T00:00:00Z".parse().expect("valid"),
        }
    }

    #[test]
    fn a_repeat_within_the_window_is_a_duplicate_and_after_it_is_not() {
        let t0 = Instant::now();
        let mut recent = Recent::new(Duration::from_secs(600), 8);
        let n = note(NotificationKind::ScaleUpStarted, "op-1", "Scaled up 2 → 4 workers");
        assert!(!recent.is_duplicate(&n, t0));
        recent.record(&n, t0);
        assert!(recent.is_duplicate(&n, t0 + Duration::from_secs(599)));
        assert!(!recent.is_duplicate(&n, t0 + Duration::from_secs(600)));
    }

    #[test]
    fn another_kind_operation_or_summary_is_not_a_duplicate() {
        let t0 = Instant::now();
        let mut recent = Recent::new(Duration::from_secs(600), 8);
        recent.record(&note(NotificationKind::ScaleUpStarted, "op-1", "s"), t0);
        assert!(!recent.is_duplicate(&note(NotificationKind::ScaleUpDone, "op-1", "s"), t0));
        assert!(!recent.is_duplicate(&note(NotificationKind::ScaleUpStarted, "op-2", "s"), t0));
        assert!(!recent.is_duplicate(&note(NotificationKind::ScaleUpStarted, "op-1", "t"), t0));
    }

    #[test]
    fn memory_is_bounded_and_forgets_the_oldest() {
        let t0 = Instant::now();
        let mut recent = Recent::new(Duration::from_secs(600), 2);
        let [a, b, c] = ["a", "b", "c"].map(|s| note(NotificationKind::Drift, "op", s));
        for n in [&a, &b, &c] {
            recent.record(n, t0);
        }
        assert!(!recent.is_duplicate(&a, t0));
        assert!(recent.is_duplicate(&b, t0) && recent.is_duplicate(&c, t0));
    }
}
