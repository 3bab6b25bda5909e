//! The notifier and metrics ports: telling operators what happened. Neither can fail the caller:
//! a Slack outage must never fail or delay scaling beyond a bounded time.

use std::future::Future;

use crate::{metric::Metric, notification::Notification};

/// Sends notifications (Slack in production). Implementations bound their own time, log and
/// count their failures, and never return an error.
pub trait Notifier: Send + Sync {
    /// Sends one notification.
    fn notify(&self, notification: &Notification) -> impl Future<Output = ()> + Send;
}

/// Emits metrics (CloudWatch Embedded Metric Format lines in production).
pub trait Metrics: Send + Sync {
    /// Emits one metric value.
    fn emit(&self, metric: &Metric);
}
