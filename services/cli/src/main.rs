//! `k3s-autoscaler`: the command line. Thin: parses arguments, reads files, calls the core, prints.
//! Exit codes: 0 success, 2 bad input (the message names the problem), 1 anything else.

/// Like `println!`, without the panic: writes a line to standard output and returns the error.
/// A reader that stops early (`k3s-autoscaler decide … | head`) closes the pipe; that is not a
/// failure, so the rest of the command (writing `--json`, say) still runs.
macro_rules! say {
    () => { $crate::out(format_args!("\n")) };
    ($($arg:tt)*) => { $crate::out(format_args!("{}\n", format_args!($($arg)*))) };
}

mod chart;
mod explain;
mod simulate;

use std::{io::Read, path::PathBuf, process::ExitCode};

use anyhow::Context;
use autoscaler_core::{ClusterId, Policy, Snapshot, policy, rules, sim::import, time::Timestamp};
use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "k3s-autoscaler", version, about = "Event-driven autoscaler for K3s workers on EC2")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print what the policy would decide for a snapshot, as JSON, with its reasons.
    Decide {
        /// Snapshot file (JSON; see tests/fixtures/snapshots/ and the README).
        #[arg(long)]
        snapshot: PathBuf,
        /// Policy file (YAML); the built-in defaults when absent.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Decide as of this instant (RFC 3339); default: the snapshot's `taken_at`, else now.
        #[arg(long)]
        now: Option<Timestamp>,
    },
    /// Policy file commands.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Write the Prometheus alerting rules rendered from the policy (the committed
    /// alertmanager/rules/autoscaler.rules.yml is this output for the defaults).
    RenderRules {
        /// Policy file (YAML); the built-in defaults when absent.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Write here instead of standard output.
        #[arg(long)]
        output: Option<PathBuf>,
    },
    /// Show how the scaler understands a raw queue message body or a raw EventBridge event, as
    /// JSON (the scaler's own parser). Malformed input exits 2.
    ExplainMessage {
        /// The file, or `-` for standard input.
        file: PathBuf,
        /// Cluster of raw EventBridge events (they carry none; the queue's group says it).
        #[arg(long, env = "CLUSTER_ID", default_value = "default")]
        cluster: String,
    },
    /// Replay a day of traffic through the real engine and compare cost and SLO with a fixed
    /// fleet and the polling design.
    Simulate(simulate::Args),
    /// Scenario files for `simulate`.
    Scenario {
        #[command(subcommand)]
        command: ScenarioCommand,
    },
}

#[derive(Debug, Subcommand)]
enum ScenarioCommand {
    /// Write a scenario whose demand is your own traffic: the JSON a Prometheus range query
    /// of busy worker cores answered (`/api/v1/query_range?query=cluster:worker_cpu_busy_cores:sum`,
    /// see docs/SIMULATOR.md), averaged per slot of the day.
    FromPrometheus {
        /// The saved answer, or `-` for standard input.
        file: PathBuf,
        /// The scenario's name.
        #[arg(long, default_value = "imported")]
        name: String,
        /// Width of a slot of the day (`5m`, `15m`, `1h`); must divide a day.
        #[arg(long, default_value = "15m", value_parser = humantime::parse_duration)]
        resolution: std::time::Duration,
        /// Workers the `fixed` strategy runs 24/7 (what you run today).
        #[arg(long, default_value_t = 5)]
        initial_workers: u32,
        /// Write here instead of standard output.
        #[arg(long)]
        output: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Validate a policy file: exit 0 if valid, 2 with the problem otherwise.
    Check {
        /// Policy file (YAML).
        file: PathBuf,
    },
    /// Print the effective policy (defaults filled in) and its version.
    Show {
        /// Policy file (YAML); the built-in defaults when absent.
        file: Option<PathBuf>,
    },
}

/// An error that is the user's input: printed, exit code 2.
#[derive(Debug)]
struct BadInput(String);

impl std::fmt::Display for BadInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BadInput {}

/// Writes to standard output; a closed pipe (the reader has stopped) is not an error.
fn out(args: std::fmt::Arguments<'_>) -> std::io::Result<()> {
    use std::io::Write as _;
    match std::io::stdout().lock().write_fmt(args) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.downcast_ref::<BadInput>().is_some() => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Decide { snapshot, config, now } => {
            let policy = load_policy(config.as_ref())?;
            let text = read(&snapshot)?;
            let snap = Snapshot::from_json(&text).map_err(|e| BadInput(format!("{}: {e}", snapshot.display())))?;
            let now = now.or(snap.taken_at).unwrap_or_else(Timestamp::now);
            let decision = policy::decide(&snap, &policy, now);
            say!("{}", serde_json::to_string_pretty(&decision)?)?;
        }
        Command::Config { command: ConfigCommand::Check { file } } => {
            let policy = load_policy(Some(&file))?;
            say!("{}: valid (policy version {})", file.display(), policy.version())?;
        }
        Command::RenderRules { config, output } => {
            let text = rules::render(&load_policy(config.as_ref())?);
            match output {
                Some(path) => std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?,
                None => out(format_args!("{text}"))?,
            }
        }
        Command::ExplainMessage { file, cluster } => {
            let cluster = ClusterId::new(cluster).map_err(|e| BadInput(format!("--cluster: {e}")))?;
            let body = read(&file)?;
            let explained =
                explain::explain(&body, &cluster).map_err(|e| BadInput(format!("{}: {e}", file.display())))?;
            say!("{}", serde_json::to_string_pretty(&explained)?)?;
        }
        Command::Simulate(args) => simulate::run(args)?,
        Command::Scenario {
            command: ScenarioCommand::FromPrometheus { file, name, resolution, initial_workers, output },
        } => {
            let text = read(&file)?;
            let imported = import::demand_from_prometheus(&text, resolution)
                .map_err(|e| BadInput(format!("{}: {e}", file.display())))?;
            let source = match file.file_name() {
                Some(n) if file.as_os_str() != "-" => n.to_string_lossy().into_owned(),
                _ => "standard input".into(),
            };
            let yaml = import::scenario_yaml(&imported, &name, initial_workers, &source)
                .map_err(|e| BadInput(format!("--name/--initial-workers: {e}")))?;
            match output {
                Some(path) => std::fs::write(&path, yaml).with_context(|| format!("writing {}", path.display()))?,
                None => out(format_args!("{yaml}"))?,
            }
        }
        Command::Config { command: ConfigCommand::Show { file } } => {
            let policy = load_policy(file.as_ref())?;
            say!("# policy version {}\n{}", policy.version(), policy.to_yaml())?;
        }
    }
    Ok(())
}

/// The file's text, or standard input's when the path is `-`.
fn read(path: &PathBuf) -> anyhow::Result<String> {
    if path.as_os_str() == "-" {
        let mut text = String::new();
        std::io::stdin().read_to_string(&mut text).map_err(|e| BadInput(format!("reading stdin: {e}")))?;
        return Ok(text);
    }
    std::fs::read_to_string(path)
        .map_err(|e| BadInput(format!("reading {}: {e}", path.display())))
        .context("reading input")
}

fn load_policy(path: Option<&PathBuf>) -> anyhow::Result<Policy> {
    let Some(path) = path else {
        return Ok(Policy::default());
    };
    let text = read(path)?;
    Policy::from_yaml(&text).map_err(|e| BadInput(format!("{}: {e}", path.display())).into())
}
