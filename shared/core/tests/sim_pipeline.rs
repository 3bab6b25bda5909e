//! The simulated alert pipeline behaves like the shipped configuration says: Prometheus' rate
//! window and `for:` windows from the policy, Alertmanager's grouping, timing and inhibition
//! from `alertmanager/alertmanager.yml`, payloads the webhook's parser accepts, and SQS FIFO's
//! deduplication, ordering and redelivery.

use std::collections::BTreeMap;

use autoscaler_core::{
    ClusterId, Policy,
    memory::ManualClock,
    message::alertmanager as webhook,
    ports::{OutgoingMessage, Queue},
    rules,
    signal::{AlertStatus, Signal},
    sim::{
        alertmanager::Alertmanager,
        am_config::{AmConfig, Timing, duration, matcher},
        prometheus::{Prometheus, Rules, Sent},
        queue::{MAX_RECEIVE_COUNT, Receipt, SimQueue},
        workload::Usage,
    },
    testing,
    time::{Timestamp, after, elapsed},
};
use futures_executor::block_on;

fn base() -> Timestamp {
    "2026-06-01T00:00:00Z".parse().unwrap()
}

fn labels(name: &str, action: &str) -> BTreeMap<String, String> {
    [("alertname", name), ("action", action), ("cluster", "sim")]
        .iter()
        .map(|(k, v)| ((*k).into(), (*v).into()))
        .collect()
}

#[test]
fn the_shipped_alertmanager_timing_is_what_the_simulator_uses() {
    let c = AmConfig::shipped();
    let timing = |n, a| c.route_for(&labels(n, a)).timing;
    let t = |group_wait, group_interval, repeat_interval| Timing { group_wait, group_interval, repeat_interval };
    assert_eq!(timing("Watchdog", "heartbeat"), t(10, 30, 30));
    assert_eq!(timing("HighCPU", "scale_up"), t(10, 60, 60));
    assert_eq!(timing("PendingPods", "scale_up"), t(10, 60, 60));
    assert_eq!(timing("LowCPU", "scale_down"), t(10, 60, 240));
    assert_eq!(c.route.group_by, ["cluster", "alertname"]);
    assert!(c.send_resolved);
    assert_eq!(c.inhibit.len(), 1);
    let rule = &c.inhibit[0];
    assert!(rule.source.iter().all(|m| m.matches(&labels("HighCPU", "scale_up"))));
    assert!(rule.source.iter().all(|m| m.matches(&labels("PendingPods", "scale_up"))));
    assert!(!rule.source.iter().all(|m| m.matches(&labels("Watchdog", "heartbeat"))));
    assert!(rule.target.iter().all(|m| m.matches(&labels("LowCPU", "scale_down"))));
    assert_eq!(rule.equal, ["cluster"]);
}

#[test]
fn matchers_and_durations_follow_alertmanagers_notation() {
    assert_eq!(duration("10s").unwrap(), 10);
    assert_eq!(duration("1h30m").unwrap(), 5400);
    assert_eq!(duration("4m").unwrap(), 240);
    for bad in ["", "10", "1x", "m"] {
        assert!(duration(bad).is_err(), "{bad:?}");
    }
    let m = matcher(r#"alertname!="Watchdog""#).unwrap();
    assert!(m.matches(&labels("HighCPU", "scale_up")) && !m.matches(&labels("Watchdog", "heartbeat")));
    assert!(matcher(r#"alertname=~"High.*""#).is_err(), "real regular expressions are refused, not misread");
}

/// A Prometheus send of `rule` (index into `ALERTS`) at `starts_at`.
fn sent(rule: usize, starts_at: u64, cpu: f64) -> Sent {
    let annotations = vec![
        ("cpu_percent", format!("{cpu:.2}")),
        ("demand_cores", format!("{:.3}", cpu / 10.0)),
        ("summary", "s".into()),
    ];
    Sent { rule, firing: true, starts_at, ends_at: None, annotations }
}

/// Drives Alertmanager every 15 s from 0 to `until`, calling `feed` for the alerts Prometheus
/// sends at each instant, and returns when each payload left and what it was.
fn drive(until: u64, mut feed: impl FnMut(u64) -> Vec<Sent>) -> Vec<(u64, webhook::Payload)> {
    let mut am = Alertmanager::new(AmConfig::shipped(), "sim", base());
    let mut out = vec![];
    for t in (0..=until).step_by(15) {
        am.receive(t, feed(t));
        for body in am.flush(t) {
            out.push((t, webhook::parse(body.as_bytes()).expect("a valid v4 payload")));
        }
    }
    out
}

#[test]
fn the_watchdog_is_notified_every_minute_and_scale_up_alerts_every_two() {
    // Prometheus re-sends a firing alert when more than a minute has passed: every 75 s at 15 s.
    let resend = |rule: usize| move |t: u64| if t.is_multiple_of(75) { vec![sent(rule, 0, 50.0)] } else { vec![] };
    let times: Vec<u64> = drive(600, resend(4)).iter().map(|(t, _)| *t).collect();
    // group_wait 10 s (the first 15 s step), then every group_interval + repeat_interval.
    assert_eq!(times, [15, 75, 135, 195, 255, 315, 375, 435, 495, 555]);
    let times: Vec<u64> = drive(600, resend(0)).iter().map(|(t, _)| *t).collect();
    assert_eq!(times, [15, 135, 255, 375, 495]);
    // Scale-down alerts (LowCPU, Overprovisioned) take the default route: every 5 minutes.
    for rule in [2, 3] {
        let times: Vec<u64> = drive(900, resend(rule)).iter().map(|(t, _)| *t).collect();
        assert_eq!(times, [15, 315, 615], "rule {rule}");
    }
}

#[test]
fn payloads_carry_the_latest_values_and_become_the_webhooks_messages() {
    let feed = |t: u64| if t.is_multiple_of(75) { vec![sent(0, 0, 70.0 + t as f64 / 75.0)] } else { vec![] };
    let payloads = drive(300, feed);
    let cluster = ClusterId::new("sim").unwrap();
    let mut ids = vec![];
    for (t, p) in &payloads {
        assert_eq!((p.version.as_str(), p.status.as_str(), p.receiver.as_str()), ("4", "firing", "autoscaler"));
        let conv = webhook::convert(p, Some(&cluster), base()).unwrap();
        assert_eq!(conv.messages.len(), 1);
        let Signal::HighCpu { status, values, starts_at } = &conv.messages[0].signal else { panic!("{conv:?}") };
        assert_eq!((*status, *starts_at), (AlertStatus::Firing, base()));
        // The values of Prometheus' latest send before this notification.
        assert_eq!(values.cpu_percent, 70.0 + (*t / 75) as f64, "at {t}");
        ids.push(conv.messages[0].id.clone());
    }
    ids.dedup();
    assert_eq!(ids.len(), payloads.len(), "new values, new message ids");
}

#[test]
fn low_cpu_is_inhibited_while_high_cpu_fires_and_resolutions_are_sent() {
    let feed = |t: u64| match t {
        0 => vec![sent(2, 0, 20.0), sent(0, 0, 80.0)],
        90 => vec![Sent { rule: 0, firing: false, starts_at: 0, ends_at: Some(90), annotations: vec![] }],
        _ => vec![],
    };
    let payloads = drive(300, feed);
    let names: Vec<(u64, String, String)> =
        payloads.iter().map(|(t, p)| (*t, p.alerts[0].labels["alertname"].clone(), p.status.clone())).collect();
    assert_eq!(
        names,
        [
            (15, "HighCPU".into(), "firing".into()),
            // HighCPU resolved at 90: its group's next tick sends the resolution, and LowCPU,
            // muted until then, goes out at its own next tick.
            (135, "HighCPU".into(), "resolved".into()),
            (135, "LowCPU".into(), "firing".into()),
        ]
    );
}

fn usage(nodes: usize, busy: f64) -> Usage {
    Usage { nodes: (0..nodes).map(|i| (format!("i-{i}"), busy, 2000.0)).collect(), served_millis: 0.0 }
}

/// Runs Prometheus every 15 s with `load(t)` busy millicores per node (of 2000) and `pods`,
/// returning the instants at which each alert was sent firing.
fn alerts_over(until: u64, load: impl Fn(u64) -> f64, pods: &[autoscaler_core::Pod]) -> BTreeMap<usize, Vec<u64>> {
    let mut prom = Prometheus::new(Rules::from_policy(&Policy::default()));
    let mut out: BTreeMap<usize, Vec<u64>> = BTreeMap::new();
    for t in (0..=until).step_by(15) {
        prom.observe(&usage(3, load(t)));
        prom.scrape();
        let now = after(base(), std::time::Duration::from_secs(t));
        for s in prom.evaluate(t, pods, |p| p.pending_since.map(|s| elapsed(now, s).as_secs())) {
            if s.firing {
                out.entry(s.rule).or_default().push(t);
            }
        }
    }
    out
}

#[test]
fn cpu_alerts_fire_after_their_windows_from_the_policy() {
    // 80% from the start: the signal exists from 30 s (two scrapes, one interval of lag); HighCPU
    // is pending from then and fires one minute later, then is re-sent every 75 s.
    let fired = alerts_over(400, |_| 1600.0, &[]);
    assert_eq!(fired[&0], [90, 165, 240, 315, 390]);
    assert_eq!(fired[&4][0], 30, "the Watchdog fires as soon as the CPU signal exists");
    assert!(!fired.contains_key(&2));
    // 20%: LowCPU fires ten minutes after it became pending.
    let fired = alerts_over(700, |_| 400.0, &[]);
    assert_eq!(fired[&2][0], 630);
    // A step from 50% to 90% at 300 s: the 1-minute window crosses 70% after two intervals,
    // seen one interval later; then `for: 1m`.
    let fired = alerts_over(600, |t| if t >= 300 { 1800.0 } else { 1000.0 }, &[]);
    assert_eq!(fired[&0][0], 300 + 45 + 60);
}

#[test]
fn overprovisioned_fires_when_one_worker_fewer_would_run_at_the_target_for_its_window() {
    // 3 workers at 40%: 2.4 busy cores on 2 workers would be 60%, at or below the 65% target.
    // Pending from 30 s (the first CPU signal), firing 30 minutes later.
    let fired = alerts_over(2000, |_| 800.0, &[]);
    assert_eq!(fired[&3][0], 30 + 1800);
    assert!(!fired.contains_key(&2), "40% is inside the band: no LowCPU");
    // 45%: 2.7 cores would be 67.5% on 2 workers, above the target: never.
    assert!(!alerts_over(2000, |_| 900.0, &[]).contains_key(&3));
    // Something unschedulable: never.
    let pending = testing::pending("shop", "web-1", 200, base());
    assert!(!alerts_over(2000, |_| 800.0, &[pending]).contains_key(&3));
    // At min_workers (2 of 2), never: there is no worker to spare.
    let mut prom = Prometheus::new(Rules::from_policy(&Policy::default()));
    for t in (0..=2000).step_by(15) {
        prom.observe(&usage(2, 200.0));
        prom.scrape();
        assert!(prom.evaluate(t, &[], |_| None).iter().all(|s| s.rule != 3), "at {t}");
    }
}

#[test]
fn a_pod_unschedulable_for_three_minutes_fires_pending_pods_and_mutes_low_cpu() {
    let pending = testing::pending("shop", "web-1", 200, base());
    let fired = alerts_over(900, |_| 400.0, &[pending]);
    assert_eq!(fired[&1][0], 180);
    assert!(!fired.contains_key(&2), "LowCPU needs nothing unschedulable");
    let rules = Rules::from_policy(&Policy::default());
    assert_eq!(
        (rules.up_cpu, rules.up_for, rules.pending_for, rules.down_cpu, rules.down_for),
        (70.0, 60, 180, 30.0, 600)
    );
}

#[test]
fn the_simulated_rules_use_the_numbers_of_the_rendered_rule_file() {
    let mut policy = Policy::default();
    policy.scale_up.cpu_percent = 75.0;
    policy.scale_up.cpu_for = std::time::Duration::from_secs(120);
    policy.scale_down.cpu_for = std::time::Duration::from_secs(900);
    let text = rules::render(&policy);
    let r = Rules::from_policy(&policy);
    assert!(
        text.contains(&format!(
            "cluster:worker_cpu_utilisation:percent > {}\n        for: {}",
            r.up_cpu,
            rules::prom_duration(std::time::Duration::from_secs(r.up_for))
        )),
        "{text}"
    );
    assert!(text.contains(&format!("for: {}", rules::prom_duration(std::time::Duration::from_secs(r.down_for)))));
    assert!(text.contains(&format!("age_seconds >= {})", r.pending_for)));
    assert!(text.contains(&format!(
        "[{}]",
        rules::prom_duration(std::time::Duration::from_secs(r.eval * u64::from(r.window_intervals)))
    )));
}

fn message(id: &str) -> OutgoingMessage {
    OutgoingMessage { group_id: "sim".into(), dedup_id: id.into(), body: id.into() }
}

#[test]
fn the_fifo_queue_deduplicates_for_five_minutes_and_keeps_order_through_failures() {
    let clock = ManualClock::at(base());
    let q = SimQueue::new(clock.clone());
    block_on(q.send(&[message("a"), message("b"), message("a")])).unwrap();
    assert_eq!((q.len(), q.stats().deduplicated), (2, 1));
    // The first delivery of "a" fails: it blocks "b" for the visibility timeout.
    let mut seen = vec![];
    q.deliver(|b| {
        seen.push(b.to_owned());
        Receipt::Failed
    });
    assert_eq!(seen, ["a"]);
    clock.advance(std::time::Duration::from_secs(359));
    q.deliver(|b| {
        seen.push(b.to_owned());
        Receipt::Done
    });
    assert_eq!(seen, ["a"], "still invisible");
    clock.advance(std::time::Duration::from_secs(1));
    q.deliver(|b| {
        seen.push(b.to_owned());
        Receipt::Done
    });
    assert_eq!(seen, ["a", "a", "b"]);
    // Five minutes after its first send, the same id is new again.
    block_on(q.send(&[message("a")])).unwrap();
    assert_eq!(q.len(), 1);
    // A message that always fails goes to the dead-letter queue after maxReceiveCount receives.
    for _ in 0..MAX_RECEIVE_COUNT {
        q.deliver(|_| Receipt::Failed);
        clock.advance(std::time::Duration::from_secs(360));
    }
    assert_eq!((q.len(), q.stats().dead_lettered), (0, 1));
}
