//! `LogNotifier`: the notifier of a deployment without a Slack webhook — each notification becomes
//! one structured log line (CloudWatch Logs keeps it; Logs Insights finds it by `notification`).

use autoscaler_core::{
    notification::{Notification, Severity},
    ports::Notifier,
};
use tracing::{error, info, warn};

/// Writes every notification as one `tracing` event at the level of its severity.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogNotifier;

impl Notifier for LogNotifier {
    async fn notify(&self, n: &Notification) {
        let kind = serde_json::to_value(n.kind).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
        let reasons = n.reasons.join("; ");
        let nodes = n.nodes.join(",");
        let operation_id = n.operation_id.as_deref().unwrap_or("");
        let duration_seconds = n.duration.map(|d| d.as_secs());
        macro_rules! line {
            ($level:ident) => {
                $level!(
                    notification = kind.as_str(),
                    cluster = n.cluster.as_str(),
                    summary = n.summary.as_str(),
                    reasons = reasons.as_str(),
                    nodes = nodes.as_str(),
                    operation_id,
                    duration_seconds,
                    config_version = n.config_version.as_str(),
                    at = %n.at,
                    "Notification."
                )
            };
        }
        match n.severity {
            Severity::Info => line!(info),
            Severity::Warning => line!(warn),
            Severity::Error => line!(error),
        }
    }
}
