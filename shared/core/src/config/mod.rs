//! The policy configuration: every threshold, window and bound in one validated file. The alert
//! rules, the scaler and the simulator all read their numbers from here. Parsing and validation
//! only; no I/O (callers pass the file's text).

mod default;
mod validate;

use std::time::Duration;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The example file shipped in the repository; it equals the defaults (a test proves it).
pub const EXAMPLE: &str = include_str!("../../../../infra/policy.yaml");

/// Why a policy file was rejected. The message names the field and the rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The file is not valid YAML of the expected shape (unknown field, wrong type…).
    #[error("policy file: {field}: {message}")]
    Parse {
        /// Dotted path of the offending field (`scale_up.max_step`), or `.` for the document.
        field: String,
        /// What the parser said.
        message: String,
    },
    /// A value breaks a rule (`max_workers (1) must be >= min_workers (2)`).
    #[error("policy file: {0}")]
    Invalid(String),
}

/// The whole policy. Field by field documentation, with defaults and units, is in
/// `infra/policy.yaml` and the README.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Policy {
    /// Fewest workers, kept at all times for availability (challenge: 2).
    pub min_workers: u32,
    /// Most workers, the cost ceiling (challenge: 10).
    pub max_workers: u32,
    /// Utilisation the fleet is sized for after any scaling, percent. Between the two triggers so
    /// that a scaled fleet settles inside the band instead of at its edge.
    pub target_utilization_percent: f64,
    /// Shadow mode: decide, record and notify, but change nothing in EC2 or K3s.
    pub dry_run: bool,
    /// The worker machine and how to launch it.
    pub worker: WorkerConfig,
    /// When and how fast to add workers.
    pub scale_up: ScaleUpConfig,
    /// When and how carefully to remove workers.
    pub scale_down: ScaleDownConfig,
    /// Draining a node before it is terminated.
    pub drain: DrainConfig,
    /// Alert signals: evaluation and freshness.
    pub signals: SignalConfig,
}

/// The worker machine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WorkerConfig {
    /// Instance types in order of preference; Spot requests may use any of them.
    pub instance_types: Vec<String>,
    /// Allocatable CPU of one worker, millicores, used when no Ready worker is observed
    /// (t3.small: 2 vCPU).
    pub cpu_millis: u64,
    /// Allocatable memory of one worker, MiB (t3.small: 2 GiB minus system reservations).
    pub memory_mib: u64,
    /// Launch workers above `on_demand_base` as Spot.
    pub spot: bool,
    /// Workers kept on-demand regardless of Spot (default: equal to `min_workers`).
    pub on_demand_base: Option<u32>,
    /// A launched worker must be Ready within this time, or it is terminated.
    #[serde(with = "humantime_serde")]
    pub ready_timeout: Duration,
}

/// Scale-up triggers and step sizing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScaleUpConfig {
    /// Scale up when average worker CPU is strictly above this, percent.
    pub cpu_percent: f64,
    /// … for at least this long (the HighCPU rule's `for:`).
    #[serde(with = "humantime_serde")]
    pub cpu_for: Duration,
    /// Scale up when any pod has been Pending for at least this long (the PendingPods rule).
    #[serde(with = "humantime_serde")]
    pub pending_for: Duration,
    /// Most workers added by one decision.
    pub max_step: u32,
    /// Above this CPU percent (a flash sale), one decision may add `2 × max_step`.
    pub burst_cpu_percent: f64,
    /// After a scale-up completes, wait this long before the next: the CPU signal is a rate over
    /// the last minutes and still shows the load of the smaller fleet.
    #[serde(with = "humantime_serde")]
    pub cooldown: Duration,
    /// After a failed launch (quota, capacity everywhere, node never Ready), wait this long.
    #[serde(with = "humantime_serde")]
    pub failure_backoff: Duration,
}

/// Scale-down triggers and pacing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScaleDownConfig {
    /// Scale down when average worker CPU is strictly below this, percent …
    pub cpu_percent: f64,
    /// … for at least this long, with nothing Pending (the LowCPU rule's `for:`).
    #[serde(with = "humantime_serde")]
    pub cpu_for: Duration,
    /// No scale-down this soon after a scale-up: the load that caused it may come back, and
    /// flapping costs a drain each time.
    #[serde(with = "humantime_serde")]
    pub after_scale_up: Duration,
    /// Pause between two removals of one scale-down, so demand is re-checked on a fleet that has
    /// absorbed the last drain.
    #[serde(with = "humantime_serde")]
    pub removal_pause: Duration,
    /// Namespaces whose non-DaemonSet pods make a node unremovable unless a PDB covers them.
    pub critical_namespaces: Vec<String>,
    /// The second, slower scale-down trigger: workers the demand no longer needs.
    pub consolidation: ConsolidationConfig,
    /// When every decision has wanted fewer workers for this long and none could be removed
    /// (blocking pods, PDBs, nothing fits elsewhere), notify once, with the reasons: the fleet
    /// is paying for workers the demand does not need.
    #[serde(with = "humantime_serde")]
    pub report_held_after: Duration,
}

/// Consolidation: a fleet sized for a peak that has passed can sit at 35-60 % CPU for hours,
/// inside the 30-70 % band, where the low-CPU trigger never fires. When one worker fewer would
/// still run at or below `target_utilization_percent`, with nothing unschedulable, for `for`,
/// the fleet is shrunk toward the target one drain at a time, exactly as after a low-CPU signal
/// (the Overprovisioned alert). The window is long so that a lull inside a busy period is not
/// taken for the end of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConsolidationConfig {
    /// Off: only the low-CPU trigger scales down.
    pub enabled: bool,
    /// How long one worker fewer must have sufficed (the Overprovisioned rule's `for:`).
    #[serde(rename = "for", with = "humantime_serde")]
    pub after: Duration,
}

/// Draining.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DrainConfig {
    /// Give up a drain after this long: uncordon, abort, report (challenge: 5 minutes).
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// Grace period passed to each eviction, seconds.
    pub pod_grace_seconds: u32,
    /// A Spot drain must finish this long before the instance is reclaimed.
    #[serde(with = "humantime_serde")]
    pub spot_margin: Duration,
}

/// Alert signals.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SignalConfig {
    /// Prometheus rule evaluation interval (and scrape interval).
    #[serde(with = "humantime_serde")]
    pub evaluation_interval: Duration,
    /// A CPU reading older than this is not acted on.
    #[serde(with = "humantime_serde")]
    pub stale_after: Duration,
    /// The reconciler reports the alert pipeline silent after this long without a Watchdog.
    #[serde(with = "humantime_serde")]
    pub watchdog_silent_after: Duration,
}

/// The YAML parser prefixes some messages with the enclosing path; it is already in `field`.
/// Shared with the scenario parser, which reports its errors the same way.
pub(crate) fn strip_path(field: &str, message: &str) -> String {
    let segments: Vec<&str> = field.split('.').collect();
    for k in (1..=segments.len()).rev() {
        if let Some(rest) = message.strip_prefix(&format!("{}: ", segments[..k].join("."))) {
            return rest.to_owned();
        }
    }
    message.to_owned()
}

impl Policy {
    /// Parses and validates a policy file (YAML). Absent fields take their defaults; unknown
    /// fields are rejected.
    pub fn from_yaml(text: &str) -> Result<Self, ConfigError> {
        let de = serde_norway::Deserializer::from_str(text);
        let policy: Policy = serde_path_to_error::deserialize(de).map_err(|e| {
            let field = e.path().to_string();
            ConfigError::Parse { message: strip_path(&field, &e.inner().to_string()), field }
        })?;
        policy.validate()?;
        Ok(policy)
    }

    /// The canonical YAML rendering of this policy.
    pub fn to_yaml(&self) -> String {
        serde_norway::to_string(self).expect("a policy always serialises")
    }

    /// A short, stable fingerprint of the effective configuration, recorded with every decision
    /// so an audit can tell which rules made it.
    pub fn version(&self) -> String {
        let json = serde_json::to_vec(self).expect("a policy always serialises");
        hex::encode(&Sha256::digest(&json)[..6])
    }

    /// Workers kept on-demand.
    pub fn on_demand_base(&self) -> u32 {
        self.worker.on_demand_base.unwrap_or(self.min_workers)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_example_equals_the_defaults() {
        assert_eq!(Policy::from_yaml(EXAMPLE).unwrap(), Policy::default());
    }

    #[test]
    fn empty_file_is_the_defaults() {
        assert_eq!(Policy::from_yaml("{}").unwrap(), Policy::default());
    }

    #[test]
    fn defaults_round_trip_through_yaml() {
        let p = Policy::default();
        assert_eq!(Policy::from_yaml(&p.to_yaml()).unwrap(), p);
    }

    #[test]
    fn unknown_and_mistyped_fields_are_rejected_with_their_path() {
        let cases = [
            ("max_wokers: 3", "policy file: max_wokers: unknown field `max_wokers`"),
            ("scale_up: {cpu_precent: 3}", "policy file: scale_up.cpu_precent: unknown field `cpu_precent`"),
            (
                "scale_down: {consolidation: {after: 30m}}",
                "policy file: scale_down.consolidation.after: unknown field `after`",
            ),
            ("scale_up: {cpu_for: soon}", "policy file: scale_up.cpu_for:"),
            ("min_workers: two", "policy file: min_workers:"),
        ];
        for (yaml, want) in cases {
            let err = Policy::from_yaml(yaml).unwrap_err().to_string();
            assert!(err.starts_with(want), "{yaml}: got {err:?}, want prefix {want:?}");
        }
    }

    #[test]
    fn version_changes_with_any_value() {
        let a = Policy::default();
        let mut b = a.clone();
        b.scale_up.max_step = 4;
        assert_ne!(a.version(), b.version());
        assert_eq!(a.version(), Policy::default().version());
        assert_eq!(a.version().len(), 12);
    }
}
