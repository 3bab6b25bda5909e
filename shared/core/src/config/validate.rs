//! The rules between the policy's fields (bounds, thresholds, windows against the evaluation
//! interval), checked after parsing; the error names the fields and the rule.

use std::time::Duration;

use super::*;

impl Policy {
    /// Checks every rule between fields; the error names the fields and the rule.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut problems = Vec::new();
        let mut check = |ok: bool, msg: String| {
            if !ok {
                problems.push(msg);
            }
        };
        check(self.min_workers >= 1, format!("min_workers ({}) must be >= 1", self.min_workers));
        check(
            self.max_workers >= self.min_workers,
            format!("max_workers ({}) must be >= min_workers ({})", self.max_workers, self.min_workers),
        );
        check(self.max_workers <= 1000, format!("max_workers ({}) must be <= 1000", self.max_workers));
        let up = &self.scale_up;
        let down = &self.scale_down;
        for (name, v) in [
            ("scale_up.cpu_percent", up.cpu_percent),
            ("scale_up.burst_cpu_percent", up.burst_cpu_percent),
            ("scale_down.cpu_percent", down.cpu_percent),
            ("target_utilization_percent", self.target_utilization_percent),
        ] {
            check(v.is_finite() && v > 0.0 && v <= 100.0, format!("{name} ({v}) must be in (0, 100]"));
        }
        check(
            down.cpu_percent < up.cpu_percent,
            format!(
                "scale_down.cpu_percent ({}) must be < scale_up.cpu_percent ({})",
                down.cpu_percent, up.cpu_percent
            ),
        );
        check(
            self.target_utilization_percent > down.cpu_percent && self.target_utilization_percent < up.cpu_percent,
            format!(
                "target_utilization_percent ({}) must be between scale_down.cpu_percent ({}) and scale_up.cpu_percent ({}), or scaling flaps",
                self.target_utilization_percent, down.cpu_percent, up.cpu_percent
            ),
        );
        check(
            up.burst_cpu_percent >= up.cpu_percent,
            format!(
                "scale_up.burst_cpu_percent ({}) must be >= scale_up.cpu_percent ({})",
                up.burst_cpu_percent, up.cpu_percent
            ),
        );
        check(up.max_step >= 1, format!("scale_up.max_step ({}) must be >= 1", up.max_step));
        check(!self.worker.instance_types.is_empty(), "worker.instance_types must not be empty".into());
        check(self.worker.cpu_millis >= 100, format!("worker.cpu_millis ({}) must be >= 100", self.worker.cpu_millis));
        check(self.worker.memory_mib >= 128, format!("worker.memory_mib ({}) must be >= 128", self.worker.memory_mib));
        if let Some(base) = self.worker.on_demand_base {
            check(
                base <= self.max_workers,
                format!("worker.on_demand_base ({base}) must be <= max_workers ({})", self.max_workers),
            );
        }
        let eval = self.signals.evaluation_interval;
        check(!eval.is_zero(), "signals.evaluation_interval must be > 0s".into());
        for (name, d) in [
            ("scale_up.cpu_for", up.cpu_for),
            ("scale_up.pending_for", up.pending_for),
            ("scale_down.cpu_for", down.cpu_for),
            ("scale_down.consolidation.for", down.consolidation.after),
        ] {
            check(
                d.as_millis() % eval.as_millis().max(1) == 0,
                format!(
                    "{name} ({}) must be a multiple of signals.evaluation_interval ({})",
                    humantime::format_duration(d),
                    humantime::format_duration(eval)
                ),
            );
        }
        if down.consolidation.enabled {
            // Shorter than the low-CPU window, it would act on every dip that the low-CPU rule
            // is made to wait out.
            check(
                down.consolidation.after >= down.cpu_for,
                format!(
                    "scale_down.consolidation.for ({}) must be >= scale_down.cpu_for ({})",
                    humantime::format_duration(down.consolidation.after),
                    humantime::format_duration(down.cpu_for)
                ),
            );
        }
        check(!down.report_held_after.is_zero(), "scale_down.report_held_after must be > 0s".into());
        check(!self.drain.timeout.is_zero(), "drain.timeout must be > 0s".into());
        check(
            self.drain.spot_margin < Duration::from_secs(120),
            "drain.spot_margin must be < 2m (the Spot notice)".into(),
        );
        check(!self.worker.ready_timeout.is_zero(), "worker.ready_timeout must be > 0s".into());
        check(self.signals.stale_after >= eval, "signals.stale_after must be >= signals.evaluation_interval".into());
        if problems.is_empty() { Ok(()) } else { Err(ConfigError::Invalid(problems.join("; "))) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_field_and_the_rule() {
        let cases = [
            ("max_workers: 1", "max_workers (1) must be >= min_workers (2)"),
            ("min_workers: 0", "min_workers (0) must be >= 1"),
            ("scale_up: {max_step: 0}", "scale_up.max_step (0) must be >= 1"),
            ("scale_down: {cpu_percent: 80}", "scale_down.cpu_percent (80) must be < scale_up.cpu_percent (70)"),
            ("target_utilization_percent: 20", "target_utilization_percent (20) must be between"),
            (
                "scale_up: {cpu_for: 50s}",
                "scale_up.cpu_for (50s) must be a multiple of signals.evaluation_interval (15s)",
            ),
            ("worker: {instance_types: []}", "worker.instance_types must not be empty"),
            ("scale_up: {cpu_percent: .nan}", "scale_up.cpu_percent (NaN) must be in (0, 100]"),
            ("drain: {spot_margin: 3m}", "drain.spot_margin must be < 2m"),
            (
                "scale_down: {consolidation: {for: 5m}}",
                "scale_down.consolidation.for (5m) must be >= scale_down.cpu_for (10m)",
            ),
            (
                "scale_down: {consolidation: {for: 40m 5s}}",
                "scale_down.consolidation.for (40m 5s) must be a multiple of signals.evaluation_interval (15s)",
            ),
        ];
        for (yaml, want) in cases {
            let err = Policy::from_yaml(yaml).unwrap_err().to_string();
            assert!(err.contains(want), "{yaml}: got {err:?}, want {want:?}");
        }
    }
}
