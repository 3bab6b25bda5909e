//! `Ec2Cloud` against EC2 emulated by moto server: a VPC with subnets in two zones and a worker
//! launch template; launches with per-attempt subnet and type, tags on real instances and
//! volumes, listing by tag, guarded termination. The patched wrapper (tests/moto) adds what moto
//! lacks: ClientToken idempotency and capacity errors, to test the token path and the fallback.

use autoscaler_adapters::{
    aws,
    ec2::{self, Ec2Cloud, Ec2Settings},
};
use autoscaler_core::{
    ClusterId, InstanceId, Lifecycle,
    ports::{Cloud, CloudError, LaunchRequest},
    signal::InstanceState,
};
use autoscaler_testkit::{
    Moto,
    ec2::{Network, network},
    unique,
};
use aws_sdk_ec2::types::{Filter, Instance, InstanceStateName};

struct Fixture {
    _moto: Moto,
    cloud: Ec2Cloud,
    raw: aws_sdk_ec2::Client,
    net: Network,
    cluster: ClusterId,
}

async fn fixture(moto: Moto) -> Fixture {
    let config = aws::bounded(&moto.sdk_config());
    let net = network(&config, &unique("workers")).await;
    let cluster = ClusterId::new(unique("prod")).unwrap();
    let settings = Ec2Settings {
        cluster: cluster.clone(),
        launch_template_id: net.launch_template_id.clone(),
        launch_template_version: ec2::DEFAULT_LAUNCH_TEMPLATE_VERSION.into(),
        subnets: net.subnets_setting().parse().unwrap(),
        instance_types: vec!["t3.small".into()],
    };
    let cloud = Ec2Cloud::new(ec2::client(&config), settings);
    Fixture { _moto: moto, cloud, raw: aws_sdk_ec2::Client::new(&config), net, cluster }
}

fn request(operation: &str, on_demand: u32, spot: u32) -> LaunchRequest {
    LaunchRequest {
        operation_id: operation.into(),
        on_demand,
        spot,
        zones: vec!["us-east-1a".into(), "us-east-1b".into()],
        instance_types: vec!["t3.small".into(), "t3a.small".into()],
        avoid: vec![],
    }
}

impl Fixture {
    fn subnet(&self, zone: &str) -> &str {
        &self.net.subnets.iter().find(|(z, _)| z == zone).unwrap().1
    }

    /// Every instance moto holds for this cluster's tag, in any state.
    async fn tagged(&self) -> Vec<Instance> {
        let filter = Filter::builder().name("tag:k3s-autoscaler/cluster").values(self.cluster.as_str()).build();
        let out = self.raw.describe_instances().filters(filter).send().await.unwrap();
        out.reservations().iter().flat_map(|r| r.instances().iter().cloned()).collect()
    }

    async fn raw_instance(&self, id: &str) -> Instance {
        let out = self.raw.describe_instances().instance_ids(id).send().await.unwrap();
        out.reservations()[0].instances()[0].clone()
    }

    /// An instance launched outside the autoscaler, without our tags.
    async fn stranger(&self) -> String {
        let out = self
            .raw
            .run_instances()
            .image_id("ami-12c6146b")
            .min_count(1)
            .max_count(1)
            .subnet_id(self.subnet("us-east-1a"))
            .send()
            .await
            .unwrap();
        out.instances()[0].instance_id().unwrap().to_owned()
    }
}

fn tag<'a>(i: &'a Instance, key: &str) -> Option<&'a str> {
    i.tags().iter().find(|t| t.key() == Some(key)).and_then(|t| t.value())
}

#[tokio::test]
async fn workers_launch_through_the_template_with_per_attempt_subnet_and_type_and_carry_our_tags() {
    let f = fixture(Moto::start().await).await;
    let result = f.cloud.launch(&request("op-up-1", 1, 1)).await.unwrap();
    assert_eq!(result.instances.len(), 2);
    assert!(result.fallbacks.is_empty());

    // Slot 0 (on-demand) prefers the first zone, slot 1 (Spot) the second.
    let expected = [("us-east-1a", Lifecycle::OnDemand), ("us-east-1b", Lifecycle::Spot)];
    for (worker, (zone, lifecycle)) in result.instances.iter().zip(expected) {
        let raw = f.raw_instance(worker.id.as_str()).await;
        assert_eq!(raw.subnet_id(), Some(f.subnet(zone)), "{worker:?}");
        assert_eq!(raw.placement().and_then(|p| p.availability_zone()), Some(zone));
        assert_eq!(raw.instance_type().map(|t| t.as_str()), Some("t3.small"));
        assert_eq!(
            tag(&raw, "aws:ec2launchtemplate:id"),
            Some(f.net.launch_template_id.as_str()),
            "launched through the template"
        );
        assert_eq!(tag(&raw, "k3s-autoscaler/cluster"), Some(f.cluster.as_str()));
        assert_eq!(tag(&raw, "k3s-autoscaler/managed"), Some("true"));
        assert_eq!(tag(&raw, "k3s-autoscaler/operation"), Some("op-up-1"));
        assert_eq!(tag(&raw, "Name"), Some(format!("{}-worker", f.cluster).as_str()));
        assert_eq!(worker.lifecycle, lifecycle);
    }

    let volumes = f
        .raw
        .describe_volumes()
        .filters(Filter::builder().name("tag:k3s-autoscaler/operation").values("op-up-1").build())
        .send()
        .await
        .unwrap();
    assert_eq!(volumes.volumes().len(), 2, "root volumes are tagged too");

    f.stranger().await;
    let mut listed = f.cloud.instances().await.unwrap();
    listed.sort_by_key(|i| i.zone.clone());
    assert_eq!(listed.len(), 2, "only this cluster's workers are listed: {listed:?}");
    assert_eq!(listed.iter().map(|i| (i.zone.as_str(), i.lifecycle)).collect::<Vec<_>>(), expected);
    assert!(listed.iter().all(|i| i.operation.as_deref() == Some("op-up-1") && i.instance_type == "t3.small"));
}

#[tokio::test]
async fn a_retried_launch_of_the_same_operation_finds_its_workers_instead_of_launching_again() {
    let f = fixture(Moto::start().await).await;
    let first = f.cloud.launch(&request("op-up-2", 2, 0)).await.unwrap();
    let again = f.cloud.launch(&request("op-up-2", 2, 0)).await.unwrap();
    let ids = |r: &autoscaler_core::ports::LaunchResult| {
        let mut ids: Vec<_> = r.instances.iter().map(|i| i.id.clone()).collect();
        ids.sort();
        ids
    };
    assert_eq!(ids(&first), ids(&again));
    assert_eq!(f.tagged().await.len(), 2);
}

#[tokio::test]
async fn terminate_removes_our_worker_and_refuses_an_untagged_instance() {
    let f = fixture(Moto::start().await).await;
    let worker = f.cloud.launch(&request("op-up-3", 1, 0)).await.unwrap().instances.remove(0);
    assert_eq!(worker.state, InstanceState::Pending);

    f.cloud.terminate(&worker.id).await.unwrap();
    let state = f.raw_instance(worker.id.as_str()).await.state().and_then(|s| s.name()).cloned();
    assert!(matches!(state, Some(InstanceStateName::Terminated | InstanceStateName::ShuttingDown)), "{state:?}");
    assert!(f.cloud.instances().await.unwrap().is_empty(), "a terminated worker is not listed");
    f.cloud.terminate(&worker.id).await.unwrap();
    f.cloud.terminate(&InstanceId("i-0123456789abcdef0".into())).await.unwrap();

    let stranger = f.stranger().await;
    let err = f.cloud.terminate(&InstanceId(stranger.clone())).await.unwrap_err();
    assert!(matches!(&err, CloudError::NotOurs { id } if id.as_str() == stranger), "{err:?}");
    let state = f.raw_instance(&stranger).await.state().and_then(|s| s.name()).cloned();
    assert_eq!(state, Some(InstanceStateName::Running), "the untagged instance is untouched");
}

#[tokio::test]
async fn the_client_token_alone_keeps_a_retried_launch_from_duplicating() {
    // moto ignores ClientToken; the wrapper answers a repeated token with the first launch,
    // as EC2 does. Removing the operation tag makes the describe-by-tag step miss the first
    // launch (as a lagging DescribeInstances would), so only the token can prevent a duplicate.
    let f = fixture(Moto::start_injecting("[]").await).await;
    let first = f.cloud.launch(&request("op-up-4", 1, 0)).await.unwrap().instances.remove(0);
    f.raw
        .delete_tags()
        .resources(first.id.as_str())
        .tags(aws_sdk_ec2::types::Tag::builder().key("k3s-autoscaler/operation").build())
        .send()
        .await
        .unwrap();

    let again = f.cloud.launch(&request("op-up-4", 1, 0)).await.unwrap();
    assert_eq!(again.instances.iter().map(|i| &i.id).collect::<Vec<_>>(), [&first.id]);
    assert_eq!(f.tagged().await.len(), 1, "no second instance was launched");

    // Another operation's launch is a new token and a new instance.
    f.cloud.launch(&request("op-up-5", 1, 0)).await.unwrap();
    assert_eq!(f.tagged().await.len(), 2);
}

#[tokio::test]
async fn a_capacity_error_in_one_zone_lands_the_worker_in_the_other_with_the_fallback_recorded() {
    // moto never runs out of capacity; the wrapper answers this one RunInstances as EC2 would.
    let errors = r#"[{"code": "InsufficientInstanceCapacity", "zone": "us-east-1a",
                      "instance_type": "t3.small", "market": "on-demand", "times": 1}]"#;
    let f = fixture(Moto::start_injecting(errors).await).await;
    let result = f.cloud.launch(&request("op-up-6", 1, 0)).await.unwrap();

    let [worker] = result.instances.as_slice() else { panic!("one worker expected: {result:?}") };
    assert_eq!(worker.zone, "us-east-1b");
    assert_eq!(f.raw_instance(worker.id.as_str()).await.subnet_id(), Some(f.subnet("us-east-1b")));
    assert_eq!(result.fallbacks, ["InsufficientInstanceCapacity in us-east-1a for t3.small (on-demand)"]);
    assert_eq!(f.tagged().await.len(), 1);
}
