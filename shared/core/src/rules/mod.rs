//! Renders the Prometheus alerting and recording rules from the policy, so that every threshold
//! and window of the alerts comes from the one policy file. Pure: text in, text out.
//!
//! The rendered file is committed at `alertmanager/rules/autoscaler.rules.yml`; a test below fails
//! when it differs from `render(&Policy::default())`. Alert names, labels and annotations follow
//! `docs/CONTRACTS.md`; the PromQL and the timing reasoning are explained in
//! `alertmanager/README.md`.

use std::time::Duration;

use crate::config::Policy;

/// The app-signal alerts (`ApiLatencyHigh`, `ErrorRateHigh`, `QueueDepthHigh`) only observe: they
/// carry `action: observe` and never scale on their own. Their thresholds are constants here
/// rather than policy fields until the policy uses them.
///
/// p95 HTTP request latency above this many seconds (histogram
/// `http_request_duration_seconds`).
pub const API_LATENCY_P95_SECONDS: f64 = 0.5;
/// Share of HTTP requests answered with a 5xx code above this ratio (counter
/// `http_requests_total{code}`).
pub const ERROR_RATE_RATIO: f64 = 0.05;
/// Messages waiting in an application queue above this (gauge `queue_depth{queue}`).
pub const QUEUE_DEPTH: f64 = 100.0;
/// Rate window of the app signals, and how long they must hold before firing.
pub const APP_SIGNAL_WINDOW: Duration = Duration::from_secs(5 * 60);

/// The CPU rate window is this many evaluation (= scrape) intervals: enough samples that one or
/// two missed scrapes leave the rate defined, short enough that a step in load crosses the
/// threshold within one window.
pub const CPU_RATE_WINDOW_INTERVALS: u32 = 4;

/// The rule file text for `policy`: deterministic, with a header saying how it was generated.
pub fn render(policy: &Policy) -> String {
    let up = &policy.scale_up;
    let down = &policy.scale_down;
    let eval = policy.signals.evaluation_interval;
    let cpu_window = eval * CPU_RATE_WINDOW_INTERVALS;
    let substitutions = [
        ("@@EVAL@@", prom_duration(eval)),
        ("@@CPU_WINDOW@@", prom_duration(cpu_window)),
        ("@@UP_CPU@@", number(up.cpu_percent)),
        ("@@UP_FOR@@", prom_duration(up.cpu_for)),
        ("@@PENDING_FOR@@", prom_duration(up.pending_for)),
        ("@@PENDING_SECONDS@@", number(up.pending_for.as_secs_f64())),
        ("@@DOWN_CPU@@", number(down.cpu_percent)),
        ("@@DOWN_FOR@@", prom_duration(down.cpu_for)),
        ("@@CONSOLIDATION_HEADER@@", consolidation_header(policy)),
        ("@@TARGET@@", number(policy.target_utilization_percent)),
        ("@@MIN_WORKERS@@", policy.min_workers.to_string()),
        ("@@CONSOLIDATE_FOR@@", prom_duration(down.consolidation.after)),
        ("@@APP_WINDOW@@", prom_duration(APP_SIGNAL_WINDOW)),
        ("@@LATENCY@@", number(API_LATENCY_P95_SECONDS)),
        ("@@ERROR_RATIO@@", number(ERROR_RATE_RATIO)),
        ("@@QUEUE_DEPTH@@", number(QUEUE_DEPTH)),
    ];
    // The consolidation rule goes in first: its own placeholders are filled by the rest.
    let mut text = TEMPLATE.replace("@@CONSOLIDATION_RULE@@", &consolidation_rule(policy));
    for (placeholder, value) in &substitutions {
        text = text.replace(placeholder, value);
    }
    text
}

/// The Overprovisioned alert, or a comment saying it is off.
fn consolidation_rule(policy: &Policy) -> String {
    if policy.scale_down.consolidation.enabled {
        CONSOLIDATION_RULE.to_owned()
    } else {
        "      # Overprovisioned: off (scale_down.consolidation.enabled = false); only LowCPU scales down.\n".to_owned()
    }
}

/// The policy values the Overprovisioned alert uses, for the header.
fn consolidation_header(policy: &Policy) -> String {
    let c = &policy.scale_down.consolidation;
    if c.enabled {
        format!(
            "scale_down.consolidation.for = {}, target_utilization_percent = {}, min_workers = {}",
            prom_duration(c.after),
            number(policy.target_utilization_percent),
            policy.min_workers
        )
    } else {
        "scale_down.consolidation.enabled = false".to_owned()
    }
}

/// The second scale-down trigger (the policy's `scale_down.consolidation`).
const CONSOLIDATION_RULE: &str = include_str!("consolidation.rule.tmpl");

/// A duration in Prometheus' notation: `15s`, `1m`, `1m30s`, `1h30m`, `500ms`, `0s`.
pub fn prom_duration(d: Duration) -> String {
    let mut ms = d.as_millis();
    if ms == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    for (unit, len) in [("h", 3_600_000), ("m", 60_000), ("s", 1_000), ("ms", 1)] {
        if ms >= len {
            out.push_str(&format!("{}{unit}", ms / len));
            ms %= len;
        }
    }
    out
}

/// A number as PromQL and humans write it: `70`, `70.5`, `0.05` (no exponent, no trailing `.0`).
fn number(v: f64) -> String {
    format!("{v}")
}

/// The rule file with `@@NAME@@` placeholders for the policy's values. Go template braces are
/// literal here, which is why this is a template and not a `format!` string.
const TEMPLATE: &str = include_str!("autoscaler.rules.tmpl");

#[cfg(test)]
mod tests {
    use super::*;

    const COMMITTED_PATH: &str = "alertmanager/rules/autoscaler.rules.yml";

    #[test]
    fn committed_rule_file_is_the_rendering_of_the_default_policy() {
        let committed = include_str!("../../../../alertmanager/rules/autoscaler.rules.yml");
        let rendered = render(&Policy::default());
        if committed == rendered {
            return;
        }
        // K3SA_UPDATE_RULES=1 rewrites the committed file (test-only file I/O, not the library's).
        if std::env::var_os("K3SA_UPDATE_RULES").is_some() {
            let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../alertmanager/rules/autoscaler.rules.yml");
            std::fs::write(path, &rendered).expect("write the rule file");
            return;
        }
        let line = committed
            .lines()
            .zip(rendered.lines())
            .position(|(a, b)| a != b)
            .map_or_else(|| "a missing or extra line at the end".to_string(), |i| format!("line {}", i + 1));
        panic!(
            "{COMMITTED_PATH} differs from the rules rendered from the default policy (first difference: {line}).\n\
             Re-render it with `k3s-autoscaler render-rules --output {COMMITTED_PATH}` \
             (or `K3SA_UPDATE_RULES=1 cargo test -p autoscaler-core rules`) and commit the result."
        );
    }

    #[test]
    fn rendering_is_deterministic_and_complete() {
        let a = render(&Policy::default());
        assert_eq!(a, render(&Policy::default()));
        assert!(!a.contains("@@"), "an unreplaced placeholder is left: {a}");
        assert!(a.starts_with("# Generated by `k3s-autoscaler render-rules`"));
    }

    #[test]
    fn default_policy_renders_the_challenge_numbers() {
        let text = render(&Policy::default());
        for want in [
            "interval: 15s",
            "[1m]))",
            "cluster:worker_cpu_utilisation:percent > 70\n        for: 1m\n",
            "count(pod:kube_pod_unschedulable:age_seconds >= 180)",
            "cluster:worker_cpu_utilisation:percent < 30\n",
            "for: 10m\n",
            "<= 65\n          and on () cluster:worker_nodes:count > 2\n",
            "for: 30m\n",
        ] {
            assert!(text.contains(want), "missing {want:?}");
        }
    }

    #[test]
    fn consolidation_numbers_come_from_the_policy_and_it_can_be_left_out() {
        let mut p = Policy { target_utilization_percent: 60.0, min_workers: 3, ..Policy::default() };
        p.scale_down.consolidation.after = Duration::from_secs(45 * 60);
        let text = render(&p);
        for want in ["<= 60\n", "cluster:worker_nodes:count > 3\n", "for: 45m\n", "(target 60%) for 45m"] {
            assert!(text.contains(want), "missing {want:?}");
        }
        p.scale_down.consolidation.enabled = false;
        let text = render(&p);
        assert!(!text.contains("alert: Overprovisioned"));
        assert!(text.contains("# Overprovisioned: off (scale_down.consolidation.enabled = false)"));
        assert!(!text.contains("@@"));
    }

    #[test]
    fn every_number_comes_from_the_policy() {
        let mut p = Policy::default();
        p.scale_up.cpu_percent = 82.5;
        p.scale_up.cpu_for = Duration::from_secs(90);
        p.scale_up.pending_for = Duration::from_secs(300);
        p.scale_down.cpu_percent = 20.0;
        p.scale_down.cpu_for = Duration::from_secs(15 * 60);
        p.signals.evaluation_interval = Duration::from_secs(30);
        let text = render(&p);
        for want in [
            "interval: 30s",
            "[2m]))", // 4 evaluation intervals
            "cluster:worker_cpu_utilisation:percent > 82.5\n        for: 1m30s\n",
            "above 82.5% for 1m30s",
            "count(pod:kube_pod_unschedulable:age_seconds >= 300)",
            "unschedulable for at least 5m",
            "cluster:worker_cpu_utilisation:percent < 20\n",
            "for: 15m\n",
        ] {
            assert!(text.contains(want), "missing {want:?}");
        }
        assert!(!text.contains("> 70") && !text.contains("< 30") && !text.contains(">= 180"));
    }

    #[test]
    fn alerts_carry_the_contracted_labels_and_annotations() {
        let doc: serde_norway::Value = serde_norway::from_str(&render(&Policy::default())).unwrap();
        let mut alerts = Vec::new();
        for group in doc["groups"].as_sequence().unwrap() {
            assert_eq!(group["interval"].as_str(), Some("15s"));
            for rule in group["rules"].as_sequence().unwrap() {
                assert!(rule["expr"].as_str().is_some_and(|e| !e.is_empty()));
                if let Some(name) = rule["alert"].as_str() {
                    let mut keys: Vec<&str> =
                        rule["annotations"].as_mapping().unwrap().keys().map(|k| k.as_str().unwrap()).collect();
                    keys.sort_unstable();
                    alerts.push((name.to_string(), rule["labels"]["action"].as_str().unwrap().to_string(), keys));
                } else {
                    assert!(rule["record"].as_str().is_some());
                }
            }
        }
        let cpu = vec!["cpu_percent", "demand_cores", "summary"];
        let app = vec!["summary", "value"];
        let want: Vec<(String, String, Vec<&str>)> = [
            ("HighCPU", "scale_up", cpu.clone()),
            ("PendingPods", "scale_up", vec!["pending_pods", "summary"]),
            ("LowCPU", "scale_down", cpu.clone()),
            ("Overprovisioned", "scale_down", cpu.clone()),
            ("Watchdog", "heartbeat", cpu),
            ("ApiLatencyHigh", "observe", app.clone()),
            ("ErrorRateHigh", "observe", app.clone()),
            ("QueueDepthHigh", "observe", app),
        ]
        .into_iter()
        .map(|(n, a, k)| (n.to_string(), a.to_string(), k))
        .collect();
        assert_eq!(alerts, want);
    }

    #[test]
    fn durations_use_prometheus_notation() {
        let cases = [
            (Duration::ZERO, "0s"),
            (Duration::from_millis(500), "500ms"),
            (Duration::from_secs(15), "15s"),
            (Duration::from_secs(60), "1m"),
            (Duration::from_secs(90), "1m30s"),
            (Duration::from_secs(600), "10m"),
            (Duration::from_secs(5400), "1h30m"),
            (Duration::from_millis(61_500), "1m1s500ms"),
        ];
        for (d, want) in cases {
            assert_eq!(prom_duration(d), want, "{d:?}");
        }
    }

    #[test]
    fn numbers_have_no_exponent_or_trailing_zero() {
        assert_eq!(number(70.0), "70");
        assert_eq!(number(82.5), "82.5");
        assert_eq!(number(0.05), "0.05");
        assert_eq!(number(180.0), "180");
    }
}
