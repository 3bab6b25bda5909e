//! Scenario files: a day (or a month) of traffic and incidents to replay. YAML, unknown fields
//! rejected, every error naming its field. Field-by-field reference: `docs/SIMULATOR.md`.
//! Parsing and validation only; no I/O (callers pass the text).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::daytime::TimeOfDay;
use crate::{Policy, config::strip_path};

/// The zones of the simulated cluster's subnets (the worker launch spreads across them).
pub const ZONES: [&str; 2] = ["us-east-1a", "us-east-1b"];

/// The scenarios shipped with the simulator: `(name, YAML)`.
pub const SHIPPED: [(&str, &str); 5] = [
    ("business-day", include_str!("../../scenarios/business-day.yaml")),
    ("flash-sale", include_str!("../../scenarios/flash-sale.yaml")),
    ("spot-storm", include_str!("../../scenarios/spot-storm.yaml")),
    ("capacity-outage", include_str!("../../scenarios/capacity-outage.yaml")),
    ("quiet-weekend", include_str!("../../scenarios/quiet-weekend.yaml")),
];

/// The scenario `simulate` runs when none is named.
pub const DEFAULT: &str = "business-day";

/// A scenario.
///
/// - `name`: shown in the report.
/// - `description`: one paragraph for the reader (optional).
/// - `duration`: how long to simulate (`24h`, `30days`), at most 366 days.
/// - `step`: simulated time per step (default `15s`); must divide the policy's
///   `signals.evaluation_interval` and one minute.
/// - `seed`: seeds the demand noise and the choice of interrupted Spot workers (default 0).
/// - `start`: time of day the run starts (`HH:MM`, default `00:00`), simulated UTC.
/// - `initial_workers`: on-demand workers running at the start; the `fixed` strategy keeps them.
/// - `boot_seconds`: from RunInstances to a Ready node (default 90).
/// - `demand`: busy application cores over the day.
/// - `flash_sales`, `spot_interruptions`, `capacity_errors`: incidents (each may name a `day`).
/// - `pod`: the application's Deployment, HPA and PodDisruptionBudget.
/// - `prices`: hourly prices of a worker (default: t3.small in us-east-1).
/// - `policy`: overrides of the autoscaler policy (a partial `infra/policy.yaml`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Shown in the report.
    pub name: String,
    /// A paragraph for the reader.
    #[serde(default)]
    pub description: String,
    /// How long to simulate.
    #[serde(with = "humantime_serde")]
    pub duration: Duration,
    /// Simulated time per step.
    #[serde(with = "humantime_serde", default = "default_step")]
    pub step: Duration,
    /// Seeds every random choice of the run.
    #[serde(default)]
    pub seed: u64,
    /// Time of day the run starts.
    #[serde(default)]
    pub start: TimeOfDay,
    /// On-demand workers at the start.
    pub initial_workers: u32,
    /// Seconds from launch to Ready node.
    #[serde(default = "default_boot")]
    pub boot_seconds: u64,
    /// The demand curve.
    pub demand: Demand,
    /// Sudden multiplications of demand.
    #[serde(default)]
    pub flash_sales: Vec<FlashSale>,
    /// EC2 reclaiming Spot workers (2-minute notice).
    #[serde(default)]
    pub spot_interruptions: Vec<SpotInterruption>,
    /// Windows during which launches fail.
    #[serde(default)]
    pub capacity_errors: Vec<CapacityError>,
    /// The application's pods.
    #[serde(default)]
    pub pod: PodSpec,
    /// Worker prices.
    #[serde(default)]
    pub prices: Prices,
    /// The autoscaler policy: the defaults with these fields overridden.
    #[serde(default)]
    pub policy: Policy,
}

/// Busy application cores over a day, linear between points, repeating daily.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Demand {
    /// `{at: "HH:MM", cores: N}`; at least one; between the last point and the first of the next
    /// day the curve is linear too.
    pub points: Vec<DemandPoint>,
    /// Standard deviation of a slowly varying multiplicative noise, percent (0 to 50; default 0).
    #[serde(default)]
    pub noise: f64,
}

/// One point of the demand curve.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemandPoint {
    /// Time of day.
    pub at: TimeOfDay,
    /// Busy cores of the application at that time.
    pub cores: f64,
}

/// A flash sale: demand times `multiplier` from `at` for `duration`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlashSale {
    /// When it starts.
    pub at: TimeOfDay,
    /// How long it lasts.
    #[serde(with = "humantime_serde")]
    pub duration: Duration,
    /// Demand multiplier while it lasts (> 0).
    pub multiplier: f64,
    /// Only on this day of the run (1-based); every day when absent.
    #[serde(default)]
    pub day: Option<u32>,
}

/// EC2 sends `count` Spot workers an interruption notice at `at`, and reclaims them 2 minutes
/// later. Fewer are hit when fewer Spot workers run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpotInterruption {
    /// When the notices are sent.
    pub at: TimeOfDay,
    /// How many Spot workers.
    pub count: u32,
    /// Only on this day of the run (1-based); every day when absent.
    #[serde(default)]
    pub day: Option<u32>,
}

/// Launches in `zone` (every zone when absent) fail with `code` from `from` to `to` (a window
/// that ends before it starts wraps past midnight).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CapacityError {
    /// Start of the window.
    pub from: TimeOfDay,
    /// End of the window.
    pub to: TimeOfDay,
    /// The zone, one of `us-east-1a`, `us-east-1b`; every zone when absent.
    #[serde(default)]
    pub zone: Option<String>,
    /// The EC2 error code (default `InsufficientInstanceCapacity`; a code ending in
    /// `LimitExceeded` is a quota error).
    #[serde(default = "default_code")]
    pub code: String,
    /// Only on this day of the run (1-based); every day when absent.
    #[serde(default)]
    pub day: Option<u32>,
}

/// The application: one Deployment scaled by an HPA on CPU, covered by a PodDisruptionBudget.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PodSpec {
    /// CPU request of one pod, millicores (default 200).
    pub cpu_request_millis: u64,
    /// Memory request of one pod, MiB (default 128).
    pub memory_request_mib: u64,
    /// The HPA's target: average pod CPU as a percent of its request (default 75).
    pub target_utilization: f64,
    /// The HPA's bounds (default 2 and 200).
    pub min_replicas: u32,
    /// See `min_replicas`.
    pub max_replicas: u32,
    /// The PDB's `minAvailable`, percent of the replicas (default 50).
    pub pdb_min_available_percent: f64,
}

/// Hourly prices of one worker. The defaults are t3.small in us-east-1: on-demand is the list
/// price; Spot is an assumption (its price moves; about a third of on-demand is typical).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Prices {
    /// USD per on-demand worker-hour (default 0.0208).
    pub on_demand_per_hour: f64,
    /// USD per Spot worker-hour (default 0.0068, an assumption).
    pub spot_per_hour: f64,
}

fn default_step() -> Duration {
    Duration::from_secs(15)
}

const fn default_boot() -> u64 {
    90
}

fn default_code() -> String {
    "InsufficientInstanceCapacity".into()
}

impl Default for PodSpec {
    fn default() -> Self {
        Self {
            cpu_request_millis: 200,
            memory_request_mib: 128,
            target_utilization: 75.0,
            min_replicas: 2,
            max_replicas: 200,
            pdb_min_available_percent: 50.0,
        }
    }
}

impl Default for Prices {
    fn default() -> Self {
        Self { on_demand_per_hour: 0.0208, spot_per_hour: 0.0068 }
    }
}

/// Why a scenario was rejected: the field and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("scenario: {field}: {message}")]
pub struct ScenarioError {
    /// Dotted path of the field (`demand.points[2].at`), or `.` for the document.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

impl Scenario {
    /// Parses and validates a scenario file.
    pub fn from_yaml(text: &str) -> Result<Self, ScenarioError> {
        let de = serde_norway::Deserializer::from_str(text);
        let scenario: Scenario = serde_path_to_error::deserialize(de).map_err(|e| {
            let field = e.path().to_string();
            ScenarioError { message: strip_path(&field, &e.inner().to_string()), field }
        })?;
        scenario.validate()?;
        Ok(scenario)
    }

    /// Checks every rule between values (after changing a parsed scenario).
    pub fn validate(&self) -> Result<(), ScenarioError> {
        super::check::validate(self)
    }

    /// A shipped scenario by name.
    pub fn shipped(name: &str) -> Option<Self> {
        SHIPPED
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(n, text)| Self::from_yaml(text).unwrap_or_else(|e| panic!("shipped scenario {n} is invalid: {e}")))
    }
}
