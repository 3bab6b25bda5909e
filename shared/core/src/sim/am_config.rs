//! The parts of `alertmanager/alertmanager.yml` that decide when the webhook hears what: the
//! routing tree (matchers, `group_by`, `group_wait`, `group_interval`, `repeat_interval`), the
//! inhibition rules and `send_resolved`. The simulator reads the shipped file itself (embedded
//! at build time), so a change of its timing changes the simulation. Pure.

use std::collections::BTreeMap;

use serde::Deserialize;

/// The shipped Alertmanager configuration.
pub const SHIPPED: &str = include_str!("../../../../alertmanager/alertmanager.yml");

/// A label matcher (`alertname="Watchdog"`, `alertname=~"HighCPU|PendingPods"`). Regular
/// expressions are limited to alternations of literal names, which is all the shipped file uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matcher {
    /// The label.
    pub label: String,
    /// `!=` or `!~` rather than `=` or `=~`.
    pub negated: bool,
    /// The values that match (one for `=`, the alternatives for `=~`).
    pub values: Vec<String>,
}

impl Matcher {
    /// Whether `labels` satisfy the matcher (an absent label is the empty string).
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        let v = labels.get(&self.label).map_or("", String::as_str);
        self.values.iter().any(|x| x == v) != self.negated
    }
}

/// Notification timing of one route, seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// Before the first notification of a new group.
    pub group_wait: u64,
    /// Between two looks at a group.
    pub group_interval: u64,
    /// Before an unchanged group is sent again.
    pub repeat_interval: u64,
}

/// A route, with every inherited setting resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    /// What it matches (all must hold).
    pub matchers: Vec<Matcher>,
    /// The labels that make a group.
    pub group_by: Vec<String>,
    /// Its timing.
    pub timing: Timing,
    /// Child routes, tried in order.
    pub routes: Vec<Route>,
    /// Keep looking at later siblings after a match.
    pub continue_matching: bool,
}

/// An inhibition rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Inhibit {
    /// Alerts that mute …
    pub source: Vec<Matcher>,
    /// … these alerts …
    pub target: Vec<Matcher>,
    /// … when these labels are equal.
    pub equal: Vec<String>,
}

/// The configuration the simulator uses.
#[derive(Debug, Clone, PartialEq)]
pub struct AmConfig {
    /// The root route.
    pub route: Route,
    /// Inhibition rules.
    pub inhibit: Vec<Inhibit>,
    /// The webhook receiver sends resolutions.
    pub send_resolved: bool,
}

#[derive(Debug, Deserialize)]
struct File {
    route: FileRoute,
    #[serde(default)]
    inhibit_rules: Vec<FileInhibit>,
    #[serde(default)]
    receivers: Vec<FileReceiver>,
}

#[derive(Debug, Deserialize)]
struct FileRoute {
    group_by: Option<Vec<String>>,
    group_wait: Option<String>,
    group_interval: Option<String>,
    repeat_interval: Option<String>,
    #[serde(default)]
    matchers: Vec<String>,
    #[serde(default)]
    routes: Vec<FileRoute>,
    #[serde(default, rename = "continue")]
    continue_matching: bool,
}

#[derive(Debug, Deserialize)]
struct FileInhibit {
    #[serde(default)]
    source_matchers: Vec<String>,
    #[serde(default)]
    target_matchers: Vec<String>,
    #[serde(default)]
    equal: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct FileReceiver {
    #[serde(default)]
    webhook_configs: Vec<FileWebhook>,
}

#[derive(Debug, Deserialize)]
struct FileWebhook {
    send_resolved: Option<bool>,
}

/// Why the configuration cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("alertmanager.yml: {0}")]
pub struct AmConfigError(pub String);

impl AmConfig {
    /// The shipped file's configuration. It is embedded and checked by a test, so failing here
    /// is a build defect.
    pub fn shipped() -> Self {
        Self::from_yaml(SHIPPED).expect("the shipped alertmanager.yml is understood (tested)")
    }

    /// Parses an Alertmanager configuration.
    pub fn from_yaml(text: &str) -> Result<Self, AmConfigError> {
        let file: File = serde_norway::from_str(text).map_err(|e| AmConfigError(e.to_string()))?;
        // Alertmanager's defaults for a root route that does not set them.
        let defaults = Timing { group_wait: 30, group_interval: 300, repeat_interval: 4 * 3600 };
        let route = resolve(&file.route, &[], defaults)?;
        let inhibit = file
            .inhibit_rules
            .iter()
            .map(|r| {
                Ok(Inhibit {
                    source: matchers(&r.source_matchers)?,
                    target: matchers(&r.target_matchers)?,
                    equal: r.equal.clone(),
                })
            })
            .collect::<Result<_, AmConfigError>>()?;
        let send_resolved = file
            .receivers
            .iter()
            .flat_map(|r| &r.webhook_configs)
            .next()
            .is_none_or(|w| w.send_resolved.unwrap_or(true));
        Ok(Self { route, inhibit, send_resolved })
    }

    /// The route an alert with `labels` takes (the deepest matching one).
    pub fn route_for(&self, labels: &BTreeMap<String, String>) -> &Route {
        find(&self.route, labels)
    }
}

fn find<'r>(route: &'r Route, labels: &BTreeMap<String, String>) -> &'r Route {
    // The first matching child wins; the simulator sends each alert to one receiver, so a
    // `continue` child only matters when it is the first match.
    route.routes.iter().find(|c| c.matchers.iter().all(|m| m.matches(labels))).map_or(route, |c| find(c, labels))
}

fn resolve(r: &FileRoute, parent_group_by: &[String], parent: Timing) -> Result<Route, AmConfigError> {
    let d = |v: &Option<String>, inherited: u64| v.as_deref().map_or(Ok(inherited), duration);
    let timing = Timing {
        group_wait: d(&r.group_wait, parent.group_wait)?,
        group_interval: d(&r.group_interval, parent.group_interval)?,
        repeat_interval: d(&r.repeat_interval, parent.repeat_interval)?,
    };
    let group_by = r.group_by.clone().unwrap_or_else(|| parent_group_by.to_vec());
    let routes = r.routes.iter().map(|c| resolve(c, &group_by, timing)).collect::<Result<_, _>>()?;
    Ok(Route { matchers: matchers(&r.matchers)?, group_by, timing, routes, continue_matching: r.continue_matching })
}

fn matchers(texts: &[String]) -> Result<Vec<Matcher>, AmConfigError> {
    texts.iter().map(|t| matcher(t)).collect()
}

/// Parses `label="value"`, `label!="value"`, `label=~"a|b"`, `label!~"a|b"`.
pub fn matcher(text: &str) -> Result<Matcher, AmConfigError> {
    let bad = |why: &str| AmConfigError(format!("matcher {text:?}: {why}"));
    let at = text.find(['=', '!']).ok_or_else(|| bad("no operator"))?;
    let (label, rest) = text.split_at(at);
    let (op, value) = ["!~", "=~", "!=", "="]
        .iter()
        .find_map(|op| rest.strip_prefix(op).map(|v| (*op, v)))
        .ok_or_else(|| bad("unknown operator"))?;
    let value = value.trim();
    let value = value.strip_prefix('"').and_then(|v| v.strip_suffix('"')).unwrap_or(value);
    let regex = op.ends_with('~');
    let values: Vec<String> =
        if regex { value.split('|').map(str::to_owned).collect() } else { vec![value.to_owned()] };
    if regex && values.iter().any(|v| v.is_empty() || !v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')) {
        return Err(bad("only alternations of literal names are supported in regular expressions"));
    }
    Ok(Matcher { label: label.trim().to_owned(), negated: op.starts_with('!'), values })
}

/// A duration in Prometheus' notation (`10s`, `1m`, `1h30m`), whole seconds.
pub fn duration(text: &str) -> Result<u64, AmConfigError> {
    let bad = || AmConfigError(format!("{text:?} is not a duration"));
    let (mut total, mut number, mut any) = (0u64, String::new(), false);
    let mut chars = text.trim().chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let unit = if c == 'm' && chars.peek() == Some(&'s') {
            chars.next();
            "ms"
        } else {
            match c {
                's' => "s",
                'm' => "m",
                'h' => "h",
                'd' => "d",
                'w' => "w",
                'y' => "y",
                _ => return Err(bad()),
            }
        };
        let n: u64 = number.parse().map_err(|_| bad())?;
        number.clear();
        any = true;
        total += match unit {
            "ms" => n / 1000,
            "s" => n,
            "m" => n * 60,
            "h" => n * 3600,
            "d" => n * 86_400,
            "w" => n * 7 * 86_400,
            _ => n * 365 * 86_400,
        };
    }
    if any && number.is_empty() { Ok(total) } else { Err(bad()) }
}
