//! Validation of a parsed scenario: every rule between values, each error naming its field.

use std::time::Duration;

use super::scenario::{Scenario, ScenarioError, ZONES};

/// The longest run accepted.
pub const MAX_DURATION: Duration = Duration::from_secs(366 * 86_400);

fn err(field: impl Into<String>, message: impl Into<String>) -> ScenarioError {
    ScenarioError { field: field.into(), message: message.into() }
}

fn ensure(ok: bool, field: impl Into<String>, message: impl Into<String>) -> Result<(), ScenarioError> {
    if ok { Ok(()) } else { Err(err(field, message)) }
}

fn finite_at_least(v: f64, min: f64, field: String) -> Result<(), ScenarioError> {
    ensure(v.is_finite() && v >= min, field, format!("{v} must be a number >= {min}"))
}

/// Checks a parsed scenario.
pub fn validate(s: &Scenario) -> Result<(), ScenarioError> {
    ensure(!s.name.trim().is_empty(), "name", "must not be empty")?;
    ensure(
        s.duration >= Duration::from_secs(60) && s.duration <= MAX_DURATION,
        "duration",
        format!("{} must be between 1m and 366days", humantime::format_duration(s.duration)),
    )?;
    let eval = s.policy.signals.evaluation_interval;
    let step = s.step;
    ensure(
        step >= Duration::from_secs(1)
            && step.subsec_nanos() == 0
            && eval.as_secs().is_multiple_of(step.as_secs().max(1))
            && eval.subsec_nanos() == 0
            && 60u64.is_multiple_of(step.as_secs().max(1)),
        "step",
        format!(
            "{} must be a whole number of seconds dividing both one minute and policy.signals.evaluation_interval ({})",
            humantime::format_duration(step),
            humantime::format_duration(eval)
        ),
    )?;
    ensure(
        (1..=1000).contains(&s.initial_workers),
        "initial_workers",
        format!("{} must be between 1 and 1000", s.initial_workers),
    )?;
    ensure(s.boot_seconds <= 86_400, "boot_seconds", format!("{} must be at most 86400", s.boot_seconds))?;
    demand(s)?;
    for (i, f) in s.flash_sales.iter().enumerate() {
        ensure(!f.duration.is_zero(), format!("flash_sales[{i}].duration"), "must be longer than 0s")?;
        ensure(
            f.multiplier.is_finite() && f.multiplier > 0.0 && f.multiplier <= 100.0,
            format!("flash_sales[{i}].multiplier"),
            format!("{} must be in (0, 100]", f.multiplier),
        )?;
        day(f.day, format!("flash_sales[{i}].day"))?;
    }
    for (i, x) in s.spot_interruptions.iter().enumerate() {
        ensure(x.count >= 1, format!("spot_interruptions[{i}].count"), "must be at least 1")?;
        day(x.day, format!("spot_interruptions[{i}].day"))?;
    }
    for (i, c) in s.capacity_errors.iter().enumerate() {
        ensure(c.from != c.to, format!("capacity_errors[{i}].to"), "must differ from `from`")?;
        if let Some(z) = &c.zone {
            ensure(
                ZONES.contains(&z.as_str()),
                format!("capacity_errors[{i}].zone"),
                format!("{z:?} is not a zone of the simulated cluster ({})", ZONES.join(", ")),
            )?;
        }
        ensure(!c.code.trim().is_empty(), format!("capacity_errors[{i}].code"), "must not be empty")?;
        day(c.day, format!("capacity_errors[{i}].day"))?;
    }
    pod(s)?;
    let p = &s.prices;
    finite_at_least(p.on_demand_per_hour, 0.0, "prices.on_demand_per_hour".into())?;
    finite_at_least(p.spot_per_hour, 0.0, "prices.spot_per_hour".into())?;
    s.policy.validate().map_err(|e| err("policy", e.to_string().trim_start_matches("policy file: ").to_owned()))
}

fn demand(s: &Scenario) -> Result<(), ScenarioError> {
    let d = &s.demand;
    ensure(!d.points.is_empty(), "demand.points", "needs at least one point")?;
    for (i, p) in d.points.iter().enumerate() {
        finite_at_least(p.cores, 0.0, format!("demand.points[{i}].cores"))?;
        ensure(p.cores <= 100_000.0, format!("demand.points[{i}].cores"), format!("{} is too large", p.cores))?;
        if let Some(j) = d.points[..i].iter().position(|q| q.at == p.at) {
            return Err(err(format!("demand.points[{i}].at"), format!("{} is also the time of points[{j}]", p.at)));
        }
    }
    ensure(
        d.noise.is_finite() && (0.0..=50.0).contains(&d.noise),
        "demand.noise",
        format!("{} must be a percent between 0 and 50", d.noise),
    )
}

fn pod(s: &Scenario) -> Result<(), ScenarioError> {
    let p = &s.pod;
    let worker_cpu = s.policy.worker.cpu_millis;
    ensure(
        p.cpu_request_millis >= 10 && p.cpu_request_millis <= worker_cpu,
        "pod.cpu_request_millis",
        format!("{} must be between 10 and one worker's CPU ({worker_cpu})", p.cpu_request_millis),
    )?;
    ensure(
        p.memory_request_mib <= s.policy.worker.memory_mib,
        "pod.memory_request_mib",
        format!("{} must fit on one worker ({} MiB)", p.memory_request_mib, s.policy.worker.memory_mib),
    )?;
    ensure(
        p.target_utilization.is_finite() && (1.0..=100.0).contains(&p.target_utilization),
        "pod.target_utilization",
        format!("{} must be a percent between 1 and 100 (70, not 0.7)", p.target_utilization),
    )?;
    ensure(p.min_replicas >= 1, "pod.min_replicas", "must be at least 1")?;
    ensure(
        p.max_replicas >= p.min_replicas && p.max_replicas <= 10_000,
        "pod.max_replicas",
        format!("{} must be between min_replicas ({}) and 10000", p.max_replicas, p.min_replicas),
    )?;
    ensure(
        p.pdb_min_available_percent.is_finite() && (0.0..=100.0).contains(&p.pdb_min_available_percent),
        "pod.pdb_min_available_percent",
        format!("{} must be a percent between 0 and 100", p.pdb_min_available_percent),
    )
}

fn day(d: Option<u32>, field: String) -> Result<(), ScenarioError> {
    ensure(d.is_none_or(|d| d >= 1), field, "days are counted from 1")
}
