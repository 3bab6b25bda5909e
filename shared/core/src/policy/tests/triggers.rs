//! Scale-up and scale-down triggers: thresholds, windows, sizing, bounds, cooldowns, back-off,
//! consolidation, operations in flight and stale readings.

use super::*;
use crate::{
    OperationKind, Phase,
    operation::Operation,
    testing::pending,
    time::{after, before},
};

#[test]
fn cpu_threshold_is_strictly_above_70_percent() {
    let cases = [(70.0, Action::None), (70.1, Action::ScaleUp), (69.9, Action::None), (95.0, Action::ScaleUp)];
    for (cpu, want) in cases {
        let d = decide(&at(5, cpu), &Policy::default(), now());
        assert_eq!(d.action, want, "cpu {cpu}: {:?}", d.reasons);
    }
}

#[test]
fn high_cpu_must_hold_for_its_window() {
    for (held, want) in [(59, Action::None), (60, Action::ScaleUp)] {
        let mut s = at(5, 80.0);
        s.state.cpu.high_since = Some(before(now(), secs(held)));
        assert_eq!(decide(&s, &Policy::default(), now()).action, want, "held {held}s");
    }
}

#[test]
fn pending_pods_trigger_at_exactly_180_seconds() {
    for (age, want) in [(179, Action::None), (180, Action::ScaleUp), (600, Action::ScaleUp)] {
        let mut s = at(3, 50.0);
        s.pods.push(pending("shop", "web-new", 500, before(now(), secs(age))));
        let d = decide(&s, &Policy::default(), now());
        assert_eq!(d.action, want, "pending {age}s: {:?}", d.reasons);
    }
}

#[test]
fn pending_pods_are_sized_by_their_requests() {
    // 3 workers with 1800m free each; 6 pods of 1500m: 3 fit, 3 need 3 new workers.
    let mut s = at(3, 50.0);
    for i in 0..6 {
        s.pods.push(pending("shop", &format!("big-{i}"), 1500, before(now(), secs(200))));
    }
    let d = decide(&s, &Policy::default(), now());
    assert_eq!((d.action, d.count), (Action::ScaleUp, 3), "{:?}", d.reasons);
}

#[test]
fn pods_larger_than_a_worker_never_trigger_growth_beyond_one() {
    let mut s = at(3, 50.0);
    s.pods.push(pending("shop", "huge", 64_000, before(now(), secs(300))));
    let d = decide(&s, &Policy::default(), now());
    // The trigger holds, but sizing adds nothing for a pod no worker could hold: the minimum step.
    assert_eq!((d.action, d.count), (Action::ScaleUp, 1), "{:?}", d.reasons);
}

#[test]
fn cpu_step_is_proportional_and_capped() {
    let cases = [
        // (workers, cpu, expected step): demand = cpu% × 2 cores × workers; target at 65%.
        (5, 75.0, 1),  // 7.5 cores → ceil(7.5/1.3)=6 → +1
        (5, 85.0, 2),  // 8.5 → 7 → +2
        (4, 89.0, 2),  // 7.12 → 6 → +2
        (2, 89.0, 1),  // 3.56 → 3 → +1
        (3, 100.0, 2), // 6 → 5 → +2, burst allows up to 6
        (5, 100.0, 3), // 10 → 8 → +3
    ];
    for (n, cpu, step) in cases {
        let d = decide(&at(n, cpu), &Policy::default(), now());
        assert_eq!((d.action, d.count), (Action::ScaleUp, step), "{n} workers at {cpu}%: {:?}", d.reasons);
    }
}

#[test]
fn flash_sale_doubles_the_step_above_90_percent() {
    let mut p = Policy::default();
    p.scale_up.max_step = 2;
    // 6 workers at 100% = 12 cores → 10 workers wanted → +4.
    assert_eq!(decide(&at(6, 89.9), &p, now()).count, 2);
    let d = decide(&at(6, 100.0), &p, now());
    assert_eq!((d.action, d.count), (Action::ScaleUp, 4), "{:?}", d.reasons);
}

#[test]
fn bounds_are_kept() {
    let p = Policy::default();
    let d = decide(&at(10, 99.0), &p, now());
    assert_eq!(d.action, Action::None);
    assert!(d.reasons.iter().any(|r| r.contains("already at max_workers (10)")), "{:?}", d.reasons);
    let d = decide(&at(9, 99.0), &p, now());
    assert_eq!((d.action, d.count), (Action::ScaleUp, 1));
    let d = decide(&at(2, 5.0), &p, now());
    assert_eq!(d.action, Action::None);
    assert!(d.reasons.iter().any(|r| r.contains("at min_workers (2)")), "{:?}", d.reasons);
    let d = decide(&at(1, 50.0), &p, now());
    assert_eq!((d.action, d.count), (Action::ScaleUp, 1), "{:?}", d.reasons);
    let d = decide(&at(0, 50.0), &p, now());
    assert_eq!((d.action, d.count), (Action::ScaleUp, 2), "{:?}", d.reasons);
    let d = decide(&at(12, 50.0), &p, now());
    assert_eq!((d.action, d.count), (Action::ScaleDown, 1), "{:?}", d.reasons);
}

#[test]
fn low_cpu_must_hold_for_ten_minutes() {
    for (held, want) in [(599, Action::None), (600, Action::ScaleDown)] {
        let mut s = at(5, 20.0);
        s.state.cpu.low_since = Some(before(now(), secs(held)));
        let d = decide(&s, &Policy::default(), now());
        assert_eq!(d.action, want, "held {held}s: {:?}", d.reasons);
    }
}

#[test]
fn scale_down_targets_the_utilisation_not_the_threshold() {
    // 5 workers at 25% = 2.5 cores: target ceil(2.5/1.3) = 2, so removal goes on toward 2.
    let d = decide(&at(5, 25.0), &Policy::default(), now());
    assert_eq!((d.action, d.count, d.target), (Action::ScaleDown, 1, 2), "{:?}", d.reasons);
}

#[test]
fn scale_down_continues_toward_target_while_cpu_rises_inside_the_band() {
    let mut s = at(4, 31.0); // LowCPU resolved, but 2.48 cores still need only 2 workers.
    s.state.cpu.low_since = None;
    assert_eq!(decide(&s, &Policy::default(), now()).action, Action::None);
    s.state.scale_down_target = Some(2);
    let d = decide(&s, &Policy::default(), now());
    assert_eq!((d.action, d.target), (Action::ScaleDown, 2), "{:?}", d.reasons);
}

#[test]
fn consolidation_removes_surplus_workers_after_its_window() {
    // 10 workers at 40% after a peak: 8 busy cores, inside the 30-70% band, need ceil(8/1.3) = 7.
    for (held, want) in [(1799, Action::None), (1800, Action::ScaleDown)] {
        let mut s = at(10, 40.0);
        s.state.cpu.low_since = None;
        s.state.cpu.surplus_since = Some(before(now(), secs(held)));
        let d = decide(&s, &Policy::default(), now());
        assert_eq!(d.action, want, "held {held}s: {:?}", d.reasons);
        if want == Action::ScaleDown {
            assert_eq!((d.count, d.target), (1, 7), "{:?}", d.reasons);
            assert!(d.reasons[0].starts_with("consolidating: one worker fewer would have run at or below 65%"));
        } else {
            assert_eq!(d.reasons, vec!["CPU 40.0%: one worker fewer would suffice, for 29m 59s of 30m: waiting"]);
        }
    }
}

#[test]
fn consolidation_keeps_a_fleet_the_demand_needs_and_can_be_turned_off() {
    // 7 workers at 57%: 7.98 cores need ceil(7.98/1.3) = 7 workers; a stale surplus window (the
    // alert has not resolved yet) does not remove one.
    let mut s = at(7, 57.0);
    s.state.cpu.low_since = None;
    s.state.cpu.surplus_since = Some(before(now(), secs(3600)));
    let d = decide(&s, &Policy::default(), now());
    assert_eq!(d.action, Action::None, "{:?}", d.reasons);
    assert!(d.reasons[1].contains("needs 7 workers at 65%: keeping 7"), "{:?}", d.reasons);

    let mut s = at(10, 40.0);
    s.state.cpu.low_since = None;
    s.state.cpu.surplus_since = Some(before(now(), secs(3600)));
    let mut off = Policy::default();
    off.scale_down.consolidation.enabled = false;
    let d = decide(&s, &off, now());
    assert_eq!(d.action, Action::None);
    assert_eq!(d.reasons, vec!["CPU 40.0% is within the band: nothing to do"]);
    assert_eq!(decide(&s, &Policy::default(), now()).action, Action::ScaleDown);
}

#[test]
fn nothing_is_removed_while_anything_is_pending() {
    let mut s = at(5, 10.0);
    s.pods.push(pending("shop", "web-x", 100, before(now(), secs(10))));
    let d = decide(&s, &Policy::default(), now());
    assert_eq!(d.action, Action::None);
    assert_eq!(d.reasons, vec!["scale-down blocked: 1 pods Pending".to_string()]);
}

#[test]
fn cooldown_edges() {
    let p = Policy::default();
    // Scale-up cooldown: 60 s after the last scale-up completed.
    for (ago, want) in [(59, Action::None), (60, Action::ScaleUp)] {
        let mut s = at(5, 90.0);
        s.state.last_scale_up_at = Some(before(now(), secs(ago)));
        assert_eq!(decide(&s, &p, now()).action, want, "scale-up {ago}s after the last");
    }
    // No scale-down within 10 minutes of a scale-up.
    for (ago, want) in [(599, Action::None), (600, Action::ScaleDown)] {
        let mut s = at(5, 10.0);
        s.state.last_scale_up_at = Some(before(now(), secs(ago)));
        assert_eq!(decide(&s, &p, now()).action, want, "scale-down {ago}s after a scale-up");
    }
    // 2-minute pause between removals.
    for (ago, want) in [(119, Action::None), (120, Action::ScaleDown)] {
        let mut s = at(5, 10.0);
        s.state.last_scale_down_at = Some(before(now(), secs(ago)));
        assert_eq!(decide(&s, &p, now()).action, want, "removal {ago}s after the last");
    }
}

#[test]
fn backoff_blocks_scale_up_until_it_expires() {
    let mut s = at(5, 90.0);
    s.state.backoff_until = Some(after(now(), secs(1)));
    let d = decide(&s, &Policy::default(), now());
    assert_eq!(d.action, Action::None);
    assert!(d.reasons.last().unwrap().contains("backing off"));
    s.state.backoff_until = Some(now());
    assert_eq!(decide(&s, &Policy::default(), now()).action, Action::ScaleUp);
}

#[test]
fn an_operation_in_flight_blocks_every_decision() {
    for cpu in [95.0, 10.0] {
        let mut s = at(5, cpu);
        s.state.operation = Some(Operation {
            id: "op-7".into(),
            kind: OperationKind::ScaleUp,
            phase: Phase::WaitingReady,
            started_at: now(),
            deadline: after(now(), secs(600)),
            launch_count: 1,
            instances: vec![],
            nodes: vec![],
            avoid: vec![],
            reasons: vec![],
            result: None,
        });
        let d = decide(&s, &Policy::default(), now());
        assert_eq!(d.action, Action::None);
        assert!(d.reasons[0].starts_with("operation op-7 (ScaleUp, WaitingReady) in flight"), "{:?}", d.reasons);
        s.state.operation.as_mut().unwrap().phase = Phase::Done;
        assert_ne!(decide(&s, &Policy::default(), now()).action, Action::None);
    }
}

#[test]
fn stale_cpu_readings_are_not_acted_on() {
    for cpu in [95.0, 10.0] {
        let mut s = at(5, cpu);
        s.state.cpu.observed_at = Some(before(now(), secs(601)));
        assert_eq!(decide(&s, &Policy::default(), now()).action, Action::None, "stale {cpu}%");
    }
}
