//! `simulate`: replays a scenario through the real engine and compares it with a fixed fleet and
//! the polling baseline. Reads the scenario, runs the core's simulator, prints a table, and
//! writes the JSON report and the SVG chart when asked. Bad scenarios exit 2.

use std::{
    io::IsTerminal,
    path::{Path, PathBuf},
    sync::Mutex,
    time::Instant,
};

use anyhow::Context;
use autoscaler_core::sim::{self, Report, Scenario, Strategy, scenario};

use crate::{BadInput, chart};

/// Arguments of `simulate`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A shipped scenario's name (see --list) or a scenario file (YAML; docs/SIMULATOR.md).
    #[arg(long, default_value = scenario::DEFAULT)]
    pub scenario: String,
    /// List the shipped scenarios and exit.
    #[arg(long)]
    pub list: bool,
    /// Write the report as JSON to this file.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Write a chart of demand, capacity and workers (SVG) to this file.
    #[arg(long, value_name = "FILE")]
    pub svg: Option<PathBuf>,
    /// Also print what the autoscaler notified (its Slack messages, with their reasons), in order.
    #[arg(long)]
    pub events: bool,
    /// Simulate this long instead of the scenario's duration (`30days`, `6h`).
    #[arg(long, value_parser = humantime::parse_duration)]
    pub duration: Option<std::time::Duration>,
    /// Use this seed instead of the scenario's.
    #[arg(long)]
    pub seed: Option<u64>,
}

/// Runs the subcommand.
pub fn run(args: Args) -> anyhow::Result<()> {
    if args.list {
        for (name, _) in scenario::SHIPPED {
            let s = Scenario::shipped(name).expect("shipped");
            say!("{name:<16} {}", s.description)?;
        }
        return Ok(());
    }
    let mut scenario = load(&args.scenario)?;
    if args.duration.is_some() || args.seed.is_some() {
        scenario.duration = args.duration.unwrap_or(scenario.duration);
        scenario.seed = args.seed.unwrap_or(scenario.seed);
        scenario.validate().map_err(|e| BadInput(format!("--duration/--seed: {e}")))?;
    }
    let started = Instant::now();
    let report = sim::simulate(&scenario, &progress());
    let took = started.elapsed();
    if std::io::stderr().is_terminal() {
        eprint!("\r\x1b[2K");
    }
    if args.events {
        for n in &report.results.autoscaler.notifications {
            say!("{}  {:<16} {}", n.at, format!("{:?}", n.kind), n.summary)?;
            for reason in &n.reasons {
                say!("{:<39}- {reason}", "")?;
            }
        }
        say!()?;
    }
    crate::out(format_args!("{}", table(&report)))?;
    say!("simulated {} in {:.2} s", humantime::format_duration(scenario.duration), took.as_secs_f64())?;
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&report)? + "\n";
        std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    if let Some(path) = &args.svg {
        chart::write(&report, path)?;
    }
    Ok(())
}

/// A shipped scenario by name, else a file.
fn load(name_or_file: &str) -> anyhow::Result<Scenario> {
    if let Some(s) = Scenario::shipped(name_or_file) {
        return Ok(s);
    }
    let path = Path::new(name_or_file);
    if !path.exists() {
        let names: Vec<&str> = scenario::SHIPPED.iter().map(|(n, _)| *n).collect();
        return Err(BadInput(format!(
            "--scenario {name_or_file:?} is neither a shipped scenario ({}) nor a file",
            names.join(", ")
        ))
        .into());
    }
    let text = std::fs::read_to_string(path).map_err(|e| BadInput(format!("reading {}: {e}", path.display())))?;
    Scenario::from_yaml(&text).map_err(|e| BadInput(format!("{}: {e}", path.display())).into())
}

/// A progress line on standard error, only when it is a terminal and the run takes a while.
fn progress() -> impl Fn(Strategy, f64) + Sync {
    let tty = std::io::stderr().is_terminal();
    let started = Instant::now();
    let state = Mutex::new(([0.0f64; 3], Instant::now()));
    move |strategy, fraction| {
        if !tty || started.elapsed().as_secs_f64() < 1.0 {
            if let Ok(mut s) = state.lock() {
                s.0[strategy as usize] = fraction;
            }
            return;
        }
        let Ok(mut s) = state.lock() else { return };
        s.0[strategy as usize] = fraction;
        if s.1.elapsed().as_millis() < 200 && fraction < 1.0 {
            return;
        }
        s.1 = Instant::now();
        // The slowest strategy (the autoscaler, through the engine) sets the pace.
        let done = s.0.iter().copied().fold(1.0, f64::min);
        eprint!("\rsimulating: {:>3.0}%", done * 100.0);
    }
}

/// How one row of the table renders a strategy's result.
type Cell = Box<dyn Fn(&sim::StrategyResult) -> String>;

fn opt(x: Option<f64>) -> String {
    x.map_or_else(|| "-".into(), |v| format!("{v:.0}"))
}

/// The comparison table.
pub fn table(report: &Report) -> String {
    let s = &report.scenario;
    let r = &report.results;
    let fixed_cost = r.fixed.cost_usd;
    let mut out = format!(
        "scenario {} ({}, step {}, seed {}): {}\n\n",
        s.name,
        humantime::format_duration(s.duration),
        humantime::format_duration(s.step),
        s.seed,
        s.description
    );
    let rows: Vec<(&str, Cell)> = vec![
        ("worker cost (USD)", Box::new(|x| format!("{:.3}", x.cost_usd))),
        (
            "  vs fixed",
            Box::new(
                move |x| if fixed_cost > 0.0 { format!("{:.0}%", 100.0 * x.cost_usd / fixed_cost) } else { "-".into() },
            ),
        ),
        ("node-hours", Box::new(|x| format!("{:.1}", x.node_hours))),
        ("  of which Spot", Box::new(|x| format!("{:.1}", x.spot_node_hours))),
        (
            "workers min / mean / max",
            Box::new(|x| format!("{} / {:.1} / {}", x.min_workers, x.mean_workers, x.max_workers)),
        ),
        ("overload minutes (CPU > 80%)", Box::new(|x| format!("{:.1}", x.overload_minutes))),
        ("unserved core-hours", Box::new(|x| format!("{:.2}", x.unserved_core_hours))),
        ("pending pod-minutes", Box::new(|x| format!("{:.1}", x.pending_pod_minutes))),
        ("longest Pending (s)", Box::new(|x| x.max_pending_seconds.to_string())),
        ("scale-ups / scale-downs", Box::new(|x| format!("{} / {}", x.scale_ups, x.scale_downs))),
        ("Spot interruptions / replacements", Box::new(|x| format!("{} / {}", x.spot_interruptions, x.replacements))),
        ("failed operations", Box::new(|x| x.failed_operations.to_string())),
        ("PDB violations", Box::new(|x| x.pdb_violations.to_string())),
        (
            "scale-up latency p50 / p99 (s)",
            Box::new(|x| format!("{} / {}", opt(x.decision_latency_seconds.p50), opt(x.decision_latency_seconds.p99))),
        ),
        (
            "scale-down latency p50 / p99 (s)",
            Box::new(|x| {
                format!("{} / {}", opt(x.scale_down_latency_seconds.p50), opt(x.scale_down_latency_seconds.p99))
            }),
        ),
    ];
    out.push_str(&format!("{:<34}{:>16}{:>16}{:>16}\n", "", "autoscaler", "fixed", "polling"));
    for (label, f) in rows {
        out.push_str(&format!("{label:<34}{:>16}{:>16}{:>16}\n", f(&r.autoscaler), f(&r.fixed), f(&r.polling)));
    }
    if let Some(p) = &r.autoscaler.pipeline {
        out.push_str(&format!(
            "\nautoscaler pipeline: {} webhook notifications, {} messages queued ({} dropped as duplicates by the queue), \
             {} processed by the engine, {} duplicates caught by its idempotency record, {} retried, {} dead-lettered\n",
            p.webhook_notifications, p.enqueued, p.deduplicated_by_queue, p.processed, p.deduplicated_by_engine, p.retried,
            p.dead_lettered
        ));
    }
    out.push_str("prices: on-demand and Spot per worker-hour as in the scenario's `prices` (Spot is an assumption); master not included\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn short() -> Scenario {
        let mut s = Scenario::shipped("business-day").expect("shipped");
        s.duration = std::time::Duration::from_secs(3 * 3600);
        s
    }

    #[test]
    fn a_bad_or_unknown_scenario_is_bad_input_naming_the_problem() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.yaml");
        std::fs::write(&path, "name: x\nduration: 2h\ninitial_workers: 3\ndemand: { points: [] }\n").unwrap();
        let err = load(path.to_str().unwrap()).unwrap_err();
        assert!(err.downcast_ref::<BadInput>().is_some(), "{err:#}");
        assert!(err.to_string().contains("scenario: demand.points: needs at least one point"), "{err:#}");
        let err = load("no-such-scenario").unwrap_err();
        assert!(err.downcast_ref::<BadInput>().is_some());
        assert!(err.to_string().contains("business-day, flash-sale"), "{err:#}");
        assert_eq!(load("spot-storm").unwrap().name, "spot-storm");
    }

    #[test]
    fn the_json_report_has_the_three_strategies_with_their_figures() {
        let report = sim::simulate(&short(), &|_, _| {});
        let v: serde_json::Value = serde_json::to_value(&report).unwrap();
        assert_eq!(v["scenario"]["name"], "business-day");
        for st in ["autoscaler", "fixed", "polling"] {
            let r = &v["results"][st];
            for key in [
                "cost_usd",
                "node_hours",
                "overload_minutes",
                "pending_pod_minutes",
                "max_pending_seconds",
                "scale_ups",
                "scale_downs",
                "failed_operations",
                "pdb_violations",
                "min_workers",
                "max_workers",
            ] {
                assert!(r[key].is_number(), "{st}.{key}: {}", r[key]);
            }
            assert!(
                r["decision_latency_seconds"].get("p50").is_some()
                    && r["decision_latency_seconds"].get("p99").is_some()
            );
        }
        assert!(v["results"]["autoscaler"]["pipeline"]["processed"].as_u64().unwrap() > 0);
        assert!(v["results"]["fixed"].get("pipeline").is_none());
        let table = table(&report);
        assert!(table.contains("worker cost (USD)") && table.contains("PDB violations"), "{table}");
    }
}
