//! DescribeInstances for this cluster's workers (by tag, paginated) and the mapping of an EC2
//! instance to the port's `Instance`. Only filters moto supports are used: it answers unknown
//! filters with HTTP 500.

use autoscaler_core::{
    InstanceId, Lifecycle,
    ports::{CloudError, Instance},
    signal::InstanceState,
    time::Timestamp,
};
use aws_sdk_ec2::{
    operation::describe_instances::builders::DescribeInstancesFluentBuilder,
    types::{self, Filter, InstanceLifecycleType, InstanceStateName},
};

use super::{
    CLUSTER_TAG, Ec2Cloud, OPERATION_TAG,
    failure::{cloud_error, reduce},
};

/// Every state but `terminated`: an instance we must still count or clean up.
const LIVE_STATES: &[&str] = &["pending", "running", "stopping", "stopped", "shutting-down"];

impl Ec2Cloud {
    /// This cluster's instances that are not terminated, optionally only those of one operation.
    pub(super) async fn tagged(&self, operation: Option<&str>) -> Result<Vec<Instance>, CloudError> {
        let mut filters = vec![
            Filter::builder().name(format!("tag:{CLUSTER_TAG}")).values(self.cluster.as_str()).build(),
            Filter::builder()
                .name("instance-state-name")
                .set_values(Some(LIVE_STATES.iter().map(|s| s.to_string()).collect()))
                .build(),
        ];
        if let Some(op) = operation {
            filters.push(Filter::builder().name(format!("tag:{OPERATION_TAG}")).values(op).build());
        }
        let raw = self.describe(self.client.describe_instances().set_filters(Some(filters))).await?;
        Ok(raw.iter().filter_map(to_instance).collect())
    }

    /// Every instance of every page of one DescribeInstances request.
    pub(super) async fn describe(
        &self,
        request: DescribeInstancesFluentBuilder,
    ) -> Result<Vec<types::Instance>, CloudError> {
        let mut pages = request.into_paginator().send();
        let mut out = vec![];
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| cloud_error("describing workers", reduce(e)))?;
            out.extend(page.reservations().iter().flat_map(|r| r.instances().iter().cloned()));
        }
        Ok(out)
    }
}

/// The value of tag `key`.
pub(super) fn tag<'a>(instance: &'a types::Instance, key: &str) -> Option<&'a str> {
    instance.tags().iter().find(|t| t.key() == Some(key)).and_then(|t| t.value())
}

/// The port's view of an instance; `None` (logged) for an answer without an id or a known state.
pub(super) fn to_instance(i: &types::Instance) -> Option<Instance> {
    let (Some(id), Some(state)) = (i.instance_id(), i.state().and_then(|s| s.name()).and_then(state)) else {
        tracing::warn!(instance = ?i.instance_id(), state = ?i.state(), "Skipping an instance without id or known state.");
        return None;
    };
    Some(Instance {
        id: InstanceId(id.to_owned()),
        zone: i.placement().and_then(|p| p.availability_zone()).unwrap_or_default().to_owned(),
        instance_type: i.instance_type().map(|t| t.as_str().to_owned()).unwrap_or_default(),
        lifecycle: lifecycle(i.instance_lifecycle()),
        state,
        // Without a launch time the instance is treated as just launched, never as overdue.
        launched_at: i.launch_time().and_then(timestamp).unwrap_or_else(Timestamp::now),
        operation: tag(i, OPERATION_TAG).map(str::to_owned),
    })
}

/// Spot if EC2 says so; everything else (on-demand, scheduled, capacity blocks) is on-demand.
pub(super) fn lifecycle(l: Option<&InstanceLifecycleType>) -> Lifecycle {
    match l {
        Some(InstanceLifecycleType::Spot) => Lifecycle::Spot,
        _ => Lifecycle::OnDemand,
    }
}

/// The port's state of an EC2 state name.
pub(super) fn state(name: &InstanceStateName) -> Option<InstanceState> {
    Some(match name {
        InstanceStateName::Pending => InstanceState::Pending,
        InstanceStateName::Running => InstanceState::Running,
        InstanceStateName::Stopping => InstanceState::Stopping,
        InstanceStateName::Stopped => InstanceState::Stopped,
        InstanceStateName::ShuttingDown => InstanceState::ShuttingDown,
        InstanceStateName::Terminated => InstanceState::Terminated,
        _ => return None,
    })
}

/// An SDK date-time as a timestamp.
pub(super) fn timestamp(t: &aws_smithy_types::DateTime) -> Option<Timestamp> {
    Timestamp::new(t.secs(), t.subsec_nanos() as i32).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ec2::types::{InstanceState as Ec2State, Placement, Tag};

    #[test]
    fn an_ec2_instance_maps_to_the_ports_instance() {
        let i = types::Instance::builder()
            .instance_id("i-0abc")
            .placement(Placement::builder().availability_zone("us-east-1b").build())
            .instance_type(types::InstanceType::T3Small)
            .instance_lifecycle(InstanceLifecycleType::Spot)
            .state(Ec2State::builder().name(InstanceStateName::Running).build())
            .launch_time(aws_smithy_types::DateTime::from_secs(1_767_225_600))
            .tags(Tag::builder().key(OPERATION_TAG).value("op-1").build())
            .build();
        let got = to_instance(&i).unwrap();
        assert_eq!(got.id, InstanceId("i-0abc".into()));
        assert_eq!((got.zone.as_str(), got.instance_type.as_str()), ("us-east-1b", "t3.small"));
        assert_eq!((got.lifecycle, got.state), (Lifecycle::Spot, InstanceState::Running));
        assert_eq!(got.launched_at, "2026-01-01T00:00:00Z".parse::<Timestamp>().unwrap());
        assert_eq!(got.operation.as_deref(), Some("op-1"));
        assert_eq!(to_instance(&types::Instance::builder().instance_id("i-1").build()), None);
    }
}
