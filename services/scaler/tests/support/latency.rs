//! Timed trials of the whole alert path on loopback. Each trial is a fresh cluster (its own
//! queue, state and message group) with the captured fixture's fleet of two workers; the clock
//! runs from the start of the webhook POST to the first worker of the resulting operation
//! visible in moto's DescribeInstances, polled every `interval` (which adds up to one interval).
//! The poller is already long-polling when the POST starts, as a running scaler would be.

use std::time::{Duration, Instant};

use autoscaler_adapters::{ec2::OPERATION_TAG, emf::EmfMetrics};
use autoscaler_testkit::unique;

use super::{
    cloud::{instances, launch_workers, tag},
    rig::{Aws, Rig, high_cpu},
};

/// Workers each trial's cluster starts with: the fixture's 90% CPU and 3.6 busy cores are two
/// 2-core workers, so the shipped policy sizes for 3 (at 65%) and adds one.
pub const FLEET: usize = 2;

/// How long the poller is given to be waiting on the queue before the POST starts.
const POLLER_HEAD_START: Duration = Duration::from_millis(50);

/// One trial's times, all from the start of the POST.
#[derive(Debug, Clone, Copy)]
pub struct Trial {
    /// The webhook answered 200: the message is in the FIFO queue.
    pub enqueued: Duration,
    /// The poller finished its round: the engine processed the message and it was deleted.
    pub processed: Duration,
    /// The first launched worker was visible in DescribeInstances.
    pub visible: Duration,
}

/// Runs one trial; `Err` says what did not happen within `limit`.
pub async fn trial(aws: &Aws, interval: Duration, limit: Duration) -> Result<Trial, String> {
    let rig = Rig::start(aws, &unique("lat"), EmfMetrics::new(std::io::sink())).await;
    launch_workers(aws, &rig.cluster, FLEET).await;
    let body = high_cpu(&rig.cluster, "90.00", "3.600", 5);
    let poller = async {
        loop {
            let round = rig.poll_once(20).await;
            if !round.failed.is_empty() {
                return Err(format!("the poller reported failed messages {:?}", round.failed));
            }
            if round.received > 0 {
                return Ok(Instant::now());
            }
        }
    };
    let client = async {
        tokio::time::sleep(POLLER_HEAD_START).await;
        let started = Instant::now();
        let (status, answer) = rig.post(&body).await;
        let enqueued = Instant::now();
        if status != 200 {
            return Err(format!("the webhook answered {status}: {answer}"));
        }
        loop {
            if instances(aws, &rig.cluster).await.iter().any(|i| tag(i, OPERATION_TAG).is_some()) {
                return Ok((started, enqueued, Instant::now()));
            }
            tokio::time::sleep(interval).await;
        }
    };
    let joined = tokio::time::timeout(limit, async { tokio::join!(poller, client) }).await;
    let (processed, (started, enqueued, visible)) = match joined {
        Ok((Ok(p), Ok(c))) => (p, c),
        Ok((Err(e), _) | (_, Err(e))) => return Err(format!("cluster {}: {e}", rig.cluster)),
        Err(_) => return Err(format!("cluster {}: no worker launched within {limit:?}", rig.cluster)),
    };
    Ok(Trial { enqueued: enqueued - started, processed: processed - started, visible: visible - started })
}

/// Nearest-rank percentiles of a sample.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Percentiles {
    /// Sample size.
    pub count: usize,
    pub p50: Duration,
    pub p90: Duration,
    pub p99: Duration,
    pub max: Duration,
}

impl Percentiles {
    /// The percentiles of `sample`; `None` if it is empty.
    pub fn of(sample: &[Duration]) -> Option<Percentiles> {
        let mut sorted = sample.to_vec();
        sorted.sort();
        let rank = |p: f64| sorted[((p / 100.0 * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1];
        let max = *sorted.last()?;
        Some(Percentiles { count: sorted.len(), p50: rank(50.0), p90: rank(90.0), p99: rank(99.0), max })
    }
}

impl std::fmt::Display for Percentiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        write!(
            f,
            "p50 {:7.1} ms  p90 {:7.1} ms  p99 {:7.1} ms  max {:7.1} ms  (n = {})",
            ms(self.p50),
            ms(self.p90),
            ms(self.p99),
            ms(self.max),
            self.count
        )
    }
}
