//! `SqsQueue` against scripted SQS responses (aws-smithy-mocks): what it sends, and how refused
//! entries and failed calls become `QueueError`s. The moto round trip is in the webhook's tests.

use std::sync::{Arc, Mutex};

use autoscaler_adapters::sqs::SqsQueue;
use autoscaler_core::ports::{OutgoingMessage, Queue, QueueError};
use aws_sdk_sqs::{
    Client, Config,
    config::{BehaviorVersion, Credentials, Region, retry::RetryConfig},
    operation::send_message_batch::{SendMessageBatchError, SendMessageBatchOutput},
    types::{BatchResultErrorEntry, SendMessageBatchResultEntry, error::QueueDoesNotExist},
};
use aws_smithy_mocks::{MockResponseInterceptor, Rule, RuleMode, create_mock_http_client, mock};
use aws_smithy_types::error::ErrorMetadata;

const URL: &str = "https://sqs.us-east-1.amazonaws.com/000000000000/prod-autoscaler.fifo";

fn client(rules: &[&Rule]) -> Client {
    let interceptor =
        rules.iter().fold(MockResponseInterceptor::new().rule_mode(RuleMode::MatchAny), |i, r| i.with_rule(r));
    let config = Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "test"))
        .retry_config(RetryConfig::disabled())
        .http_client(create_mock_http_client())
        .interceptor(interceptor)
        .build();
    Client::from_conf(config)
}

fn messages(n: usize) -> Vec<OutgoingMessage> {
    (0..n)
        .map(|i| OutgoingMessage {
            group_id: "prod".into(),
            dedup_id: format!("am-{i}"),
            body: format!("{{\"n\":{i}}}"),
        })
        .collect()
}

/// Entries seen per call: `(entry id, group, dedup id, body)`.
type Seen = Arc<Mutex<Vec<Vec<(String, String, String, String)>>>>;

/// A rule that records every call's entries and accepts them all, except entry `refuse.1` of
/// call `refuse.0` (0-based), which it refuses with `InternalError`.
fn scripted(seen: &Seen, refuse: Option<(usize, usize)>) -> Rule {
    let seen = seen.clone();
    mock!(Client::send_message_batch).then_compute_output(move |input| {
        let entries = input.entries();
        let mut calls = seen.lock().unwrap();
        let call = calls.len();
        calls.push(
            entries
                .iter()
                .map(|e| {
                    let s = |v: Option<&str>| v.unwrap_or_default().to_owned();
                    (
                        e.id().to_owned(),
                        s(e.message_group_id()),
                        s(e.message_deduplication_id()),
                        e.message_body().to_owned(),
                    )
                })
                .collect(),
        );
        let refused = refuse.filter(|(c, _)| *c == call).map(|(_, i)| i.to_string());
        let (bad, ok): (Vec<_>, Vec<_>) = entries.iter().partition(|e| Some(e.id()) == refused.as_deref());
        let ok = ok.iter().map(|e| {
            SendMessageBatchResultEntry::builder().id(e.id()).message_id("m").md5_of_message_body("x").build().unwrap()
        });
        let bad = bad.iter().map(|e| {
            let entry = BatchResultErrorEntry::builder().id(e.id()).code("InternalError").sender_fault(false);
            entry.message("try again").build().unwrap()
        });
        SendMessageBatchOutput::builder()
            .set_successful(Some(ok.collect()))
            .set_failed(Some(bad.collect()))
            .build()
            .unwrap()
    })
}

#[tokio::test]
async fn sends_batches_of_ten_with_group_and_dedup_ids_in_order() {
    let seen = Seen::default();
    let rule = scripted(&seen, None);
    let queue = SqsQueue::new(client(&[&rule]), URL);
    let sent = messages(23);

    queue.send(&sent).await.unwrap();

    let calls = seen.lock().unwrap().clone();
    assert_eq!(calls.iter().map(Vec::len).collect::<Vec<_>>(), vec![10, 10, 3]);
    assert_eq!(calls[1][0].0, "0", "entry ids restart at 0 in every call");
    assert_eq!(
        calls[0].iter().map(|e| e.0.as_str()).collect::<Vec<_>>(),
        ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"]
    );
    let flat: Vec<_> = calls.into_iter().flatten().collect();
    assert_eq!(flat.len(), sent.len());
    for (entry, message) in flat.iter().zip(&sent) {
        assert_eq!((&entry.1, &entry.2, &entry.3), (&message.group_id, &message.dedup_id, &message.body));
    }
}

#[tokio::test]
async fn refused_entries_stop_the_send_and_are_named() {
    let seen = Seen::default();
    let rule = scripted(&seen, Some((1, 3)));
    let queue = SqsQueue::new(client(&[&rule]), URL);

    let err = queue.send(&messages(25)).await.unwrap_err();

    let QueueError::Partial { failed, total, dedup_ids, first_code } = err else { panic!("want Partial, got {err:?}") };
    assert_eq!(first_code, "InternalError");
    assert_eq!(total, 25);
    // am-13 was refused; am-20..am-24 were never attempted, so they could not overtake it.
    let mut want = vec!["am-13".to_owned()];
    want.extend((20..25).map(|i| format!("am-{i}")));
    assert_eq!(dedup_ids, want);
    assert_eq!(failed, 6);
    assert_eq!(rule.num_calls(), 2, "no third call after a refusal");
}

#[tokio::test]
async fn a_failed_call_is_reported_with_its_cause() {
    let gone = mock!(Client::send_message_batch).then_error(|| {
        let meta = ErrorMetadata::builder().code("AWS.SimpleQueueService.NonExistentQueue").message("gone").build();
        SendMessageBatchError::QueueDoesNotExist(QueueDoesNotExist::builder().message("gone").meta(meta).build())
    });
    let queue = SqsQueue::new(client(&[&gone]), URL);

    let err = queue.send(&messages(3)).await.unwrap_err();

    assert_eq!(err.to_string(), "sending 3 messages to the queue");
    let QueueError::Failed { count, source } = &err else { panic!("want Failed, got {err:?}") };
    assert_eq!(*count, 3);
    assert_eq!(source.to_string(), "AWS.SimpleQueueService.NonExistentQueue: gone");
}

#[tokio::test]
async fn sending_nothing_makes_no_call() {
    let seen = Seen::default();
    let rule = scripted(&seen, None);
    let queue = SqsQueue::new(client(&[&rule]), URL);
    queue.send(&[]).await.unwrap();
    assert_eq!(rule.num_calls(), 0);
}
