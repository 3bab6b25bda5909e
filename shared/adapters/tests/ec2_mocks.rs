//! `Ec2Cloud` against scripted EC2 answers (aws-smithy-mocks; EC2 errors as the XML EC2 sends):
//! the exact fallback order on capacity errors, Spot → on-demand, quota errors failing fast,
//! throttling, what RunInstances is sent, and terminate's refusal of instances not ours.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use autoscaler_adapters::ec2::{self, Ec2Cloud, Ec2Settings};
use autoscaler_core::{
    ClusterId, InstanceId, Lifecycle,
    ports::{Cloud, CloudError, LaunchRequest},
};
use aws_sdk_ec2::{
    Client, Config,
    config::{BehaviorVersion, Credentials, Region, retry::RetryConfig},
    operation::{
        describe_instances::DescribeInstancesOutput,
        run_instances::{RunInstancesInput, RunInstancesOutput},
        terminate_instances::TerminateInstancesOutput,
    },
    types::{Instance, InstanceState, InstanceStateName, MarketType, Placement, Reservation, ResourceType, Tag},
};
use aws_smithy_mocks::{MockResponse, MockResponseInterceptor, Rule, RuleMode, create_mock_http_client, mock};
use aws_smithy_runtime_api::http::{Response, StatusCode};
use aws_smithy_types::body::SdkBody;

const SUBNETS: &str = "us-east-1a=subnet-aaa,us-east-1b=subnet-bbb";

/// What each RunInstances asked for.
#[derive(Debug, Clone, PartialEq)]
struct Call {
    subnet: String,
    instance_type: String,
    market: &'static str,
    token: String,
}

type Calls = Arc<Mutex<Vec<Call>>>;

/// An EC2 error answer.
fn ec2_error(status: u16, code: &str) -> Response {
    let body = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error><Code>{code}</Code><Message>scripted {code}</Message></Error></Errors><RequestID>req-1</RequestID></Response>"#
    );
    Response::new(StatusCode::try_from(status).unwrap(), SdkBody::from(body))
}

fn call_of(input: &RunInstancesInput) -> Call {
    let spot = input.instance_market_options().and_then(|m| m.market_type()) == Some(&MarketType::Spot);
    Call {
        subnet: input.subnet_id().unwrap_or_default().to_owned(),
        instance_type: input.instance_type().map(|t| t.as_str().to_owned()).unwrap_or_default(),
        market: if spot { "spot" } else { "on-demand" },
        token: input.client_token().unwrap_or_default().to_owned(),
    }
}

/// RunInstances answered by `script` (an error `(status, code)` or success), every call recorded.
fn run_instances(calls: &Calls, script: impl Fn(&Call) -> Option<(u16, &'static str)> + Send + Sync + 'static) -> Rule {
    let calls = calls.clone();
    mock!(Client::run_instances).then_compute_response(move |input| {
        let call = call_of(input);
        calls.lock().unwrap().push(call.clone());
        if let Some((status, code)) = script(&call) {
            return MockResponse::Http(ec2_error(status, code));
        }
        let n = calls.lock().unwrap().len();
        let zone = if call.subnet == "subnet-aaa" { "us-east-1a" } else { "us-east-1b" };
        let instance = Instance::builder()
            .instance_id(format!("i-{n:04}"))
            .placement(Placement::builder().availability_zone(zone).build())
            .instance_type(call.instance_type.as_str().into())
            .build();
        MockResponse::Output(RunInstancesOutput::builder().instances(instance).build())
    })
}

/// DescribeInstances answering `instances` in one reservation.
fn describe(instances: Vec<Instance>) -> Rule {
    mock!(Client::describe_instances).then_output(move || {
        DescribeInstancesOutput::builder()
            .reservations(Reservation::builder().set_instances(Some(instances.clone())).build())
            .build()
    })
}

fn config() -> aws_sdk_ec2::config::Builder {
    Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "test"))
        .retry_config(RetryConfig::disabled())
}

fn cloud_with(config: aws_sdk_ec2::config::Builder, rules: &[&Rule]) -> Ec2Cloud {
    let interceptor =
        rules.iter().fold(MockResponseInterceptor::new().rule_mode(RuleMode::MatchAny), |i, r| i.with_rule(r));
    let config = ec2::with_launch_retry_rule(config.http_client(create_mock_http_client()).interceptor(interceptor));
    let settings = Ec2Settings {
        cluster: ClusterId::new("prod").unwrap(),
        launch_template_id: "lt-0123".into(),
        launch_template_version: "$Latest".into(),
        subnets: SUBNETS.parse().unwrap(),
        instance_types: vec!["t3.small".into()],
    };
    Ec2Cloud::new(Client::from_conf(config.build()), settings)
}

fn cloud(rules: &[&Rule]) -> Ec2Cloud {
    cloud_with(config(), rules)
}

fn request(on_demand: u32, spot: u32) -> LaunchRequest {
    LaunchRequest {
        operation_id: "op-1".into(),
        on_demand,
        spot,
        zones: vec!["us-east-1a".into(), "us-east-1b".into()],
        instance_types: vec!["t3.small".into(), "t3a.small".into()],
        avoid: vec![],
    }
}

fn pools(calls: &Calls) -> Vec<(String, String, &'static str)> {
    calls.lock().unwrap().iter().map(|c| (c.subnet.clone(), c.instance_type.clone(), c.market)).collect()
}

fn pool(subnet: &str, t: &str, market: &'static str) -> (String, String, &'static str) {
    (subnet.into(), t.into(), market)
}

#[tokio::test]
async fn spot_capacity_errors_walk_zones_then_types_then_fall_back_to_on_demand() {
    let calls = Calls::default();
    let run = run_instances(&calls, |c| match (c.subnet.as_str(), c.instance_type.as_str(), c.market) {
        ("subnet-aaa", "t3.small", "spot") => Some((500, "InsufficientInstanceCapacity")),
        ("subnet-bbb", "t3.small", "spot") => Some((400, "SpotMaxPriceTooLow")),
        ("subnet-aaa", "t3a.small", "spot") => Some((400, "Unsupported")),
        ("subnet-bbb", "t3a.small", "spot") => Some((500, "InsufficientInstanceCapacity")),
        ("subnet-aaa", "t3.small", "on-demand") => Some((500, "InsufficientInstanceCapacity")),
        _ => None,
    });
    let result = cloud(&[&describe(vec![]), &run]).launch(&request(0, 1)).await.unwrap();

    assert_eq!(
        pools(&calls),
        [
            pool("subnet-aaa", "t3.small", "spot"),
            pool("subnet-bbb", "t3.small", "spot"),
            pool("subnet-aaa", "t3a.small", "spot"),
            pool("subnet-bbb", "t3a.small", "spot"),
            pool("subnet-aaa", "t3.small", "on-demand"),
            pool("subnet-bbb", "t3.small", "on-demand"),
        ]
    );
    let [worker] = result.instances.as_slice() else { panic!("one worker expected: {result:?}") };
    assert_eq!((worker.zone.as_str(), worker.instance_type.as_str()), ("us-east-1b", "t3.small"));
    assert_eq!(worker.lifecycle, Lifecycle::OnDemand);
    assert_eq!(worker.operation.as_deref(), Some("op-1"));
    assert_eq!(
        result.fallbacks,
        [
            "InsufficientInstanceCapacity in us-east-1a for t3.small (spot)",
            "SpotMaxPriceTooLow in us-east-1b for t3.small (spot)",
            "Unsupported in us-east-1a for t3a.small (spot)",
            "InsufficientInstanceCapacity in us-east-1b for t3a.small (spot)",
            "InsufficientInstanceCapacity in us-east-1a for t3.small (on-demand)",
        ]
    );
    let tokens: std::collections::HashSet<_> = calls.lock().unwrap().iter().map(|c| c.token.clone()).collect();
    assert_eq!(tokens.len(), 6, "every attempt has its own client token");
}

#[tokio::test]
async fn on_demand_workers_never_become_spot_and_no_capacity_anywhere_is_reported() {
    let calls = Calls::default();
    let run = run_instances(&calls, |_| Some((500, "InsufficientInstanceCapacity")));
    let err = cloud(&[&describe(vec![]), &run]).launch(&request(1, 0)).await.unwrap_err();
    assert!(matches!(&err, CloudError::NoCapacity { codes } if codes == "InsufficientInstanceCapacity"), "{err:?}");
    assert_eq!(
        pools(&calls),
        [
            pool("subnet-aaa", "t3.small", "on-demand"),
            pool("subnet-bbb", "t3.small", "on-demand"),
            pool("subnet-aaa", "t3a.small", "on-demand"),
            pool("subnet-bbb", "t3a.small", "on-demand"),
        ]
    );
}

#[tokio::test]
async fn workers_spread_across_zones_and_later_workers_skip_pools_found_empty() {
    let calls = Calls::default();
    let run = run_instances(&calls, |c| (c.subnet == "subnet-aaa").then_some((500, "InsufficientInstanceCapacity")));
    let result = cloud(&[&describe(vec![]), &run]).launch(&request(3, 0)).await.unwrap();
    // Slot 0 prefers 1a (no capacity) and lands in 1b; slot 1 prefers 1b; slot 2 prefers 1a,
    // which this launch already found empty, so it goes straight to 1b.
    assert_eq!(
        pools(&calls),
        [
            pool("subnet-aaa", "t3.small", "on-demand"),
            pool("subnet-bbb", "t3.small", "on-demand"),
            pool("subnet-bbb", "t3.small", "on-demand"),
            pool("subnet-bbb", "t3.small", "on-demand"),
        ]
    );
    assert_eq!(result.instances.len(), 3);
    assert_eq!(result.fallbacks.len(), 1);
}

#[tokio::test]
async fn quota_errors_fail_fast_after_exactly_one_call() {
    for code in ["InstanceLimitExceeded", "VcpuLimitExceeded", "MaxSpotInstanceCountExceeded"] {
        let calls = Calls::default();
        let run = run_instances(&calls, move |_| Some((400, code)));
        let err = cloud(&[&describe(vec![]), &run]).launch(&request(1, 1)).await.unwrap_err();
        assert!(matches!(&err, CloudError::Quota { code: c } if c == code), "{code}: {err:?}");
        assert!(!err.retryable());
        assert_eq!(calls.lock().unwrap().len(), 1, "{code}: no further attempts");
    }
}

#[tokio::test]
async fn throttling_and_server_errors_are_transient() {
    for (status, code) in [(503, "RequestLimitExceeded"), (500, "InternalError"), (503, "Unavailable")] {
        let calls = Calls::default();
        let run = run_instances(&calls, move |_| Some((status, code)));
        let err = cloud(&[&describe(vec![]), &run]).launch(&request(1, 0)).await.unwrap_err();
        assert!(matches!(&err, CloudError::Transient { code: c, .. } if c == code), "{code}: {err:?}");
        assert!(err.retryable());
        assert_eq!(calls.lock().unwrap().len(), 1, "{code}: the SDK's retries are off in this test");
    }
    let bad = run_instances(&Calls::default(), |_| Some((400, "InvalidLaunchTemplateId.NotFound")));
    let err = cloud(&[&describe(vec![]), &bad]).launch(&request(1, 0)).await.unwrap_err();
    assert!(
        matches!(&err, CloudError::Permanent { code, .. } if code == "InvalidLaunchTemplateId.NotFound"),
        "{err:?}"
    );
}

#[tokio::test]
async fn with_sdk_retries_on_capacity_answers_move_to_the_next_pool_while_throttling_is_retried() {
    // The mock serves an SDK retry from the same rule, so calls are counted per rule.
    let retries = RetryConfig::standard().with_max_attempts(3).with_initial_backoff(Duration::from_millis(1));
    let zone_a = mock!(Client::run_instances)
        .match_requests(|i| i.subnet_id() == Some("subnet-aaa"))
        .then_http_response(|| ec2_error(500, "InsufficientInstanceCapacity"));
    let zone_b = mock!(Client::run_instances)
        .match_requests(|i| i.subnet_id() == Some("subnet-bbb"))
        .sequence()
        .http_response(|| ec2_error(503, "RequestLimitExceeded"))
        .output(|| RunInstancesOutput::builder().instances(Instance::builder().instance_id("i-b").build()).build())
        .build();
    let cloud = cloud_with(config().retry_config(retries), &[&describe(vec![]), &zone_a, &zone_b]);
    let result = cloud.launch(&request(1, 0)).await.unwrap();
    assert_eq!(result.instances[0].id.as_str(), "i-b");
    assert_eq!(zone_a.num_calls(), 1, "InsufficientInstanceCapacity (HTTP 500) is not retried in the same pool");
    assert_eq!(zone_b.num_calls(), 2, "RequestLimitExceeded is retried by the SDK");
}

#[tokio::test]
async fn a_retried_launch_launches_only_what_the_operation_lacks() {
    let calls = Calls::default();
    let earlier = worker("i-earlier", &[("k3s-autoscaler/cluster", "prod"), ("k3s-autoscaler/operation", "op-1")]);
    let run = run_instances(&calls, |_| None);
    let result = cloud(&[&describe(vec![earlier]), &run]).launch(&request(2, 0)).await.unwrap();
    assert_eq!(result.instances.iter().map(|i| i.id.as_str()).collect::<Vec<_>>(), ["i-earlier", "i-0001"]);
    // Slot 1 prefers the second zone, as in the first try.
    assert_eq!(pools(&calls), [pool("subnet-bbb", "t3.small", "on-demand")]);
}

#[tokio::test]
async fn spot_is_one_time_terminate_on_interruption_and_workers_are_tagged() {
    let seen: Arc<Mutex<Vec<RunInstancesInput>>> = Arc::default();
    let record = seen.clone();
    let run = mock!(Client::run_instances).then_compute_output(move |input| {
        record.lock().unwrap().push(input.clone());
        RunInstancesOutput::builder().instances(Instance::builder().instance_id("i-1").build()).build()
    });
    cloud(&[&describe(vec![]), &run]).launch(&request(0, 1)).await.unwrap();
    let input = seen.lock().unwrap()[0].clone();
    let spot = input.instance_market_options().and_then(|m| m.spot_options()).expect("spot options");
    assert_eq!(spot.spot_instance_type().map(|t| t.as_str()), Some("one-time"));
    assert_eq!(spot.instance_interruption_behavior().map(|b| b.as_str()), Some("terminate"));
    let template = input.launch_template().unwrap();
    assert_eq!((template.launch_template_id(), template.version()), (Some("lt-0123"), Some("$Latest")));
    assert_eq!((input.min_count(), input.max_count()), (Some(1), Some(1)));
    for resource in [ResourceType::Instance, ResourceType::Volume] {
        let spec = input.tag_specifications().iter().find(|s| s.resource_type() == Some(&resource)).expect("tags");
        let tags: Vec<_> = spec.tags().iter().map(|t| (t.key().unwrap(), t.value().unwrap())).collect();
        assert_eq!(
            tags,
            [
                ("k3s-autoscaler/cluster", "prod"),
                ("k3s-autoscaler/managed", "true"),
                ("k3s-autoscaler/operation", "op-1"),
                ("Name", "prod-worker"),
            ]
        );
    }
}

fn worker(id: &str, tags: &[(&str, &str)]) -> Instance {
    Instance::builder()
        .instance_id(id)
        .state(InstanceState::builder().name(InstanceStateName::Running).build())
        .placement(Placement::builder().availability_zone("us-east-1a").build())
        .set_tags(Some(tags.iter().map(|(k, v)| Tag::builder().key(*k).value(*v).build()).collect()))
        .build()
}

#[tokio::test]
async fn terminate_refuses_instances_not_tagged_as_our_managed_workers() {
    for tags in [
        &[][..],
        &[("k3s-autoscaler/cluster", "prod")],
        &[("k3s-autoscaler/cluster", "other"), ("k3s-autoscaler/managed", "true")],
        &[("k3s-autoscaler/cluster", "prod"), ("k3s-autoscaler/managed", "false")],
    ] {
        let terminate = mock!(Client::terminate_instances).then_output(|| TerminateInstancesOutput::builder().build());
        let cloud = cloud(&[&describe(vec![worker("i-0abc", tags)]), &terminate]);
        let err = cloud.terminate(&InstanceId("i-0abc".into())).await.unwrap_err();
        assert!(matches!(&err, CloudError::NotOurs { id } if id.as_str() == "i-0abc"), "{tags:?}: {err:?}");
        assert_eq!(terminate.num_calls(), 0, "{tags:?}: TerminateInstances must not be called");
    }
}

#[tokio::test]
async fn terminate_acts_on_our_workers_and_succeeds_for_instances_already_gone() {
    let ours = [("k3s-autoscaler/cluster", "prod"), ("k3s-autoscaler/managed", "true")];
    let terminate = mock!(Client::terminate_instances).then_output(|| TerminateInstancesOutput::builder().build());
    cloud(&[&describe(vec![worker("i-0abc", &ours)]), &terminate])
        .terminate(&InstanceId("i-0abc".into()))
        .await
        .unwrap();
    assert_eq!(terminate.num_calls(), 1);

    let mut gone = worker("i-0abc", &ours);
    gone.state = Some(InstanceState::builder().name(InstanceStateName::Terminated).build());
    let terminate = mock!(Client::terminate_instances).then_output(|| TerminateInstancesOutput::builder().build());
    cloud(&[&describe(vec![gone]), &terminate]).terminate(&InstanceId("i-0abc".into())).await.unwrap();
    assert_eq!(terminate.num_calls(), 0, "already terminated");

    let not_found =
        mock!(Client::describe_instances).then_http_response(|| ec2_error(400, "InvalidInstanceID.NotFound"));
    let terminate = mock!(Client::terminate_instances).then_output(|| TerminateInstancesOutput::builder().build());
    cloud(&[&not_found, &terminate]).terminate(&InstanceId("i-0abc".into())).await.unwrap();
    assert_eq!(terminate.num_calls(), 0, "unknown to EC2");
}
