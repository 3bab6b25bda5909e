//! `explain-message`: what the scaler's parser makes of a message body, for operators.

use autoscaler_core::{
    ClusterId,
    message::{self, ParseError},
    signal::Signal,
};
use serde::Serialize;

/// How a message is understood.
#[derive(Debug, Serialize)]
pub struct Explained {
    /// `alert`, `ec2_event`, `reconcile` or `advance`.
    pub kind: message::Kind,
    /// The cluster it belongs to.
    pub cluster: ClusterId,
    /// The instance it concerns, when there is one.
    pub instance_id: Option<String>,
    /// Its deterministic id (the SQS dedup id and idempotency key).
    pub dedup_id: String,
    /// Whether the scaler acts on it.
    pub actionable: bool,
    /// Why (not) actionable.
    pub reason: String,
    /// The parsed signal.
    pub signal: Option<Signal>,
}

/// Parses `body` with the scaler's parser.
pub fn explain(body: &str, cluster: &ClusterId) -> Result<Explained, ParseError> {
    let parsed = message::parse(body, cluster)?;
    let instance_id = parsed.signal.as_ref().and_then(|s| match s {
        Signal::SpotInterruption { instance_id, .. }
        | Signal::Rebalance { instance_id }
        | Signal::InstanceStateChange { instance_id, .. } => Some(instance_id.to_string()),
        Signal::ScheduledChange { instance_ids, .. } => {
            Some(instance_ids.iter().map(ToString::to_string).collect::<Vec<_>>().join(","))
        }
        _ => None,
    });
    let actionable = parsed.signal.is_some();
    let reason = match (&parsed.ignored, &parsed.signal) {
        (Some(why), _) => why.clone(),
        (None, Some(s)) => describe(s),
        (None, None) => "not actionable".into(),
    };
    Ok(Explained {
        kind: parsed.kind,
        cluster: parsed.cluster,
        instance_id,
        dedup_id: parsed.id,
        actionable,
        reason,
        signal: parsed.signal,
    })
}

fn describe(signal: &Signal) -> String {
    match signal {
        Signal::HighCpu { status, values, .. } => format!("HighCPU {status:?} at {:.2}% CPU", values.cpu_percent),
        Signal::LowCpu { status, values, .. } => format!("LowCPU {status:?} at {:.2}% CPU", values.cpu_percent),
        Signal::Overprovisioned { status, values, .. } => {
            format!("Overprovisioned {status:?} at {:.2}% CPU: one worker fewer would suffice", values.cpu_percent)
        }
        Signal::PendingPods { status, pending_pods, .. } => format!("PendingPods {status:?}: {pending_pods} pods"),
        Signal::Watchdog { values } => format!("Watchdog: pipeline alive, CPU {:.2}%", values.cpu_percent),
        Signal::AppMetric { name, status, value } => format!("{name} {status:?} (value {value:?}): recorded, reported"),
        Signal::SpotInterruption { action_at, .. } => {
            format!("Spot interruption: drain and replace before {action_at}")
        }
        Signal::Rebalance { .. } => "rebalance recommendation: launch a replacement, then drain".into(),
        Signal::InstanceStateChange { state, .. } => {
            format!("instance state {state:?}: acted on if the instance is one of this cluster's workers")
        }
        Signal::ScheduledChange { start_at, .. } => {
            format!("AWS Health scheduled change (starts {start_at:?}): replace first")
        }
        Signal::Reconcile { findings, .. } => format!("reconcile tick with {} findings", findings.len()),
        Signal::Advance { operation_id, step } => format!("advance operation {operation_id} (step {step})"),
    }
}
