//! The scaler end to end against moto server: a HighCPU Alertmanager notification POSTed to the
//! webhook lands in the cluster's FIFO queue, the local poller runs the real engine on it, and
//! moto shows the workers the shipped policy sizes, tagged, with the operation recorded in
//! DynamoDB; the same notification again launches nothing; a poison body is acknowledged without
//! blocking the next message; and the latency benchmark's trials run (without timing asserts:
//! the figures come from `examples/latency.rs`).

mod support;

use std::{
    collections::BTreeSet,
    sync::Arc,
    time::{Duration, Instant},
};

use autoscaler_adapters::{
    ec2::{CLUSTER_TAG, MANAGED_TAG, OPERATION_TAG},
    emf::EmfMetrics,
};
use autoscaler_core::{ClusterState, OperationKind, memory::ManualClock, ports::Clock, time::Timestamp};
use autoscaler_testkit::{Moto, unique};
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_ec2::types::Instance;
use support::{
    cloud::{instances, launch_workers, queue_depth, sort_keys, state_item, tag},
    latency::{Percentiles, trial},
    rig::{Aws, Rig, high_cpu},
};

/// How long the alert may take to become workers before a test fails (seconds in practice).
const DEADLINE: Duration = Duration::from_secs(30);

/// Workers the cluster has before the alert.
const EXISTING: usize = 5;

/// Poller rounds until a message was handled and moto lists workers of an operation; those
/// workers. Panics at the deadline or if the poller reports a failed message.
async fn poll_until_launched(aws: &Aws, rig: &Rig) -> Vec<Instance> {
    let deadline = Instant::now() + DEADLINE;
    let mut handled = 0;
    loop {
        let round = rig.poll_once(1).await;
        assert!(round.failed.is_empty(), "the poller reported failed messages {:?}", round.failed);
        handled += round.received;
        let launched: Vec<Instance> =
            instances(aws, &rig.cluster).await.into_iter().filter(|i| tag(i, OPERATION_TAG).is_some()).collect();
        if handled > 0 && !launched.is_empty() {
            return launched;
        }
        assert!(Instant::now() < deadline, "no worker launched within {DEADLINE:?} ({handled} messages handled)");
    }
}

/// Poller rounds until one receives nothing; how many messages they handled.
async fn poll_until_empty(rig: &Rig) -> usize {
    let mut handled = 0;
    loop {
        let round = rig.poll_once(1).await;
        assert!(round.failed.is_empty(), "the poller reported failed messages {:?}", round.failed);
        if round.received == 0 {
            return handled;
        }
        handled += round.received;
    }
}

/// A cluster of five workers at 90% CPU, scaled up through the whole path: the rig and the
/// workers the alert launched. The webhook's clock is `webhook_clock`.
async fn scaled_up(moto: &Moto, webhook_clock: Arc<dyn Clock>) -> (Aws, Rig, Vec<u8>, Vec<Instance>) {
    let aws = Aws::provision(moto).await;
    let rig = Rig::start_with_clock(&aws, &unique("e2e"), EmfMetrics::stdout(), webhook_clock).await;
    launch_workers(&aws, &rig.cluster, EXISTING).await;
    // 90% of five 2-core workers is 9 busy cores, as the recording rule would report it.
    let body = high_cpu(&rig.cluster, "90.00", "9.000", 30);
    let (status, answer) = rig.post(&body).await;
    assert_eq!((status, answer.as_str()), (200, r#"{"enqueued":1,"ignored":0}"#));
    let launched = poll_until_launched(&aws, &rig).await;
    (aws, rig, body, launched)
}

fn version(item: &std::collections::HashMap<String, AttributeValue>) -> String {
    item.get("version").and_then(|v| v.as_n().ok()).cloned().expect("the STATE item has a version")
}

#[tokio::test]
async fn a_high_cpu_alert_launches_the_workers_the_policy_sizes_tagged_and_recorded() {
    let moto = Moto::start().await;
    let (aws, rig, _, launched) = scaled_up(&moto, Arc::new(webhook::SystemClock)).await;
    let cluster = rig.cluster.as_str();

    // At 65% of 2 cores per worker, 9 busy cores need ceil(9 / 1.3) = 7 workers: 2 more.
    assert_eq!(launched.len(), 2, "launched {launched:?}");
    assert_eq!(instances(&aws, &rig.cluster).await.len(), EXISTING + 2);
    let operation = tag(&launched[0], OPERATION_TAG).expect("operation tag").to_owned();
    for i in &launched {
        let tags = [CLUSTER_TAG, MANAGED_TAG, OPERATION_TAG, "Name"].map(|k| tag(i, k));
        let name = format!("{cluster}-worker");
        assert_eq!(tags, [Some(cluster), Some("true"), Some(operation.as_str()), Some(name.as_str())], "{i:?}");
    }

    let item = state_item(&aws, &rig.cluster).await;
    assert_eq!(item.get("operation_id").and_then(|v| v.as_s().ok()), Some(&operation), "{item:?}");
    let json = item.get("state").and_then(|v| v.as_s().ok()).expect("the STATE item holds the state");
    let state: ClusterState = serde_json::from_str(json).expect("the state parses");
    let op = state.operation.expect("an operation in the state");
    assert_eq!((op.kind, op.launch_count), (OperationKind::ScaleUp, 2));
    let recorded: BTreeSet<&str> = op.instances.iter().map(|i| i.0.as_str()).collect();
    let seen: BTreeSet<&str> = launched.iter().filter_map(|i| i.instance_id()).collect();
    assert_eq!(recorded, seen, "the operation records the instances moto launched");
    let keys = sort_keys(&aws, &rig.cluster).await;
    assert!(keys.iter().any(|k| k.starts_with("OP#") && k.ends_with(&format!("#{operation}"))), "{keys:?}");
    assert!(keys.iter().any(|k| k.starts_with("MSG#")), "the message's idempotency record: {keys:?}");
    assert_eq!(queue_depth(&aws, &rig.queue_url).await, (0, 0), "the message was deleted");
}

#[tokio::test]
async fn the_same_alert_posted_again_launches_nothing() {
    let moto = Moto::start().await;
    // The webhook receives both copies within one minute (the minute of receipt is part of an
    // alert's message id, so that periodic re-fires are fresh readings).
    let (aws, rig, body, launched) = scaled_up(&moto, Arc::new(ManualClock::at(Timestamp::now()))).await;
    let before = version(&state_item(&aws, &rig.cluster).await);

    // Alertmanager re-sends a notification whose answer it lost: byte for byte the same.
    let (status, _) = rig.post(&body).await;
    assert_eq!(status, 200);
    // moto forgets a deduplication id once its message is deleted, so the copy is delivered
    // (SQS would drop it within 5 minutes; a redelivery after 5 minutes looks the same): the
    // engine's idempotency record is what must stop it.
    let handled = poll_until_empty(&rig).await;

    assert_eq!(handled, 1, "the copy reached the engine");
    assert_eq!(instances(&aws, &rig.cluster).await.len(), EXISTING + launched.len(), "no new instances");
    assert_eq!(version(&state_item(&aws, &rig.cluster).await), before, "a duplicate leaves the state untouched");
    assert_eq!(queue_depth(&aws, &rig.queue_url).await, (0, 0));
}

#[tokio::test]
async fn a_poison_message_is_acknowledged_and_does_not_block_the_next_one() {
    let moto = Moto::start().await;
    let aws = Aws::provision(&moto).await;
    let rig = Rig::start(&aws, &unique("e2e"), EmfMetrics::stdout()).await;
    aws.sqs
        .send_message()
        .queue_url(&rig.queue_url)
        .message_group_id(rig.cluster.as_str())
        .message_deduplication_id("poison-1")
        .message_body("{\"v\": 1, \"kind\": \"alert\", truncated")
        .send()
        .await
        .expect("sending the poison body");
    // Behind it in the same group: a HighCPU alert for a cluster without workers.
    let (status, _) = rig.post(&high_cpu(&rig.cluster, "90.00", "3.600", 30)).await;
    assert_eq!(status, 200);

    let launched = poll_until_launched(&aws, &rig).await;

    // Below min_workers (2) the policy adds workers up to it, whatever the CPU says.
    assert_eq!(launched.len(), 2, "launched {launched:?}");
    assert_eq!(poll_until_empty(&rig).await, 0, "nothing was left to redeliver");
    assert_eq!(queue_depth(&aws, &rig.queue_url).await, (0, 0), "both messages were deleted");
}

#[tokio::test]
async fn latency_trials_run_the_whole_path() {
    let moto = Moto::start().await;
    let aws = Aws::provision(&moto).await;
    let mut visible = vec![];
    for n in 0..5 {
        let t = trial(&aws, Duration::from_millis(5), DEADLINE).await.unwrap_or_else(|e| panic!("trial {n}: {e}"));
        visible.push(t.visible);
    }
    let p = Percentiles::of(&visible).expect("five trials");
    assert_eq!(p.count, 5);
    println!("POST → worker visible: {p}");
}
