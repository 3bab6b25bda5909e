//! Links to a CloudWatch Logs Insights query over the services' log groups, for one operation (or,
//! without one, for the cluster around the event's time). Pure.
//!
//! The console has no documented deep-link format; this is the one it writes itself:
//! `https://<region>.console.aws.amazon.com/cloudwatch/home?region=<region>#logsV2:logs-insights`
//! followed by `?queryDetail=<detail>`, URL-encoded with `%` written as `$`. `<detail>` is the
//! object `~(key~value~…)` where strings are `'` + the value with every byte other than
//! `[A-Za-z0-9-._]` written `*xx`, numbers and booleans are bare, and arrays are `~(~item~item)`;
//! the structural characters `~ ' ( )` are then escaped once more (`%7E` …), which the outer
//! encoding turns into `$257E` … . If the console changes the format, the link opens an empty query
//! page; the notification itself is unaffected.

use std::{fmt::Write, time::Duration};

use autoscaler_core::time::{Timestamp, after, before};

/// Where the services log: the region and the log groups to query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogsLocation {
    /// AWS region of the log groups.
    pub region: String,
    /// Log group names (`/aws/lambda/<function>`).
    pub log_groups: Vec<String>,
}

/// How far before the event (beyond the operation's duration) and after it the query looks.
const LEAD: Duration = Duration::from_secs(5 * 60);
const TRAIL: Duration = Duration::from_secs(30 * 60);

impl LogsLocation {
    /// A Logs Insights link for the operation's log lines, or for the cluster's around `at`.
    /// `None` when no log group is configured.
    pub fn link(
        &self,
        cluster: &str,
        operation: Option<&str>,
        at: Timestamp,
        duration: Option<Duration>,
    ) -> Option<String> {
        if self.log_groups.is_empty() || self.region.is_empty() {
            return None;
        }
        let needle = operation.unwrap_or(cluster);
        let query = format!(
            "fields @timestamp, @log, @message\n| filter @message like \"{needle}\"\n| sort @timestamp asc\n| limit 1000"
        );
        let start = before(at, duration.unwrap_or_default() + LEAD);
        let end = after(at, TRAIL);
        Some(self.url(&query, start, end))
    }

    fn url(&self, query: &str, start: Timestamp, end: Timestamp) -> String {
        let iso = |t: Timestamp| t.strftime("%Y-%m-%dT%H:%M:%S.000Z").to_string();
        let mut sources = String::from("~(");
        for group in &self.log_groups {
            write!(sources, "~'{}", primitive(group)).ok();
        }
        sources.push(')');
        let detail = format!(
            "~(end~'{}~start~'{}~timeType~'ABSOLUTE~tz~'UTC~editorString~'{}~isLiveTail~false~source{})",
            primitive(&iso(end)),
            primitive(&iso(start)),
            primitive(query),
            sources
        );
        let fragment = outer(&format!("?queryDetail={}", structural(&detail)));
        let region = &self.region;
        format!(
            "https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}#logsV2:logs-insights{fragment}"
        )
    }
}

/// A primitive value: every byte outside `[A-Za-z0-9-._]` as `*xx`.
fn primitive(value: &str) -> String {
    let mut out = String::with_capacity(value.len() * 2);
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_') {
            out.push(char::from(b));
        } else {
            write!(out, "*{b:02x}").ok();
        }
    }
    out
}

/// The console's inner escape of the object's structure (`~ ' ( )` → `%7E %27 %28 %29`).
fn structural(detail: &str) -> String {
    let mut out = String::with_capacity(detail.len() * 2);
    for c in detail.chars() {
        if matches!(c, '~' | '\'' | '(' | ')') {
            write!(out, "%{:02X}", u32::from(c)).ok();
        } else {
            out.push(c);
        }
    }
    out
}

/// `encodeURIComponent` with `%` written as `$`.
fn outer(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 2);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.!~*'()".contains(&b) {
            out.push(char::from(b));
        } else {
            write!(out, "${b:02X}").ok();
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn location() -> LogsLocation {
        LogsLocation { region: "eu-west-1".into(), log_groups: vec!["/aws/lambda/prod-scaler".into()] }
    }

    #[test]
    fn the_link_opens_logs_insights_on_the_operation_in_its_region() {
        let at: Timestamp = "2026-01-01T10:00:00Z".parse().expect("valid");
        let url = location().link("prod", Some("op-42"), at, Some(Duration::from_secs(60))).expect("configured");
        assert!(url.starts_with(
            "https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1#logsV2:logs-insights$3FqueryDetail$3D$257E$2528"
        ));
        // The query filters on the operation id; the window starts 6 minutes before the event.
        assert!(url.contains("filter*20*40message*20like*20*22op-42*22"), "{url}");
        assert!(url.contains("start$257E$25272026-01-01T09*3a54*3a00.000Z"), "{url}");
        assert!(url.contains("source$257E$2528$257E$2527*2faws*2flambda*2fprod-scaler$2529"), "{url}");
        assert!(!url.contains(' ') && !url.contains('"') && !url.contains('\n'));
    }

    #[test]
    fn no_link_without_log_groups() {
        let none = LogsLocation { region: "eu-west-1".into(), log_groups: vec![] };
        assert_eq!(none.link("prod", None, Timestamp::UNIX_EPOCH, None), None);
    }
}
