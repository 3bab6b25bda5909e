//! A worker network in moto: a VPC, one subnet in each of two zones and a worker launch
//! template, like the SAM template creates them.

use aws_config::SdkConfig;
use aws_sdk_ec2::{
    Client,
    types::{RequestLaunchTemplateData, ResourceType, Tag, TagSpecification},
};

/// What `network` created.
#[derive(Debug, Clone)]
pub struct Network {
    /// The VPC.
    pub vpc_id: String,
    /// `(zone, subnet id)` for us-east-1a and us-east-1b.
    pub subnets: Vec<(String, String)>,
    /// The worker launch template.
    pub launch_template_id: String,
}

impl Network {
    /// The subnets as the `SUBNETS` setting (`az=subnet-id,az=subnet-id`).
    pub fn subnets_setting(&self) -> String {
        self.subnets.iter().map(|(z, s)| format!("{z}={s}")).collect::<Vec<_>>().join(",")
    }
}

/// The zones `network` creates subnets in.
pub const ZONES: [&str; 2] = ["us-east-1a", "us-east-1b"];

/// Creates a VPC, a subnet per zone and a launch template named `name` (t3.small, an AMI id,
/// a template-level tag); panics with the cause on failure.
pub async fn network(config: &SdkConfig, name: &str) -> Network {
    let ec2 = Client::new(config);
    let vpc = ec2.create_vpc().cidr_block("10.0.0.0/16").send().await.expect("creating the VPC");
    let vpc_id = vpc.vpc().and_then(|v| v.vpc_id()).expect("VPC id").to_owned();
    let mut subnets = vec![];
    for (i, zone) in ZONES.iter().enumerate() {
        let out = ec2
            .create_subnet()
            .vpc_id(&vpc_id)
            .cidr_block(format!("10.0.{i}.0/24"))
            .availability_zone(*zone)
            .send()
            .await
            .unwrap_or_else(|e| panic!("creating the subnet in {zone}: {e:?}"));
        subnets.push((zone.to_string(), out.subnet().and_then(|s| s.subnet_id()).expect("subnet id").to_owned()));
    }
    let data = RequestLaunchTemplateData::builder()
        .image_id("ami-12c6146b")
        .instance_type(aws_sdk_ec2::types::InstanceType::T3Small)
        .build();
    let template = ec2
        .create_launch_template()
        .launch_template_name(name)
        .launch_template_data(data)
        .tag_specifications(
            TagSpecification::builder()
                .resource_type(ResourceType::LaunchTemplate)
                .tags(Tag::builder().key("Name").value(name).build())
                .build(),
        )
        .send()
        .await
        .unwrap_or_else(|e| panic!("creating launch template {name}: {e:?}"));
    let launch_template_id =
        template.launch_template().and_then(|t| t.launch_template_id()).expect("launch template id").to_owned();
    Network { vpc_id, subnets, launch_template_id }
}
