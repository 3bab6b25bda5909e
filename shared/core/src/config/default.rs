//! The default policy: the challenge's numbers (2-10 workers, 70 % / 30 % CPU, 5-minute
//! drains…), the values `infra/policy.yaml` ships.

use std::time::Duration;

use super::*;

impl Default for Policy {
    fn default() -> Self {
        Self {
            min_workers: 2,
            max_workers: 10,
            target_utilization_percent: 65.0,
            dry_run: false,
            worker: WorkerConfig::default(),
            scale_up: ScaleUpConfig::default(),
            scale_down: ScaleDownConfig::default(),
            drain: DrainConfig::default(),
            signals: SignalConfig::default(),
        }
    }
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            instance_types: vec!["t3.small".into(), "t3a.small".into(), "t2.small".into()],
            cpu_millis: 2000,
            memory_mib: 1800,
            spot: true,
            on_demand_base: None,
            ready_timeout: mins(10),
        }
    }
}

impl Default for ScaleUpConfig {
    fn default() -> Self {
        Self {
            cpu_percent: 70.0,
            cpu_for: mins(1),
            pending_for: mins(3),
            max_step: 3,
            burst_cpu_percent: 90.0,
            cooldown: mins(1),
            failure_backoff: mins(5),
        }
    }
}

impl Default for ScaleDownConfig {
    fn default() -> Self {
        Self {
            cpu_percent: 30.0,
            cpu_for: mins(10),
            after_scale_up: mins(10),
            removal_pause: mins(2),
            critical_namespaces: vec!["kube-system".into()],
            consolidation: ConsolidationConfig::default(),
            report_held_after: mins(60),
        }
    }
}

impl Default for ConsolidationConfig {
    fn default() -> Self {
        Self { enabled: true, after: mins(30) }
    }
}

impl Default for DrainConfig {
    fn default() -> Self {
        Self { timeout: mins(5), pod_grace_seconds: 30, spot_margin: Duration::from_secs(20) }
    }
}

impl Default for SignalConfig {
    fn default() -> Self {
        Self { evaluation_interval: Duration::from_secs(15), stale_after: mins(10), watchdog_silent_after: mins(10) }
    }
}

const fn mins(m: u64) -> Duration {
    Duration::from_secs(m * 60)
}
