//! `DynamoStateStore` against scripted DynamoDB answers (aws-smithy-mocks, SDK retries
//! disabled): how throttling, server errors, a missing table, a refused request, a cancelled
//! transaction and an unreachable endpoint become transient or permanent `StoreError`s.

use autoscaler_adapters::dynamo::DynamoStateStore;
use autoscaler_core::{
    ClusterId, ClusterState,
    ports::{Lease, StateStore, StoreError},
    time::Timestamp,
};
use aws_sdk_dynamodb::{
    Client, Config,
    config::{BehaviorVersion, Credentials, Region, retry::RetryConfig},
};
use aws_smithy_mocks::{MockResponseInterceptor, Rule, RuleMode, create_mock_http_client, mock};

fn config() -> aws_sdk_dynamodb::config::Builder {
    Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "test"))
        .retry_config(RetryConfig::disabled())
}

fn store(rules: &[&Rule]) -> DynamoStateStore {
    let interceptor =
        rules.iter().fold(MockResponseInterceptor::new().rule_mode(RuleMode::MatchAny), |i, r| i.with_rule(r));
    let client = Client::from_conf(config().http_client(create_mock_http_client()).interceptor(interceptor).build());
    DynamoStateStore::new(client, "state")
}

/// A DynamoDB JSON error body.
fn error_body(code: &str) -> String {
    format!(r#"{{"__type":"com.amazonaws.dynamodb.v20120810#{code}","message":"scripted {code}"}}"#)
}

/// Every call of the store answers `status` with error `code`.
fn failing(status: u16, code: &str) -> DynamoStateStore {
    let body = error_body(code);
    let get = mock!(Client::get_item).sequence().http_status(status, Some(body.clone())).repeatedly().build();
    let update = mock!(Client::update_item).sequence().http_status(status, Some(body.clone())).repeatedly().build();
    let transact =
        mock!(Client::transact_write_items).sequence().http_status(status, Some(body.clone())).repeatedly().build();
    let put = mock!(Client::put_item).sequence().http_status(status, Some(body)).repeatedly().build();
    store(&[&get, &update, &transact, &put])
}

fn cluster() -> ClusterId {
    ClusterId::new("prod").unwrap()
}

fn lease() -> Lease {
    Lease { cluster_id: cluster(), owner: "engine-a".into(), until: Timestamp::MAX, token: 1 }
}

/// One result of each store call.
async fn every_call(store: &DynamoStateStore) -> Vec<(&'static str, StoreError)> {
    let now = Timestamp::now();
    let state = ClusterState::new(cluster());
    vec![
        ("seen", store.seen(&cluster(), "m-1", now).await.unwrap_err()),
        ("acquire", store.acquire(&cluster(), "engine-a", now, Timestamp::MAX).await.unwrap_err()),
        ("release", store.release(&lease()).await.unwrap_err()),
        ("load", store.load(&cluster()).await.unwrap_err()),
        ("save", store.save(&state, &lease(), Some("m-1"), now, now).await.unwrap_err()),
    ]
}

#[tokio::test]
async fn throttling_and_server_errors_are_transient_for_every_call() {
    for (status, code) in [
        (400, "ProvisionedThroughputExceededException"),
        (400, "ThrottlingException"),
        (400, "RequestLimitExceeded"),
        (500, "InternalServerError"),
        (503, "ServiceUnavailable"),
    ] {
        for (call, err) in every_call(&failing(status, code)).await {
            assert!(matches!(err, StoreError::Transient { .. }), "{call} with {code}: {err:?}");
            assert!(err.retryable());
        }
    }
}

#[tokio::test]
async fn a_missing_table_refused_access_and_bad_requests_are_permanent() {
    for code in ["ResourceNotFoundException", "AccessDeniedException", "ValidationException"] {
        for (call, err) in every_call(&failing(400, code)).await {
            assert!(matches!(err, StoreError::Permanent { .. }), "{call} with {code}: {err:?}");
            assert!(!err.retryable(), "{call} with {code}");
            let cause = std::error::Error::source(&err).expect("cause").to_string();
            assert!(cause.starts_with(code), "{call}: the cause names the code: {cause}");
        }
    }
    let err = failing(400, "ResourceNotFoundException").load(&cluster()).await.unwrap_err();
    assert_eq!(err.to_string(), "loading the cluster state on the state store");
}

#[tokio::test]
async fn a_transaction_cancelled_by_another_transaction_is_transient_not_a_conflict() {
    let body = r#"{"__type":"com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
        "Message":"Transaction cancelled, please refer cancellation reasons for specific reasons [TransactionConflict, None]",
        "CancellationReasons":[{"Code":"TransactionConflict","Message":"Transaction is ongoing for the item"},{"Code":"None"}]}"#;
    let transact = mock!(Client::transact_write_items).sequence().http_status(400, Some(body.to_owned())).build();
    let store = store(&[&transact]);
    let now = Timestamp::now();
    let err = store.save(&ClusterState::new(cluster()), &lease(), Some("m-1"), now, now).await.unwrap_err();
    assert!(matches!(err, StoreError::Transient { .. }), "{err:?}");
}

#[tokio::test]
async fn an_unreachable_endpoint_is_transient() {
    // A port that was free a moment ago: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let client = Client::from_conf(config().endpoint_url(format!("http://127.0.0.1:{port}")).build());
    let err = DynamoStateStore::new(client, "state").load(&cluster()).await.unwrap_err();
    assert!(matches!(err, StoreError::Transient { .. }), "{err:?}");
}
