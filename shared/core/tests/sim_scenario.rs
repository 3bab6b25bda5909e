//! Scenario files: the shipped ones parse and say what they should; every kind of mistake is
//! refused with the path of the field at fault.

use std::time::Duration;

use autoscaler_core::sim::{
    Scenario,
    scenario::{DEFAULT, SHIPPED},
};

const MINIMAL: &str = r#"
name: minimal
duration: 2h
initial_workers: 3
demand:
  points: [{ at: "00:00", cores: 1.5 }]
"#;

#[test]
fn every_shipped_scenario_parses_and_the_default_is_business_day() {
    let names: Vec<&str> = SHIPPED.iter().map(|(n, _)| *n).collect();
    assert_eq!(names, ["business-day", "flash-sale", "spot-storm", "capacity-outage", "quiet-weekend"]);
    for (name, text) in SHIPPED {
        let s = Scenario::from_yaml(text).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(s.name, name, "the file's name field matches its shipped name");
        assert!(!s.description.is_empty(), "{name} has a description");
    }
    assert_eq!(DEFAULT, "business-day");
    assert!(Scenario::shipped("no-such-scenario").is_none());
}

#[test]
fn business_day_is_the_challenges_traffic_pattern() {
    let s = Scenario::shipped("business-day").unwrap();
    assert_eq!((s.duration, s.step, s.initial_workers), (Duration::from_secs(86_400), Duration::from_secs(15), 5));
    let capacity = f64::from(s.initial_workers) * 2.0;
    let share = |at: &str| {
        let secs = at.parse::<autoscaler_core::sim::daytime::TimeOfDay>().unwrap().seconds();
        autoscaler_core::sim::demand::curve_millis(&s.demand.points, secs) / 1000.0 / capacity
    };
    for at in ["00:00", "03:00", "06:00"] {
        assert!((0.2..=0.3).contains(&share(at)), "off-peak {at}: {:.0}% of five workers", share(at) * 100.0);
    }
    for at in ["10:00", "13:00", "17:00", "20:00"] {
        assert!((0.7..=0.8).contains(&share(at)), "peak {at}: {:.0}% of five workers", share(at) * 100.0);
    }
    assert_eq!(s.flash_sales.len(), 1);
    assert_eq!(s.flash_sales[0].at.to_string(), "14:00");
}

#[test]
fn absent_fields_take_their_defaults() {
    let s = Scenario::from_yaml(MINIMAL).unwrap();
    assert_eq!(s.step, Duration::from_secs(15));
    assert_eq!((s.seed, s.boot_seconds, s.start.seconds()), (0, 90, 0));
    assert_eq!(s.demand.noise, 0.0);
    assert_eq!(s.pod.cpu_request_millis, 200);
    assert_eq!(s.prices.on_demand_per_hour, 0.0208);
    assert_eq!(s.policy, autoscaler_core::Policy::default());
}

#[test]
fn policy_overrides_are_partial() {
    let text = format!("{MINIMAL}policy:\n  max_workers: 6\n  scale_up: {{ max_step: 2 }}\n");
    let s = Scenario::from_yaml(&text).unwrap();
    assert_eq!((s.policy.max_workers, s.policy.scale_up.max_step), (6, 2));
    assert_eq!(s.policy.min_workers, 2);
    assert_eq!(s.policy.scale_up.cpu_percent, 70.0);
}

/// The minimal scenario with `extra` appended.
fn with(extra: &str) -> String {
    format!("{MINIMAL}{extra}\n")
}

#[test]
fn mistakes_are_refused_naming_the_field() {
    let cases: Vec<(String, &str, &str)> = vec![
        (with("nmae: typo"), "nmae", "unknown field `nmae`"),
        (MINIMAL.replace("duration: 2h", "duration: soon"), "duration", ""),
        (MINIMAL.replace("duration: 2h", "duration: 30s"), "duration", "between 1m and 366days"),
        (MINIMAL.replace("initial_workers: 3", "initial_workers: 0"), "initial_workers", "between 1 and 1000"),
        (MINIMAL.replace("initial_workers: 3\n", ""), ".", "missing field `initial_workers`"),
        (with("step: 7s"), "step", "dividing both one minute"),
        (with("start: \"25:00\""), "start", "is not a time of day"),
        (MINIMAL.replace("\"00:00\"", "\"7am\""), "demand.points[0].at", "is not a time of day"),
        (MINIMAL.replace("cores: 1.5", "cores: -1"), "demand.points[0].cores", "must be a number >= 0"),
        (
            MINIMAL.replace(
                "[{ at: \"00:00\", cores: 1.5 }]",
                "[{ at: \"00:00\", cores: 1 }, { at: \"00:00\", cores: 2 }]",
            ),
            "demand.points[1].at",
            "also the time of points[0]",
        ),
        (MINIMAL.replace("demand:\n", "demand:\n  noise: 80\n"), "demand.noise", "between 0 and 50"),
        (MINIMAL.replace("cores: 1.5 }]", "cores: 1.5, load: 2 }]"), "demand.points[0].load", "unknown field `load`"),
        (
            with("flash_sales: [{ at: \"14:00\", duration: 30m, multiplier: 0 }]"),
            "flash_sales[0].multiplier",
            "(0, 100]",
        ),
        (with("flash_sales: [{ at: \"14:00\", multiplier: 2 }]"), "flash_sales[0]", "missing field `duration`"),
        (with("spot_interruptions: [{ at: \"10:00\", count: 0 }]"), "spot_interruptions[0].count", "at least 1"),
        (with("spot_interruptions: [{ at: \"10:00\", count: 1, day: 0 }]"), "spot_interruptions[0].day", "from 1"),
        (
            with("capacity_errors: [{ from: \"08:00\", to: \"09:00\", zone: us-west-2a }]"),
            "capacity_errors[0].zone",
            "not a zone of the simulated cluster",
        ),
        (with("capacity_errors: [{ from: \"08:00\", to: \"08:00\" }]"), "capacity_errors[0].to", "must differ"),
        (with("pod: { target_utilization: 0.7 }"), "pod.target_utilization", "70, not 0.7"),
        (with("pod: { cpu_request_millis: 5000 }"), "pod.cpu_request_millis", "one worker's CPU"),
        (with("pod: { min_replicas: 5, max_replicas: 4 }"), "pod.max_replicas", "between min_replicas"),
        (with("prices: { spot_per_hour: -0.01 }"), "prices.spot_per_hour", ">= 0"),
        (
            with("policy: { scale_up: { cpu_precent: 80 } }"),
            "policy.scale_up.cpu_precent",
            "unknown field `cpu_precent`",
        ),
        (with("policy: { min_workers: 4, max_workers: 3 }"), "policy", "max_workers (3) must be >= min_workers (4)"),
        ("[1, 2]".to_owned(), ".", "invalid type"),
    ];
    for (text, field, message) in cases {
        let err = Scenario::from_yaml(&text).expect_err(&text);
        assert_eq!(err.field, field, "{text}\n→ {err}");
        assert!(err.message.contains(message), "{text}\n→ {err} (want {message:?})");
        assert!(err.to_string().starts_with(&format!("scenario: {field}: ")), "{err}");
    }
}
