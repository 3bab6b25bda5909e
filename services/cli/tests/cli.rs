//! The `k3s-autoscaler` binary as a user runs it: `decide` on the example snapshots, `config
//! check`, `render-rules`, and `explain-message` on every EventBridge fixture (the scaler's own
//! parser), with the documented exit codes (0 ok, 2 bad input).

use std::{path::PathBuf, process::Command};

use serde_json::Value;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_k3s-autoscaler")).args(args).current_dir(repo()).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

#[test]
fn decide_prints_the_decision_with_reasons_for_each_example_snapshot() {
    let cases = [
        ("tests/fixtures/snapshots/high-cpu.json", "scale_up", 2),
        ("tests/fixtures/snapshots/night-low-cpu.json", "scale_down", 1),
        ("tests/fixtures/snapshots/night-pdb-blocked.json", "none", 0),
    ];
    for (file, action, count) in cases {
        let (code, out, err) = run(&["decide", "--snapshot", file]);
        assert_eq!(code, 0, "{file}: {err}");
        let d: Value = serde_json::from_str(&out).unwrap();
        assert_eq!((d["action"].as_str().unwrap(), d["count"].as_u64().unwrap()), (action, count), "{file}: {out}");
        assert!(!d["reasons"].as_array().unwrap().is_empty());
    }
    let (_, out, _) = run(&["decide", "--snapshot", "tests/fixtures/snapshots/night-pdb-blocked.json"]);
    assert!(
        out.contains(
            "scale-down blocked: node i-0a1b2c3d4e5f60001 runs shop/web-00 (PDB shop/web allows 0 disruptions)"
        ),
        "{out}"
    );
}

#[test]
fn bad_snapshots_and_policies_exit_2_naming_the_field() {
    let (code, _, err) = run(&["decide", "--snapshot", "tests/fixtures/snapshots/invalid-zone-type.json"]);
    assert_eq!(code, 2);
    assert!(err.contains("snapshot: nodes[2].zone: invalid type"), "{err}");
    let (code, _, err) = run(&["decide", "--snapshot", "does/not/exist.json"]);
    assert_eq!(code, 2, "{err}");
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, "max_workers: 1\n").unwrap();
    let (code, _, err) = run(&["config", "check", bad.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("max_workers (1) must be >= min_workers (2)"), "{err}");
    let (code, out, _) = run(&["config", "check", "infra/policy.yaml"]);
    assert_eq!(code, 0);
    assert!(out.contains("valid (policy version"), "{out}");
}

#[test]
fn render_rules_for_the_shipped_policy_is_the_committed_rule_file() {
    let (code, out, err) = run(&["render-rules", "--config", "infra/policy.yaml"]);
    assert_eq!(code, 0, "{err}");
    let committed = std::fs::read_to_string(repo().join("alertmanager/rules/autoscaler.rules.yml")).unwrap();
    assert_eq!(
        out, committed,
        "re-render with: k3s-autoscaler render-rules --output alertmanager/rules/autoscaler.rules.yml"
    );
}

#[test]
fn explain_message_reads_every_eventbridge_fixture_like_the_scaler() {
    let cases = [
        ("spot-interruption.json", true, "i-1234567890abcdef0"),
        ("rebalance.json", true, "i-1234567890abcdef0"),
        ("state-change-terminated.json", true, "i-1234567890abcdef0"),
        ("state-change-running-no-account.json", true, "i-0fedcba9876543210"),
        ("health-scheduled-change.json", true, "i-1234567890abcdef0"),
        ("health-issue-not-scheduled.json", false, ""),
    ];
    let dir = repo().join("tests/fixtures/eventbridge");
    let listed = std::fs::read_dir(&dir).unwrap().filter(|e| e.as_ref().unwrap().path().is_file()).count();
    assert_eq!(listed, cases.len(), "every fixture has a case");
    for (file, actionable, instance) in cases {
        let path = dir.join(file);
        let (code, out, err) = run(&["explain-message", "--cluster", "prod", path.to_str().unwrap()]);
        assert_eq!(code, 0, "{file}: {err}");
        let e: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(e["kind"], "ec2_event", "{file}");
        assert_eq!(e["cluster"], "prod");
        assert_eq!(e["actionable"], actionable, "{file}: {out}");
        assert!(e["dedup_id"].as_str().unwrap().starts_with("eb-"), "{file}");
        if actionable {
            assert_eq!(e["instance_id"], instance, "{file}");
        }
    }
    for broken in std::fs::read_dir(dir.join("broken")).unwrap() {
        let path = broken.unwrap().path();
        let (code, _, err) = run(&["explain-message", path.to_str().unwrap()]);
        assert_eq!(code, 2, "{}: {err}", path.display());
        assert!(err.contains("error:"), "{err}");
    }
    // Also from standard input, and for the webhook's own envelopes.
    let fixture = repo().join("tests/fixtures/alertmanager/highcpu-firing.json");
    assert!(fixture.is_file());
    let (code, _, err) = run(&["explain-message", "-"]);
    assert_eq!(code, 2, "empty stdin is not a message: {err}");
}

#[test]
fn a_reader_that_stops_early_is_not_a_failure() {
    // `k3s-autoscaler config show | head -1`: the pipe is closed before (or while) the command
    // writes. It must neither panic nor fail.
    let mut child = Command::new(env!("CARGO_BIN_EXE_k3s-autoscaler"))
        .args(["config", "show"])
        .current_dir(repo())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn a_prometheus_export_becomes_a_scenario_that_simulate_runs() {
    // A real answer of Prometheus 2 (Debian's) to /api/v1/query_range: one series of busy cores.
    let fixture = "tests/fixtures/prometheus/query-range.json";
    let (code, yaml, err) = run(&[
        "scenario",
        "from-prometheus",
        fixture,
        "--name",
        "captured",
        "--resolution",
        "1m",
        "--initial-workers",
        "3",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(yaml.contains("name: captured\n") && yaml.contains("initial_workers: 3\n"), "{yaml}");
    assert!(yaml.contains("Imported from query-range.json: the mean of 13 samples"), "{yaml}");
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("captured.yaml");
    std::fs::write(&scenario, &yaml).unwrap();
    let json = dir.path().join("report.json");
    let (code, table, err) =
        run(&["simulate", "--scenario", scenario.to_str().unwrap(), "--json", json.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(table.contains("scenario captured"), "{table}");
    let report: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(report["results"]["fixed"]["min_workers"], 3);
}

#[test]
fn an_export_that_cannot_be_a_demand_curve_is_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let instant = dir.path().join("instant.json");
    std::fs::write(&instant, r#"{"status":"success","data":{"resultType":"vector","result":[]}}"#).unwrap();
    let (code, _, err) = run(&["scenario", "from-prometheus", instant.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("instant.json: resultType is \"vector\", not \"matrix\": export with /api/v1/query_range"),
        "{err}"
    );
    let (code, _, err) =
        run(&["scenario", "from-prometheus", "tests/fixtures/prometheus/query-range.json", "--resolution", "7m"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("resolution 7m must divide a day"), "{err}");
}

#[test]
fn a_prometheus_export_can_come_from_standard_input() {
    use std::io::Write as _;
    let mut child = Command::new(env!("CARGO_BIN_EXE_k3s-autoscaler"))
        .args(["scenario", "from-prometheus", "-"])
        .current_dir(repo())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let export = std::fs::read(repo().join("tests/fixtures/prometheus/query-range.json")).unwrap();
    child.stdin.take().unwrap().write_all(&export).unwrap();
    let out = child.wait_with_output().unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stdout.contains("Imported from standard input: the mean of 13 samples"), "{stdout}");
}
