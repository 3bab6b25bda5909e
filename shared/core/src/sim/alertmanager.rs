//! Alertmanager between the rules and the webhook: alerts grouped by the route's `group_by`, a
//! group's first notification after `group_wait`, a look every `group_interval`, a notification
//! when its firing alerts changed (or resolved, with `send_resolved`) or when `repeat_interval`
//! has passed since the last one, inhibited alerts left out. Each notification is a real webhook
//! payload (version 4, JSON), which the simulator hands to the webhook's own parser.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use super::{
    am_config::AmConfig,
    prometheus::{ALERTS, Sent},
};
use crate::time::{Timestamp, after};

#[derive(Debug, Clone)]
struct Alert {
    labels: BTreeMap<String, String>,
    annotations: Vec<(&'static str, String)>,
    starts_at: u64,
    ends_at: Option<u64>,
    fingerprint: String,
}

impl Alert {
    fn firing(&self) -> bool {
        self.ends_at.is_none()
    }
}

#[derive(Debug, Clone)]
struct Group {
    labels: BTreeMap<String, String>,
    timing: super::am_config::Timing,
    next_flush: u64,
    members: BTreeSet<usize>,
}

/// What the notification log remembers of a group's last notification.
#[derive(Debug, Clone)]
struct Notified {
    firing: BTreeSet<String>,
    resolved: BTreeSet<String>,
    at: u64,
}

/// The Alertmanager of one simulated cluster.
#[derive(Debug, Clone)]
pub struct Alertmanager {
    config: AmConfig,
    cluster: String,
    base: Timestamp,
    alerts: BTreeMap<usize, Alert>,
    groups: BTreeMap<String, Group>,
    log: BTreeMap<String, Notified>,
}

impl Alertmanager {
    /// An Alertmanager for `cluster` (the `cluster` label Prometheus adds); times are seconds
    /// after `base`.
    pub fn new(config: AmConfig, cluster: &str, base: Timestamp) -> Self {
        Self {
            config,
            cluster: cluster.to_owned(),
            base,
            alerts: BTreeMap::new(),
            groups: BTreeMap::new(),
            log: BTreeMap::new(),
        }
    }

    /// Receives alerts from Prometheus at `t`.
    pub fn receive(&mut self, t: u64, sent: Vec<Sent>) {
        for s in sent {
            let (name, action) = ALERTS[s.rule];
            let labels: BTreeMap<String, String> =
                [("alertname", name), ("action", action), ("cluster", &self.cluster)]
                    .into_iter()
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
                    .collect();
            let route = self.config.route_for(&labels);
            let group_labels: BTreeMap<String, String> =
                route.group_by.iter().filter_map(|k| labels.get(k).map(|v| (k.clone(), v.clone()))).collect();
            let key = group_key(&group_labels);
            if !self.groups.contains_key(&key) {
                if !s.firing {
                    continue; // a resolution for a group that no longer exists changes nothing
                }
                // An alert older than group_wait is flushed at once (Alertmanager's rule).
                let wait = if s.starts_at + route.timing.group_wait < t { 0 } else { route.timing.group_wait };
                let group = Group {
                    labels: group_labels,
                    timing: route.timing,
                    next_flush: t + wait,
                    members: BTreeSet::new(),
                };
                self.groups.insert(key.clone(), group);
            }
            let fingerprint = fingerprint(&labels);
            self.alerts.insert(
                s.rule,
                Alert { labels, annotations: s.annotations, starts_at: s.starts_at, ends_at: s.ends_at, fingerprint },
            );
            self.groups.get_mut(&key).expect("inserted").members.insert(s.rule);
        }
    }

    fn inhibited(&self, alert: &Alert) -> bool {
        self.config.inhibit.iter().any(|rule| {
            rule.target.iter().all(|m| m.matches(&alert.labels))
                && self.alerts.values().any(|src| {
                    src.firing()
                        && src.fingerprint != alert.fingerprint
                        && rule.source.iter().all(|m| m.matches(&src.labels))
                        && rule.equal.iter().all(|l| src.labels.get(l) == alert.labels.get(l))
                })
        })
    }

    /// The webhook payloads due at `t`, in group order.
    pub fn flush(&mut self, t: u64) -> Vec<String> {
        let due: Vec<String> = self.groups.iter().filter(|(_, g)| g.next_flush <= t).map(|(k, _)| k.clone()).collect();
        let mut out = Vec::new();
        for key in due {
            let group = self.groups[&key].clone();
            let alerts: Vec<&Alert> =
                group.members.iter().filter_map(|r| self.alerts.get(r)).filter(|a| !self.inhibited(a)).collect();
            let firing: BTreeSet<String> =
                alerts.iter().filter(|a| a.firing()).map(|a| a.fingerprint.clone()).collect();
            let resolved: BTreeSet<String> =
                alerts.iter().filter(|a| !a.firing()).map(|a| a.fingerprint.clone()).collect();
            if !alerts.is_empty() && self.needs_update(&key, &firing, &resolved, group.timing.repeat_interval, t) {
                let shown: Vec<&Alert> =
                    alerts.iter().copied().filter(|a| a.firing() || self.config.send_resolved).collect();
                out.push(self.payload(&key, &group.labels, &shown));
                self.log.insert(key.clone(), Notified { firing, resolved, at: t });
            }
            // Resolved alerts are dropped once flushed; an empty group goes away.
            let g = self.groups.get_mut(&key).expect("due group exists");
            g.next_flush = t + g.timing.group_interval;
            let gone: Vec<usize> =
                g.members.iter().copied().filter(|r| self.alerts.get(r).is_none_or(|a| !a.firing())).collect();
            for r in gone {
                g.members.remove(&r);
                self.alerts.remove(&r);
            }
            if g.members.is_empty() {
                self.groups.remove(&key);
            }
        }
        out
    }

    /// Alertmanager's deduplication: notify a new firing alert at once, a resolution when
    /// something that was notified firing has resolved, otherwise only after the repeat interval.
    /// The log entry is written a moment after the flush tick, so an unchanged group goes out
    /// again at the first tick strictly more than `repeat` after the last notification.
    fn needs_update(
        &self,
        key: &str,
        firing: &BTreeSet<String>,
        resolved: &BTreeSet<String>,
        repeat: u64,
        t: u64,
    ) -> bool {
        let Some(entry) = self.log.get(key) else { return !firing.is_empty() };
        if !firing.is_subset(&entry.firing) {
            return true;
        }
        if firing.is_empty() {
            return !entry.firing.is_empty();
        }
        if self.config.send_resolved && !resolved.is_subset(&entry.resolved) {
            return true;
        }
        entry.at + repeat < t
    }

    fn time(&self, t: u64) -> String {
        after(self.base, std::time::Duration::from_secs(t)).to_string()
    }

    fn payload(&self, key: &str, group_labels: &BTreeMap<String, String>, alerts: &[&Alert]) -> String {
        let rendered: Vec<Value> = alerts
            .iter()
            .map(|a| {
                let annotations: BTreeMap<&str, &str> = a.annotations.iter().map(|(k, v)| (*k, v.as_str())).collect();
                json!({
                    "status": if a.firing() { "firing" } else { "resolved" },
                    "labels": a.labels,
                    "annotations": annotations,
                    "startsAt": self.time(a.starts_at),
                    "endsAt": a.ends_at.map_or_else(|| "0001-01-01T00:00:00Z".to_owned(), |e| self.time(e)),
                    "generatorURL": "http://prometheus.monitoring:9090/graph",
                    "fingerprint": a.fingerprint,
                })
            })
            .collect();
        let common: BTreeMap<&String, &String> = alerts
            .first()
            .map(|f| f.labels.iter().filter(|(k, v)| alerts.iter().all(|a| a.labels.get(*k) == Some(*v))).collect())
            .unwrap_or_default();
        let status = if alerts.iter().any(|a| a.firing()) { "firing" } else { "resolved" };
        json!({
            "receiver": "autoscaler",
            "status": status,
            "alerts": rendered,
            "groupLabels": group_labels,
            "commonLabels": common,
            "commonAnnotations": {},
            "externalURL": "http://alertmanager.monitoring:9093",
            "version": "4",
            "groupKey": key,
            "truncatedAlerts": 0,
        })
        .to_string()
    }
}

fn group_key(labels: &BTreeMap<String, String>) -> String {
    let inner: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    format!("{{}}:{{{}}}", inner.join(", "))
}

/// Alertmanager's alert fingerprint: FNV-1a over the sorted label pairs.
fn fingerprint(labels: &BTreeMap<String, String>) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for (k, v) in labels {
        for b in k.bytes().chain([0xff]).chain(v.bytes()).chain([0xff]) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    format!("{h:016x}")
}
