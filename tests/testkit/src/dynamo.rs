//! The state table as CONTRACTS.md defines it (pk `cluster_id` S, sk `sk` S, TTL `expires_at`,
//! on-demand), created in moto for a test.

use aws_config::SdkConfig;
use aws_sdk_dynamodb::{
    Client,
    types::{
        AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType, TimeToLiveSpecification,
    },
};

/// Creates the state table `name` and enables its TTL; panics with the cause on failure.
pub async fn create_state_table(config: &SdkConfig, name: &str) -> Client {
    let client = Client::new(config);
    let attr = |n: &str| {
        AttributeDefinition::builder()
            .attribute_name(n)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .expect("attribute")
    };
    let key = |n: &str, t| KeySchemaElement::builder().attribute_name(n).key_type(t).build().expect("key");
    client
        .create_table()
        .table_name(name)
        .attribute_definitions(attr("cluster_id"))
        .attribute_definitions(attr("sk"))
        .key_schema(key("cluster_id", KeyType::Hash))
        .key_schema(key("sk", KeyType::Range))
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .unwrap_or_else(|e| panic!("creating table {name}: {e:?}"));
    let ttl = TimeToLiveSpecification::builder().attribute_name("expires_at").enabled(true).build().expect("ttl");
    client
        .update_time_to_live()
        .table_name(name)
        .time_to_live_specification(ttl)
        .send()
        .await
        .unwrap_or_else(|e| panic!("enabling TTL on {name}: {e:?}"));
    client
}
