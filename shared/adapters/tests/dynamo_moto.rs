//! `DynamoStateStore` against DynamoDB emulated by moto server (one server per test, the table
//! created with the CONTRACTS.md schema): leases and fencing, versioned saves, idempotency
//! records written atomically with the state, TTL-expired records, operation and decision records.

use std::time::Duration;

use autoscaler_adapters::{aws, dynamo::DynamoStateStore};
use autoscaler_core::{
    ClusterId, ClusterState, Decision, Operation, OperationKind, Phase,
    ports::{DecisionRecord, Lease, StateStore, StoreError},
    time::{Timestamp, after, before},
};
use autoscaler_testkit::{Moto, dynamo::create_state_table, unique};
use aws_sdk_dynamodb::types::AttributeValue;

struct Fixture {
    _moto: Moto,
    store: DynamoStateStore,
    client: aws_sdk_dynamodb::Client,
    cluster: ClusterId,
}

async fn fixture() -> Fixture {
    fixture_on(Moto::start().await).await
}

async fn fixture_on(moto: Moto) -> Fixture {
    let config = aws::bounded(&moto.sdk_config());
    let table = unique("state");
    let client = create_state_table(&config, &table).await;
    let store = DynamoStateStore::new(client.clone(), table);
    Fixture { _moto: moto, store, client, cluster: ClusterId::new(unique("prod")).unwrap() }
}

fn now() -> Timestamp {
    // Whole milliseconds: the lease is stored in epoch milliseconds.
    Timestamp::from_millisecond(Timestamp::now().as_millisecond()).unwrap()
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

impl Fixture {
    async fn acquire(&self, owner: &str, at: Timestamp) -> Result<Lease, StoreError> {
        self.store.acquire(&self.cluster, owner, at, after(at, secs(30))).await
    }

    async fn save(&self, state: &ClusterState, lease: &Lease, message: Option<&str>) -> Result<u64, StoreError> {
        self.store.save(state, lease, message, after(now(), secs(3600)), now()).await
    }

    async fn raw(&self, sk: &str) -> Option<std::collections::HashMap<String, AttributeValue>> {
        let key = |v: &str| AttributeValue::S(v.to_owned());
        self.client
            .get_item()
            .table_name(self.store.table())
            .key("cluster_id", key(self.cluster.as_str()))
            .key("sk", key(sk))
            .send()
            .await
            .unwrap()
            .item
    }
}

#[tokio::test]
async fn two_engines_racing_for_the_lease_one_wins_and_the_loser_is_told_it_is_held() {
    // moto evaluates two concurrent conditional writes without isolation (both can pass); the
    // wrapper handles requests one at a time, which is what DynamoDB guarantees per item.
    let f = fixture_on(Moto::start_atomic().await).await;
    let t = now();
    let (a, b) = tokio::join!(f.acquire("engine-a", t), f.acquire("engine-b", t));
    let (winner, loser) = match (a, b) {
        (Ok(w), Err(l)) | (Err(l), Ok(w)) => (w, l),
        other => panic!("expected exactly one winner, got {other:?}"),
    };
    assert_eq!(winner.token, 1);
    match &loser {
        StoreError::LeaseHeld { owner, until, .. } => {
            assert_eq!((owner, *until), (&winner.owner, winner.until));
        }
        other => panic!("expected LeaseHeld, got {other:?}"),
    }
    assert!(loser.retryable(), "a held lease must retry the message, not drop it");
}

#[tokio::test]
async fn an_expired_lease_is_taken_over_with_a_higher_token_and_the_old_holder_is_fenced_off() {
    let f = fixture().await;
    let t0 = now();
    let old = f.acquire("engine-a", t0).await.unwrap();
    let refused = f.acquire("engine-b", after(t0, secs(10))).await.unwrap_err();
    assert!(matches!(refused, StoreError::LeaseHeld { ref owner, .. } if owner == "engine-a"), "{refused:?}");

    let new = f.acquire("engine-b", after(t0, secs(31))).await.unwrap();
    assert!(new.token > old.token, "fencing token {} must exceed {}", new.token, old.token);

    let state = ClusterState::new(f.cluster.clone());
    let fenced = f.save(&state, &old, Some("m-old")).await.unwrap_err();
    assert!(matches!(fenced, StoreError::Conflict { expected: 0, .. }), "{fenced:?}");
    assert!(!f.store.seen(&f.cluster, "m-old", now()).await.unwrap());
    assert_eq!(f.save(&state, &new, Some("m-new")).await.unwrap(), 1);

    // The old holder's release must not free the new holder's lease.
    f.store.release(&old).await.unwrap();
    let still = f.acquire("engine-c", after(t0, secs(32))).await.unwrap_err();
    assert!(matches!(still, StoreError::LeaseHeld { ref owner, .. } if owner == "engine-b"), "{still:?}");
    // Its own release frees it at once, and the token keeps growing.
    f.store.release(&new).await.unwrap();
    let next = f.acquire("engine-c", after(t0, secs(33))).await.unwrap();
    assert_eq!(next.token, new.token + 1);
}

#[tokio::test]
async fn two_saves_from_the_same_read_one_conflicts_and_the_state_round_trips() {
    let f = fixture().await;
    let lease = f.acquire("engine-a", now()).await.unwrap();
    assert_eq!(f.store.load(&f.cluster).await.unwrap(), None, "a lease alone is not a state");

    let mut state = ClusterState::new(f.cluster.clone());
    state.node_count = 3;
    state.desired_count = 4;
    state.scaling_in_progress = true;
    state.last_scale_time = Some(before(now(), secs(60)));
    state.operation = Some(operation("op-1", Phase::Launching));
    assert_eq!(f.save(&state, &lease, None).await.unwrap(), 1);

    let read = f.store.load(&f.cluster).await.unwrap().expect("saved state");
    assert_eq!(read, ClusterState { version: 1, ..state.clone() });
    let item = f.raw("STATE").await.unwrap();
    assert_eq!(item["node_count"], AttributeValue::N("3".into()), "projections for operators");
    assert_eq!(item["operation_phase"], AttributeValue::S("launching".into()));

    let first = ClusterState { node_count: 4, ..read.clone() };
    let second = ClusterState { node_count: 5, ..read.clone() };
    assert_eq!(f.save(&first, &lease, None).await.unwrap(), 2);
    let conflict = f.save(&second, &lease, None).await.unwrap_err();
    assert!(matches!(conflict, StoreError::Conflict { expected: 1, .. }), "{conflict:?}");
    assert!(conflict.retryable());
    assert_eq!(f.store.load(&f.cluster).await.unwrap().unwrap().node_count, 4);
}

#[tokio::test]
async fn the_idempotency_record_is_written_with_the_state_and_never_by_a_refused_save() {
    let f = fixture().await;
    let lease = f.acquire("engine-a", now()).await.unwrap();
    let state = ClusterState::new(f.cluster.clone());
    assert!(!f.store.seen(&f.cluster, "m-1", now()).await.unwrap());

    assert_eq!(f.save(&state, &lease, Some("m-1")).await.unwrap(), 1);
    assert!(f.store.seen(&f.cluster, "m-1", now()).await.unwrap());

    // A save from a stale read conflicts and records nothing.
    let stale = f.save(&state, &lease, Some("m-2")).await.unwrap_err();
    assert!(matches!(stale, StoreError::Conflict { .. }), "{stale:?}");
    assert!(!f.store.seen(&f.cluster, "m-2", now()).await.unwrap());
    assert!(f.raw("MSG#m-2").await.is_none());

    // Recording a message twice is refused as a conflict, and leaves the state as it was; the
    // retried message is then recognised by `seen`.
    let current = f.store.load(&f.cluster).await.unwrap().unwrap();
    let again = f.save(&current, &lease, Some("m-1")).await.unwrap_err();
    assert!(matches!(again, StoreError::Conflict { expected: 1, .. }), "{again:?}");
    assert_eq!(f.store.load(&f.cluster).await.unwrap().unwrap().version, 1);
}

#[tokio::test]
async fn expired_idempotency_records_count_as_absent_even_though_moto_keeps_them() {
    let f = fixture().await;
    let t0 = now();
    let lease = f.acquire("engine-a", t0).await.unwrap();
    let state = ClusterState::new(f.cluster.clone());
    let expires = after(t0, secs(60));
    assert_eq!(f.store.save(&state, &lease, Some("m-old"), expires, t0).await.unwrap(), 1);
    // Live until it expires, to the second; then absent, although the item is still there.
    assert!(f.store.seen(&f.cluster, "m-old", after(t0, secs(59))).await.unwrap());
    assert!(!f.store.seen(&f.cluster, "m-old", expires).await.unwrap());
    assert!(f.raw("MSG#m-old").await.is_some(), "moto does not expire TTL items");

    // While live, it refuses recording the message again; once expired, it does not.
    let current = f.store.load(&f.cluster).await.unwrap().unwrap();
    let live = f.store.save(&current, &lease, Some("m-old"), after(t0, secs(3600)), after(t0, secs(30))).await;
    assert!(matches!(live, Err(StoreError::Conflict { .. })), "{live:?}");
    let later = after(t0, secs(61));
    assert_eq!(f.store.save(&current, &lease, Some("m-old"), after(later, secs(3600)), later).await.unwrap(), 2);
    assert!(f.store.seen(&f.cluster, "m-old", later).await.unwrap());
}

#[tokio::test]
async fn operation_and_decision_records_are_written_and_read_back() {
    let f = fixture().await;
    let mut op = operation("op-7", Phase::Launching);
    f.store.put_operation(&f.cluster, &op).await.unwrap();
    op.advance(Phase::WaitingReady, after(op.started_at, secs(600))).unwrap();
    op.instances = vec![autoscaler_core::InstanceId("i-0abc".into())];
    f.store.put_operation(&f.cluster, &op).await.unwrap();
    assert_eq!(
        f.store.operations(&f.cluster).await.unwrap(),
        vec![op.clone()],
        "one record per operation, latest write"
    );
    let sk = format!("OP#{}#op-7", op.started_at.strftime("%Y-%m-%dT%H:%M:%S%.3fZ"));
    assert_eq!(f.raw(&sk).await.unwrap()["phase"], AttributeValue::S("waiting_ready".into()));

    let t = now();
    let older = decision(&f.cluster, before(t, secs(120)), "m-1");
    let newer = decision(&f.cluster, t, "m-2");
    let expired = decision(&f.cluster, before(t, secs(60)), "m-3");
    f.store.put_decision(&older, after(t, secs(86_400))).await.unwrap();
    f.store.put_decision(&newer, after(t, secs(86_400))).await.unwrap();
    f.store.put_decision(&expired, before(t, secs(1))).await.unwrap();
    assert_eq!(
        f.store.decisions(&f.cluster, 10).await.unwrap(),
        vec![newer.clone(), older],
        "newest first, expired skipped"
    );
    assert_eq!(f.store.decisions(&f.cluster, 1).await.unwrap(), vec![newer]);
}

fn operation(id: &str, phase: Phase) -> Operation {
    let started: Timestamp = "2026-03-01T10:00:00.25Z".parse().unwrap();
    Operation {
        id: id.into(),
        kind: OperationKind::ScaleUp,
        phase,
        started_at: started,
        deadline: after(started, secs(60)),
        launch_count: 1,
        instances: vec![],
        nodes: vec![],
        avoid: vec![],
        reasons: vec!["CPU 82.4% > 70%".into()],
        result: None,
    }
}

fn decision(cluster: &ClusterId, at: Timestamp, message_id: &str) -> DecisionRecord {
    DecisionRecord {
        cluster_id: cluster.clone(),
        at,
        message_id: message_id.into(),
        inputs: serde_json::json!({"workers": 2, "cpu_percent": 82.4}),
        decision: Decision::none(2, vec!["within band".into()]),
        config_version: "cfg-1".into(),
        dry_run: false,
    }
}
