//! End-to-end decision latency on loopback: a HighCPU webhook POST → moto's SQS FIFO queue →
//! the scaler's local poller and the real engine → RunInstances visible in moto. One moto
//! server, a fresh cluster per trial; prints p50/p90/p99/max of each stage. Bounded by a trial
//! count and a wall-clock cap.
//!
//! moto's DescribeInstances slows down super-linearly with the instances it holds (about 4 ms
//! with none, 30 ms with 300, 130 ms with 600, measured on this machine): the server is reset
//! every `--reset-every` trials so that the figures measure the path, not moto's bookkeeping
//! (`--reset-every 0` shows the effect).
//!
//! `MOTO_SERVER=<venv>/bin/moto_server cargo run --release -p scaler --example latency -- --trials 100`

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use anyhow::bail;
use autoscaler_testkit::Moto;
use clap::Parser;
use support::{
    latency::{FLEET, Percentiles, Trial, trial},
    rig::Aws,
};

#[derive(Debug, Parser)]
#[command(about = "End-to-end decision latency: webhook POST to RunInstances visible in moto")]
struct Args {
    /// Trials to run at most.
    #[arg(long, default_value_t = 100)]
    trials: usize,
    /// Start no trial after this many seconds.
    #[arg(long, default_value_t = 120)]
    seconds: u64,
    /// Interval of the DescribeInstances polling that detects the launch (adds up to one interval).
    #[arg(long, default_value_t = 5)]
    interval_ms: u64,
    /// Give up on a trial after this many seconds.
    #[arg(long, default_value_t = 10)]
    trial_timeout: u64,
    /// Reset moto (and recreate the table and network) after this many trials; 0: never.
    #[arg(long, default_value_t = 10)]
    reset_every: usize,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let moto = Moto::start().await;
    let mut aws = Aws::provision(&moto).await;
    let interval = Duration::from_millis(args.interval_ms);
    let limit = Duration::from_secs(args.trial_timeout);
    let cap = Instant::now() + Duration::from_secs(args.seconds);
    let mut trials: Vec<Trial> = Vec::with_capacity(args.trials);
    let mut failures = Vec::new();
    while trials.len() + failures.len() < args.trials && Instant::now() < cap {
        let done = trials.len() + failures.len();
        if args.reset_every > 0 && done > 0 && done.is_multiple_of(args.reset_every) {
            reset(&moto).await?;
            aws = Aws::provision(&moto).await;
        }
        match trial(&aws, interval, limit).await {
            Ok(t) => trials.push(t),
            Err(e) => failures.push(e),
        }
    }
    println!(
        "{} trials ({} failed) on one moto server; each a fresh cluster of {FLEET} workers, HighCPU 90% → 1 worker; \
         DescribeInstances polled every {} ms; moto reset {}",
        trials.len() + failures.len(),
        failures.len(),
        args.interval_ms,
        match args.reset_every {
            0 => "never".to_owned(),
            n => format!("every {n} trials"),
        }
    );
    let stage = |name: &str, f: fn(&Trial) -> Duration| {
        let sample: Vec<Duration> = trials.iter().map(f).collect();
        if let Some(p) = Percentiles::of(&sample) {
            println!("  {name:<38} {p}");
        }
    };
    stage("POST answered (message in the queue)", |t| t.enqueued);
    stage("poller round done (engine processed)", |t| t.processed);
    stage("worker visible in DescribeInstances", |t| t.visible);
    if let (Some(first), Some(last)) = (trials.get(..10), trials.len().checked_sub(10).map(|n| &trials[n..])) {
        let p50 = |s: &[Trial]| Percentiles::of(&s.iter().map(|t| t.visible).collect::<Vec<_>>()).map(|p| p.p50);
        println!("  visible p50 of the first 10 trials {:?}, of the last 10 {:?}", p50(first), p50(last));
    }
    for e in &failures {
        eprintln!("failed trial: {e}");
    }
    if trials.is_empty() || !failures.is_empty() {
        bail!("{} of {} trials failed", failures.len(), trials.len() + failures.len());
    }
    Ok(())
}

/// Clears every resource moto holds (`POST /moto-api/reset`).
async fn reset(moto: &Moto) -> anyhow::Result<()> {
    let url = format!("{}/moto-api/reset", moto.endpoint());
    reqwest::Client::builder().no_proxy().build()?.post(&url).send().await?.error_for_status()?;
    Ok(())
}
