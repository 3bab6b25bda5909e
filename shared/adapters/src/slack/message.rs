//! One notification as one Slack Block Kit message: a header (what, which cluster), a section
//! (summary and the reasons with their numbers), a fields section (nodes, operation, duration,
//! config version) and a context line (operation stage, severity, time, Logs Insights link), plus
//! the `text` fallback Slack shows in push notifications. Pure; enforces Slack's size limits.

use autoscaler_core::{
    notification::{Notification, NotificationKind, Severity},
    time::human,
};
use serde_json::{Value, json};

use super::logs_link::LogsLocation;

/// Slack's limits (api.slack.com/reference/block-kit): blocks per message, characters of a header,
/// of a section's text, of a section field, of the top-level `text` we send.
pub const MAX_BLOCKS: usize = 50;
/// Characters of a header block's text.
pub const MAX_HEADER: usize = 150;
/// Characters of a section block's text (and of a context element).
pub const MAX_SECTION: usize = 3000;
/// Characters of one section field.
pub const MAX_FIELD: usize = 2000;
/// Nodes listed by name before the list says "and N more".
const MAX_NODES_LISTED: usize = 20;

/// The webhook payload for `n`.
pub fn render(n: &Notification, logs: Option<&LogsLocation>) -> Value {
    let header = truncate(&format!("{} {} · {}", emoji(n.kind), title(n.kind), n.cluster), MAX_HEADER);

    let mut body = format!("*{}*", escape(&n.summary));
    for reason in &n.reasons {
        body.push_str("\n• ");
        body.push_str(&escape(reason));
    }

    let mut fields = Vec::new();
    if !n.nodes.is_empty() {
        fields.push(field("Nodes", &nodes(&n.nodes)));
    }
    if let Some(op) = &n.operation_id {
        fields.push(field("Operation", &format!("`{}`", escape(op))));
    }
    if let Some(d) = n.duration {
        fields.push(field("Duration", &human(d)));
    }
    fields.push(field("Config", &format!("`{}`", escape(&n.config_version))));

    let mut context = Vec::new();
    if let Some(op) = &n.operation_id {
        context.push(format!("Operation `{}` · {}", escape(op), stage(n.kind)));
    }
    context.push(format!("{} · {}", severity(n.severity), n.at.strftime("%Y-%m-%d %H:%M:%S UTC")));
    if let Some(url) = logs.and_then(|l| l.link(n.cluster.as_str(), n.operation_id.as_deref(), n.at, n.duration)) {
        context.push(format!("<{url}|Logs Insights query>"));
    }

    let blocks = vec![
        json!({"type": "header", "text": {"type": "plain_text", "text": header, "emoji": true}}),
        json!({"type": "section", "text": {"type": "mrkdwn", "text": truncate(&body, MAX_SECTION)}}),
        json!({"type": "section", "fields": fields}),
        json!({"type": "context", "elements": context.iter()
            .map(|t| json!({"type": "mrkdwn", "text": truncate(t, MAX_SECTION)})).collect::<Vec<_>>()}),
    ];
    let op = n.operation_id.as_deref().map(|op| format!(" ({op})")).unwrap_or_default();
    let text = truncate(&format!("[{}] {}: {}{op}", n.cluster, title(n.kind), escape(&n.summary)), MAX_SECTION);
    json!({"text": text, "blocks": blocks})
}

/// What happened, in a few words.
pub fn title(kind: NotificationKind) -> &'static str {
    use NotificationKind::*;
    match kind {
        ScaleUpStarted => "Scale-up started",
        ScaleUpDone => "Scale-up done",
        DrainStarted => "Drain started",
        ScaleDownDone => "Scale-down done",
        DrainTimedOut => "Drain timed out",
        SpotInterruption => "Spot interruption",
        Rebalance => "Rebalance recommendation",
        LaunchFailed => "Launch failed",
        NodeNeverReady => "Node never became Ready",
        Aborted => "Operation aborted",
        InstanceLost => "Instance lost",
        Drift => "Drift found",
        PipelineSilent => "Alert pipeline silent",
        DryRun => "Dry run",
        ScaleDownHeld => "Scale-down held",
    }
}

fn emoji(kind: NotificationKind) -> &'static str {
    use NotificationKind::*;
    match kind {
        ScaleUpStarted => ":arrow_up:",
        DrainStarted => ":arrow_down:",
        ScaleUpDone | ScaleDownDone => ":white_check_mark:",
        DrainTimedOut => ":hourglass:",
        SpotInterruption => ":zap:",
        Rebalance => ":recycle:",
        LaunchFailed | NodeNeverReady => ":x:",
        Aborted | InstanceLost => ":warning:",
        Drift => ":mag:",
        PipelineSilent => ":rotating_light:",
        DryRun => ":test_tube:",
        ScaleDownHeld => ":no_entry_sign:",
    }
}

/// Where in its operation's life this message stands. Slack incoming webhooks cannot thread
/// replies (they return no message `ts`), so messages of one operation are tied together by the
/// operation id and this stage in their context line.
fn stage(kind: NotificationKind) -> &'static str {
    use NotificationKind::*;
    match kind {
        ScaleUpStarted | DrainStarted | SpotInterruption | Rebalance => "started",
        ScaleUpDone | ScaleDownDone => "finished",
        DrainTimedOut | LaunchFailed | NodeNeverReady => "failed",
        Aborted => "aborted",
        InstanceLost | Drift | PipelineSilent | DryRun | ScaleDownHeld => "update",
    }
}

fn severity(s: Severity) -> &'static str {
    match s {
        Severity::Info => "info",
        Severity::Warning => "*warning*",
        Severity::Error => "*error: an operator must act*",
    }
}

fn field(label: &str, value: &str) -> Value {
    json!({"type": "mrkdwn", "text": truncate(&format!("*{label}*\n{value}"), MAX_FIELD)})
}

fn nodes(names: &[String]) -> String {
    let listed: Vec<String> = names.iter().take(MAX_NODES_LISTED).map(|n| format!("`{}`", escape(n))).collect();
    let rest = names.len().saturating_sub(MAX_NODES_LISTED);
    let mut out = listed.join(", ");
    if rest > 0 {
        out.push_str(&format!(" and {rest} more"));
    }
    out
}

/// Slack's mrkdwn reserves `&`, `<` and `>` (`CPU < 30%` would start a link).
pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// `s` cut to at most `max` characters, ending in `…` when cut.
pub fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_counts_characters_and_marks_the_cut() {
        assert_eq!(truncate("abc", 3), "abc");
        assert_eq!(truncate("abcd", 3), "ab…");
        assert_eq!(truncate("→→→→", 2).chars().count(), 2);
    }

    #[test]
    fn mrkdwn_control_characters_are_escaped() {
        assert_eq!(escape("CPU 25% < 30% & <!channel>"), "CPU 25% &lt; 30% &amp; &lt;!channel&gt;");
    }

    #[test]
    fn long_node_lists_are_summarised() {
        let names: Vec<String> = (0..25).map(|i| format!("i-{i}")).collect();
        assert!(nodes(&names).ends_with("`i-19` and 5 more"));
    }
}
