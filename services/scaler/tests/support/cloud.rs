//! What the end-to-end checks look at in moto, as a user would in the console: the cluster's
//! instances and their tags, its DynamoDB items and the queue's depth; plus the workers a cluster
//! already had before a test's alert.

use std::collections::HashMap;

use autoscaler_adapters::ec2::{CLUSTER_TAG, DEFAULT_LAUNCH_TEMPLATE_VERSION, MANAGED_TAG};
use autoscaler_core::ClusterId;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_ec2::types::{Filter, Instance, LaunchTemplateSpecification, ResourceType, Tag, TagSpecification};
use aws_sdk_sqs::types::QueueAttributeName;

use super::rig::Aws;

/// Launches `count` workers of `cluster` through the launch template, spread over the zones and
/// tagged like the autoscaler's own (without an operation: they predate this test's alerts).
pub async fn launch_workers(aws: &Aws, cluster: &ClusterId, count: usize) -> Vec<String> {
    let template = LaunchTemplateSpecification::builder()
        .launch_template_id(&aws.network.launch_template_id)
        .version(DEFAULT_LAUNCH_TEMPLATE_VERSION)
        .build();
    let tag = |k: &str, v: &str| Tag::builder().key(k).value(v).build();
    let tags = TagSpecification::builder()
        .resource_type(ResourceType::Instance)
        .tags(tag(CLUSTER_TAG, cluster.as_str()))
        .tags(tag(MANAGED_TAG, "true"))
        .tags(tag("Name", &format!("{cluster}-worker")))
        .build();
    let mut ids = vec![];
    for i in 0..count {
        let (_, subnet) = &aws.network.subnets[i % aws.network.subnets.len()];
        let out = aws
            .ec2
            .run_instances()
            .launch_template(template.clone())
            .subnet_id(subnet)
            .min_count(1)
            .max_count(1)
            .tag_specifications(tags.clone())
            .send()
            .await
            .unwrap_or_else(|e| panic!("launching worker {i} of {cluster}: {e:?}"));
        ids.extend(out.instances().iter().filter_map(|i| i.instance_id()).map(str::to_owned));
    }
    ids
}

/// `cluster`'s instances that are not terminated, as DescribeInstances by tag lists them.
pub async fn instances(aws: &Aws, cluster: &ClusterId) -> Vec<Instance> {
    let filter = |name: &str, values: &[&str]| {
        Filter::builder().name(name).set_values(Some(values.iter().map(|v| v.to_string()).collect())).build()
    };
    let out = aws
        .ec2
        .describe_instances()
        .filters(filter(&format!("tag:{CLUSTER_TAG}"), &[cluster.as_str()]))
        .filters(filter("instance-state-name", &["pending", "running"]))
        .send()
        .await
        .unwrap_or_else(|e| panic!("describing the instances of {cluster}: {e:?}"));
    out.reservations().iter().flat_map(|r| r.instances().iter().cloned()).collect()
}

/// The value of tag `key` on `instance`.
pub fn tag<'a>(instance: &'a Instance, key: &str) -> Option<&'a str> {
    instance.tags().iter().find(|t| t.key() == Some(key)).and_then(|t| t.value())
}

/// `cluster`'s `STATE` item (consistent read); empty if there is none.
pub async fn state_item(aws: &Aws, cluster: &ClusterId) -> HashMap<String, AttributeValue> {
    let out = aws
        .dynamodb
        .get_item()
        .table_name(&aws.table)
        .key("cluster_id", AttributeValue::S(cluster.to_string()))
        .key("sk", AttributeValue::S("STATE".into()))
        .consistent_read(true)
        .send()
        .await
        .unwrap_or_else(|e| panic!("reading the STATE item of {cluster}: {e:?}"));
    out.item().cloned().unwrap_or_default()
}

/// The sort keys of every item in `cluster`'s partition (`STATE`, `MSG#…`, `OP#…`, `DECISION#…`).
pub async fn sort_keys(aws: &Aws, cluster: &ClusterId) -> Vec<String> {
    let out = aws
        .dynamodb
        .query()
        .table_name(&aws.table)
        .key_condition_expression("cluster_id = :c")
        .expression_attribute_values(":c", AttributeValue::S(cluster.to_string()))
        .consistent_read(true)
        .send()
        .await
        .unwrap_or_else(|e| panic!("querying the items of {cluster}: {e:?}"));
    out.items().iter().filter_map(|i| i.get("sk")?.as_s().ok().cloned()).collect()
}

/// The queue's approximate depth: (visible, in flight).
pub async fn queue_depth(aws: &Aws, queue_url: &str) -> (u64, u64) {
    let out = aws
        .sqs
        .get_queue_attributes()
        .queue_url(queue_url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .unwrap_or_else(|e| panic!("reading the attributes of {queue_url}: {e:?}"));
    let count = |name: QueueAttributeName| {
        out.attributes().and_then(|a| a.get(&name)).and_then(|v| v.parse().ok()).expect("a queue depth attribute")
    };
    (
        count(QueueAttributeName::ApproximateNumberOfMessages),
        count(QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
    )
}
