//! The services' adapters against the resources the SAM template really creates: the plain
//! CloudFormation part that moto supports (state table, FIFO queue and DLQs, queue policies,
//! EventBridge rules) is deployed to moto by `tests/iac/moto_stack.py`, then the state store,
//! the queue and an EventBridge rule → queue delivery are exercised on those names, so the
//! template and the code cannot drift apart.

use std::{path::Path, process::Command};

use autoscaler_adapters::{
    dynamo::DynamoStateStore,
    sqs::{SqsConsumer, SqsQueue},
};
use autoscaler_core::{
    ClusterId, ClusterState,
    message::{self, Envelope, Kind},
    ports::{OutgoingMessage, Queue, StateStore},
    signal::Signal,
    time::Timestamp,
};
use autoscaler_testkit::{Moto, unique};

struct Stack {
    table: String,
    queue_url: String,
}

fn deploy(moto: &Moto, cluster: &str) -> Stack {
    let python =
        Path::new(&std::env::var("MOTO_SERVER").expect("MOTO_SERVER is set by tests/run.sh")).with_file_name("python");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/iac/moto_stack.py");
    let out =
        Command::new(python).arg(script).arg(moto.endpoint()).arg(cluster).output().expect("running moto_stack.py");
    assert!(out.status.success(), "moto_stack.py failed: {}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("moto_stack.py prints JSON");
    let resources: Vec<&str> = v["resources"].as_array().unwrap().iter().map(|r| r.as_str().unwrap()).collect();
    for needed in [
        "StateTable",
        "AutoscalerQueue",
        "AutoscalerDeadLetterQueue",
        "SpotInterruptionRule",
        "InstanceStateChangeRule",
    ] {
        assert!(resources.contains(&needed), "the template no longer deploys {needed} to moto: {resources:?}");
    }
    let physical = &v["physical"];
    Stack {
        table: physical["StateTable"].as_str().unwrap().to_owned(),
        queue_url: physical["AutoscalerQueue"].as_str().unwrap().to_owned(),
    }
}

#[tokio::test]
async fn the_templates_table_queue_and_rules_work_with_the_services_code() {
    let moto = Moto::start().await;
    let cluster = unique("tpl");
    let stack = deploy(&moto, &cluster);
    let sdk = moto.sdk_config();
    let id = ClusterId::new(cluster.clone()).unwrap();
    assert_eq!(stack.table, format!("{cluster}-autoscaler-state"));
    assert!(stack.queue_url.ends_with(&format!("{cluster}-autoscaler.fifo")), "{}", stack.queue_url);

    // The state store works on the template's key schema, with the idempotency record.
    let store = DynamoStateStore::new(aws_sdk_dynamodb::Client::new(&sdk), stack.table.clone());
    let now = Timestamp::now();
    let lease = store.acquire(&id, "test", now, now + jiff::SignedDuration::from_secs(60)).await.unwrap();
    let mut state = ClusterState::new(id.clone());
    state.node_count = 3;
    let version =
        store.save(&state, &lease, Some("m-1"), now + jiff::SignedDuration::from_secs(3600), now).await.unwrap();
    assert_eq!(version, 1);
    assert!(store.seen(&id, "m-1", now).await.unwrap());
    assert_eq!(store.load(&id).await.unwrap().unwrap().node_count, 3);

    // Our producers' messages keep their explicit dedup ids on the content-deduplicated queue.
    let queue = SqsQueue::new(aws_sdk_sqs::Client::new(&sdk), stack.queue_url.clone());
    let env = Envelope::new(
        "rc-test-1".into(),
        Kind::Reconcile,
        id.clone(),
        now,
        Signal::Reconcile { at: now, findings: vec![] },
    );
    let msg = OutgoingMessage { group_id: cluster.clone(), dedup_id: env.id.clone(), body: env.to_body() };
    queue.send(std::slice::from_ref(&msg)).await.unwrap();
    queue.send(&[msg]).await.unwrap();

    // An EC2 event matching the template's rule reaches the FIFO queue in the cluster's group.
    let events = aws_sdk_eventbridge::Client::new(&sdk);
    let detail = r#"{"instance-id":"i-0123456789abcdef0","instance-action":"terminate"}"#;
    let entry = aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
        .source("aws.ec2")
        .detail_type("EC2 Spot Instance Interruption Warning")
        .detail(detail)
        .build();
    let put = events.put_events().entries(entry).send().await.unwrap();
    assert_eq!(put.failed_entry_count(), 0);

    let consumer = SqsConsumer::new(aws_sdk_sqs::Client::new(&sdk), stack.queue_url.clone());
    let mut bodies = Vec::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while bodies.len() < 2 && std::time::Instant::now() < deadline {
        for m in consumer.receive(10, 1).await.unwrap() {
            assert_eq!(m.group_id.as_deref(), Some(cluster.as_str()));
            consumer.delete(&m.receipt_handle).await.unwrap();
            bodies.push(m.body);
        }
    }
    assert_eq!(bodies.len(), 2, "one reconcile tick (the duplicate dropped) and one EventBridge event: {bodies:?}");
    let kinds: Vec<_> = bodies.iter().map(|b| message::parse(b, &id).expect("parseable").signal.unwrap()).collect();
    assert!(matches!(kinds[0], Signal::Reconcile { .. }), "{kinds:?}");
    assert!(
        matches!(&kinds[1], Signal::SpotInterruption { instance_id, .. } if instance_id.0 == "i-0123456789abcdef0"),
        "{kinds:?}"
    );
}
