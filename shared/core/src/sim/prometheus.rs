//! Prometheus as the rules in `alertmanager/rules/autoscaler.rules.yml` make it behave: node CPU
//! scraped every evaluation interval, the average worker CPU as a ratio of rates over a window of
//! `rules::CPU_RATE_WINDOW_INTERVALS` intervals (over the workers that have a CPU series), the
//! five alerts with their `for:` windows, and the sending of firing alerts to Alertmanager (at
//! once when they fire, then re-sent when more than the resend delay has passed; resolutions at
//! once). Every threshold and window comes from the policy the rules are rendered from.

use std::{collections::VecDeque, time::Duration};

use rustc_hash::FxHashMap;

use super::workload::Usage;
use crate::{Pod, Policy, rules::CPU_RATE_WINDOW_INTERVALS};

/// Prometheus' `--rules.alert.resend-delay` default.
pub const RESEND_DELAY: u64 = 60;

/// The alert rules' numbers, from the policy.
#[derive(Debug, Clone, PartialEq)]
pub struct Rules {
    /// Evaluation (and scrape) interval, seconds.
    pub eval: u64,
    /// CPU rate window, in intervals.
    pub window_intervals: u32,
    /// HighCPU: CPU strictly above this, for `up_for` seconds.
    pub up_cpu: f64,
    /// See `up_cpu`.
    pub up_for: u64,
    /// PendingPods: an unschedulable pod at least this old, seconds.
    pub pending_for: u64,
    /// LowCPU: CPU strictly below this with nothing unschedulable, for `down_for` seconds.
    pub down_cpu: f64,
    /// See `down_cpu`.
    pub down_for: u64,
    /// Overprovisioned, when consolidation is enabled: one worker fewer would run at or below
    /// `target` percent, more than `min_workers` workers, nothing unschedulable, for `for_secs`.
    pub consolidate: Option<Consolidate>,
}

/// The Overprovisioned rule's numbers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Consolidate {
    /// `target_utilization_percent`.
    pub target: f64,
    /// `min_workers`.
    pub min_workers: u32,
    /// `scale_down.consolidation.for`, seconds.
    pub for_secs: u64,
}

impl Rules {
    /// The numbers `rules::render(policy)` writes into the rule file.
    pub fn from_policy(p: &Policy) -> Self {
        let s = |d: Duration| d.as_secs();
        Self {
            eval: s(p.signals.evaluation_interval).max(1),
            window_intervals: CPU_RATE_WINDOW_INTERVALS,
            up_cpu: p.scale_up.cpu_percent,
            up_for: s(p.scale_up.cpu_for),
            pending_for: s(p.scale_up.pending_for),
            down_cpu: p.scale_down.cpu_percent,
            down_for: s(p.scale_down.cpu_for),
            consolidate: p.scale_down.consolidation.enabled.then(|| Consolidate {
                target: p.target_utilization_percent,
                min_workers: p.min_workers,
                for_secs: s(p.scale_down.consolidation.after),
            }),
        }
    }
}

/// The alerts, in rule-file order.
pub const ALERTS: [(&str, &str); 5] = [
    ("HighCPU", "scale_up"),
    ("PendingPods", "scale_up"),
    ("LowCPU", "scale_down"),
    ("Overprovisioned", "scale_down"),
    ("Watchdog", "heartbeat"),
];

/// An alert as Prometheus sends it to Alertmanager.
#[derive(Debug, Clone, PartialEq)]
pub struct Sent {
    /// Index into `ALERTS`.
    pub rule: usize,
    /// Firing, or resolved at `ends_at`.
    pub firing: bool,
    /// When it started firing (Prometheus' `FiredAt`), seconds into the run.
    pub starts_at: u64,
    /// When it resolved.
    pub ends_at: Option<u64>,
    /// Rendered annotations, `(key, value)`.
    pub annotations: Vec<(&'static str, String)>,
}

/// Rendered annotations, `(key, value)`.
type Annotations = Vec<(&'static str, String)>;

#[derive(Debug, Clone, Default)]
struct AlertState {
    active_at: Option<u64>,
    fired_at: Option<u64>,
    last_sent: Option<u64>,
    annotations: Vec<(&'static str, String)>,
}

/// One scrape: each Ready worker's busy and allocatable millicores averaged over the interval
/// that ends at the scrape; `baseline` marks a node's first sample (no rate yet).
#[derive(Debug, Clone)]
struct Scrape {
    nodes: Vec<(String, f64, f64, bool)>,
}

/// The CPU signal at one evaluation.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CpuSignal {
    /// `cluster:worker_cpu_utilisation:percent`.
    pub percent: f64,
    /// `cluster:worker_cpu_busy_cores:sum`.
    pub busy_cores: f64,
    /// `cluster:worker_cpu_cores:sum`.
    pub cores: f64,
    /// `cluster:worker_nodes:count`.
    pub workers: u32,
}

impl CpuSignal {
    /// What the average would be on one worker fewer (of the average size), percent; infinite
    /// with one worker.
    pub fn one_fewer_percent(&self) -> f64 {
        let left = self.cores - self.cores / f64::from(self.workers.max(1));
        if left > 0.0 { 100.0 * self.busy_cores / left } else { f64::INFINITY }
    }
}

/// The Prometheus server of one simulated cluster.
#[derive(Debug, Clone)]
pub struct Prometheus {
    rules: Rules,
    acc: FxHashMap<String, (f64, f64, u32)>,
    scrapes: VecDeque<Scrape>,
    alerts: [AlertState; 5],
    /// The CPU signal of the last evaluation, if there was one.
    pub cpu: Option<CpuSignal>,
}

impl Prometheus {
    /// A server evaluating `rules`.
    pub fn new(rules: Rules) -> Self {
        Self { rules, acc: FxHashMap::default(), scrapes: VecDeque::new(), alerts: Default::default(), cpu: None }
    }

    /// The rules it evaluates.
    pub fn rules(&self) -> &Rules {
        &self.rules
    }

    /// Node-exporter's counters advance by one step of `usage`.
    pub fn observe(&mut self, usage: &Usage) {
        let mut next: FxHashMap<String, (f64, f64, u32)> = FxHashMap::default();
        for (name, busy, cap) in &usage.nodes {
            let (b, _, n) = self.acc.remove(name).unwrap_or_default();
            next.insert(name.clone(), (b + busy, *cap, n + 1));
        }
        self.acc = next;
    }

    /// Scrapes (at an evaluation instant): each node's average over the steps since the last
    /// scrape. The scrape is what the *next* evaluation sees, so the signal lags one interval.
    pub fn scrape(&mut self) {
        let previous: Vec<&str> =
            self.scrapes.back().map(|s| s.nodes.iter().map(|n| n.0.as_str()).collect()).unwrap_or_default();
        let mut nodes: Vec<(String, f64, f64, bool)> = self
            .acc
            .iter()
            .map(|(name, (busy, cap, n))| {
                (name.clone(), busy / f64::from((*n).max(1)), *cap, !previous.contains(&name.as_str()))
            })
            .collect();
        nodes.sort_by(|a, b| a.0.cmp(&b.0));
        for v in self.acc.values_mut() {
            *v = (0.0, v.1, 0);
        }
        self.scrapes.push_back(Scrape { nodes });
        // The window plus the one-interval lag.
        while self.scrapes.len() > self.rules.window_intervals as usize + 1 {
            self.scrapes.pop_front();
        }
    }

    /// The CPU signal over the rate window: the nodes present in the latest usable scrape, each
    /// weighted by its cores.
    fn cpu_signal(&self) -> Option<CpuSignal> {
        let n = self.scrapes.len();
        if n < 2 {
            return None;
        }
        // The newest scrape is not visible yet (one-interval lag).
        let window: Vec<&Scrape> = self.scrapes.iter().take(n - 1).collect();
        let latest = window.last()?;
        let (mut busy, mut cap, mut workers) = (0.0, 0.0, 0u32);
        for (name, _, node_cap, _) in &latest.nodes {
            let samples: Vec<f64> = window
                .iter()
                .filter_map(|s| s.nodes.iter().find(|x| &x.0 == name).filter(|x| !x.3).map(|x| x.1))
                .collect();
            if samples.is_empty() {
                continue;
            }
            busy += samples.iter().sum::<f64>() / samples.len() as f64;
            cap += node_cap;
            workers += 1;
        }
        (cap > 0.0).then(|| CpuSignal {
            percent: 100.0 * busy / cap,
            busy_cores: busy / 1000.0,
            cores: cap / 1000.0,
            workers,
        })
    }

    /// Evaluates the rules at `t` (seconds into the run) over the pods as they are, and returns
    /// the alerts to send to Alertmanager now.
    pub fn evaluate(&mut self, t: u64, pods: &[Pod], pending_age: impl Fn(&Pod) -> Option<u64>) -> Vec<Sent> {
        let r = self.rules.clone();
        let cpu = self.cpu_signal();
        self.cpu = cpu;
        let unschedulable = pods.iter().filter(|p| p.is_unschedulable()).count();
        let old = pods
            .iter()
            .filter(|p| p.is_unschedulable())
            .filter(|p| pending_age(p).is_some_and(|a| a >= r.pending_for))
            .count();
        let cpu_note = |c: &CpuSignal| {
            vec![("cpu_percent", format!("{:.2}", c.percent)), ("demand_cores", format!("{:.3}", c.busy_cores))]
        };
        let surplus = |c: &CpuSignal| {
            r.consolidate
                .is_some_and(|k| c.workers > k.min_workers && unschedulable == 0 && c.one_fewer_percent() <= k.target)
        };
        let conditions: [(Option<Annotations>, u64, String); 5] = [
            (cpu.filter(|c| c.percent > r.up_cpu).map(|c| cpu_note(&c)), r.up_for, format!("above {}%", r.up_cpu)),
            (
                (old > 0).then(|| vec![("pending_pods", format!("{old:.0}"))]),
                0,
                format!("unschedulable for at least {}s", r.pending_for),
            ),
            (
                cpu.filter(|c| c.percent < r.down_cpu && unschedulable == 0).map(|c| cpu_note(&c)),
                r.down_for,
                format!("below {}%", r.down_cpu),
            ),
            (
                cpu.filter(surplus).map(|c| cpu_note(&c)),
                r.consolidate.map_or(0, |k| k.for_secs),
                "one worker fewer would suffice".into(),
            ),
            (cpu.map(|c| cpu_note(&c)), 0, "heartbeat".into()),
        ];
        let mut sent = Vec::new();
        for (rule, (holds, hold_for, summary)) in conditions.into_iter().enumerate() {
            let a = &mut self.alerts[rule];
            match holds {
                Some(mut annotations) => {
                    let active = *a.active_at.get_or_insert(t);
                    if a.fired_at.is_none() && t - active >= hold_for {
                        a.fired_at = Some(t);
                    }
                    annotations.push(("summary", format!("{} {summary}", ALERTS[rule].0)));
                    a.annotations = annotations;
                    if let Some(fired) = a.fired_at
                        && a.last_sent.is_none_or(|last| last + RESEND_DELAY < t)
                    {
                        a.last_sent = Some(t);
                        sent.push(Sent {
                            rule,
                            firing: true,
                            starts_at: fired,
                            ends_at: None,
                            annotations: a.annotations.clone(),
                        });
                    }
                }
                None => {
                    if let Some(fired) = a.fired_at {
                        sent.push(Sent {
                            rule,
                            firing: false,
                            starts_at: fired,
                            ends_at: Some(t),
                            annotations: a.annotations.clone(),
                        });
                    }
                    *a = AlertState::default();
                }
            }
        }
        sent
    }
}
