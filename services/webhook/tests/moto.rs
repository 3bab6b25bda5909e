//! The webhook over real HTTP with the real SDK against moto server: a FIFO queue receives the
//! right bodies, groups and dedup ids; a repeated notification becomes one message; a queue that
//! refuses turns into a 5xx; and `SqsConsumer` receives, redelivers and deletes.

mod support;

use std::{collections::BTreeMap, sync::Arc};

use autoscaler_adapters::sqs::{SqsConsumer, SqsQueue};
use autoscaler_core::{
    ClusterId,
    memory::ManualClock,
    message::{self, alertmanager},
};
use autoscaler_testkit::{Moto, unique};
use aws_sdk_sqs::{
    Client,
    types::{MessageSystemAttributeName, QueueAttributeName},
};
use http::StatusCode;
use serde_json::{Value, json};
use support::{TOKEN, alert, high_cpu, payload, post, serve};
use webhook::{AppState, Token, app};

const NOW: &str = "2026-03-02T12:00:05Z";

/// A new FIFO queue with content-based deduplication off (every producer sets the id).
async fn fifo_queue(sqs: &Client) -> String {
    let out = sqs
        .create_queue()
        .queue_name(format!("{}.fifo", unique("webhook")))
        .attributes(QueueAttributeName::FifoQueue, "true")
        .attributes(QueueAttributeName::ContentBasedDeduplication, "false")
        .send()
        .await
        .unwrap();
    out.queue_url().unwrap().to_owned()
}

/// The webhook sending to `queue_url`, served on a free loopback port.
async fn webhook(sqs: &Client, queue_url: &str) -> std::net::SocketAddr {
    let queue = SqsQueue::new(sqs.clone(), queue_url);
    let state = AppState::new(Arc::new(queue), Token::new(TOKEN).unwrap(), None)
        .with_clock(Arc::new(ManualClock::at(NOW.parse().unwrap())));
    serve(app(state)).await
}

/// One message as SQS holds it: group, dedup id, body.
type Held = (String, String, String);

/// Receives and deletes every message until the queue is empty.
async fn drain(sqs: &Client, queue_url: &str) -> Vec<Held> {
    let mut out = Vec::new();
    loop {
        let got = sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .send()
            .await
            .unwrap();
        if got.messages().is_empty() {
            return out;
        }
        for m in got.messages() {
            let attr = |n| m.attributes().and_then(|a| a.get(&n)).cloned().unwrap_or_default();
            out.push((
                attr(MessageSystemAttributeName::MessageGroupId),
                attr(MessageSystemAttributeName::MessageDeduplicationId),
                m.body().unwrap().to_owned(),
            ));
            sqs.delete_message().queue_url(queue_url).receipt_handle(m.receipt_handle().unwrap()).send().await.unwrap();
        }
    }
}

/// What the webhook should enqueue for `body`: computed by the core's own conversion.
fn expected(body: &Value) -> Vec<Held> {
    let payload = alertmanager::parse(&serde_json::to_vec(body).unwrap()).unwrap();
    let conversion = alertmanager::convert(&payload, None, NOW.parse().unwrap()).unwrap();
    conversion.messages.iter().map(|m| (m.cluster.to_string(), m.id.clone(), m.to_body())).collect()
}

fn notification() -> Value {
    let mut alerts: Vec<Value> = (0..12).map(|i| high_cpu("prod", &format!("f{i:02}"), "91.25")).collect();
    alerts.push(alert(
        "PendingPods",
        "pp",
        json!({"cluster": "prod", "action": "scale_up"}),
        json!({"pending_pods": "4"}),
    ));
    alerts.push(alert("NodeDiskFull", "nd", json!({"cluster": "prod"}), json!({})));
    payload(alerts)
}

#[tokio::test]
async fn alerts_reach_the_fifo_queue_with_their_groups_and_dedup_ids_in_order() {
    let moto = Moto::start().await;
    let sqs = Client::new(&moto.sdk_config());
    let queue_url = fifo_queue(&sqs).await;
    let addr = webhook(&sqs, &queue_url).await;
    let body = notification();

    let (status, answer) = post(addr, TOKEN, &body).await;

    assert_eq!((status, answer), (StatusCode::OK, json!({"enqueued": 13, "ignored": 1})));
    let held = drain(&sqs, &queue_url).await;
    assert_eq!(held, expected(&body), "one message per relevant alert, in payload order, across two batches");
    for (group, dedup_id, body) in &held {
        let parsed = message::parse(body, &ClusterId::new("other").unwrap()).unwrap();
        assert_eq!((&parsed.cluster.to_string(), &parsed.id), (group, dedup_id));
    }
}

#[tokio::test]
async fn the_same_notification_posted_twice_is_one_message_per_alert() {
    let moto = Moto::start().await;
    let sqs = Client::new(&moto.sdk_config());
    let queue_url = fifo_queue(&sqs).await;
    let addr = webhook(&sqs, &queue_url).await;
    let body = notification();

    // Alertmanager retrying after a lost answer sends the very same notification again.
    assert_eq!(post(addr, TOKEN, &body).await.0, StatusCode::OK);
    assert_eq!(post(addr, TOKEN, &body).await.0, StatusCode::OK);

    let held = drain(&sqs, &queue_url).await;
    assert_eq!(held.len(), 13);
    let per_id: BTreeMap<&str, usize> = held.iter().fold(BTreeMap::new(), |mut m, (_, id, _)| {
        *m.entry(id.as_str()).or_default() += 1;
        m
    });
    assert!(per_id.values().all(|n| *n == 1), "{per_id:?}");
}

#[tokio::test]
async fn a_queue_that_refuses_makes_the_webhook_answer_503() {
    let moto = Moto::start().await;
    let sqs = Client::new(&moto.sdk_config());
    let queue_url = fifo_queue(&sqs).await;
    sqs.delete_queue().queue_url(&queue_url).send().await.unwrap();
    let addr = webhook(&sqs, &queue_url).await;

    let (status, answer) = post(addr, TOKEN, &payload(vec![high_cpu("prod", "f1", "91.25")])).await;

    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{answer}");
    let error = answer["error"].as_str().unwrap();
    assert!(error.starts_with("enqueuing 1 messages: sending 1 messages to the queue: "), "{error}");
    assert!(error.contains("NonExistentQueue"), "{error}");
}

#[tokio::test]
async fn the_consumer_receives_redelivers_and_deletes() {
    let moto = Moto::start().await;
    let sqs = Client::new(&moto.sdk_config());
    let queue_url = fifo_queue(&sqs).await;
    let addr = webhook(&sqs, &queue_url).await;
    assert_eq!(post(addr, TOKEN, &payload(vec![high_cpu("prod", "f1", "91.25")])).await.0, StatusCode::OK);
    let consumer = SqsConsumer::new(sqs.clone(), &queue_url);

    let first = consumer.receive(10, 1).await.unwrap();
    assert_eq!(first.len(), 1);
    assert_eq!((first[0].group_id.as_deref(), first[0].receive_count), (Some("prod"), 1));
    // Nothing else is visible while it is in flight.
    assert!(consumer.receive(10, 0).await.unwrap().is_empty());

    consumer.change_visibility(&first[0].receipt_handle, 0).await.unwrap();
    let again = consumer.receive(10, 1).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!((again[0].message_id.as_str(), again[0].receive_count), (first[0].message_id.as_str(), 2));
    assert_eq!(again[0].body, first[0].body);

    consumer.delete(&again[0].receipt_handle).await.unwrap();
    assert!(consumer.receive(10, 1).await.unwrap().is_empty());

    let bad = SqsConsumer::new(sqs.clone(), format!("{queue_url}-gone"));
    let err = bad.receive(1, 0).await.unwrap_err();
    assert_eq!(err.to_string(), format!("receiving messages from {queue_url}-gone"));
}
