//! Launching an operation's workers: find what the operation already launched (by its tag),
//! then one RunInstances per missing worker through the launch template, walking the plan's
//! fallback order on capacity errors, failing fast on quota errors.
//!
//! Two guards keep a retried operation from launching twice: the describe-by-tag step (works
//! everywhere, even where `ClientToken` is ignored, as in moto) and a deterministic `ClientToken`
//! per slot and attempt (covers a describe that lags behind RunInstances). The token includes the
//! slot number because several slots of one operation may draw from the same pool.
//!
//! A worker that finds no capacity in any pool fails the call with `NoCapacity` (as the
//! in-memory cloud does); workers already launched keep their operation tag and are found by the
//! next try. A quota, transient or permanent error stops the call at once, the same way.

use std::collections::HashSet;

use autoscaler_core::{
    Lifecycle,
    message::id::client_token,
    ports::{CloudError, Instance, LaunchRequest, LaunchResult},
    signal::InstanceState,
    time::Timestamp,
};
use aws_sdk_ec2::types::{
    InstanceInterruptionBehavior, InstanceMarketOptionsRequest, InstanceType, LaunchTemplateSpecification, MarketType,
    ResourceType, SpotInstanceType, SpotMarketOptions, Tag, TagSpecification,
};

use super::{
    CLUSTER_TAG, Ec2Cloud, MANAGED_TAG, OPERATION_TAG,
    describe::{lifecycle, timestamp},
    failure::{Ec2Failure, launch_failure, reduce},
    plan::{self, Attempt, Slot, market_name},
};
use crate::error::SdkFailure;

/// What one launch call has learnt so far.
#[derive(Debug, Default)]
struct Progress {
    /// Pools that answered with a capacity error: later slots skip them.
    exhausted: HashSet<Attempt>,
    /// One line per capacity error routed around.
    fallbacks: Vec<String>,
    /// The distinct capacity codes met.
    codes: Vec<String>,
}

impl Ec2Cloud {
    /// `Cloud::launch`.
    pub(super) async fn launch_workers(&self, request: &LaunchRequest) -> Result<LaunchResult, CloudError> {
        let (zones, types) = self.pools(request)?;
        let mut instances = self.tagged(Some(&request.operation_id)).await?;
        let slots = plan::slots(request, instances.len());
        if !instances.is_empty() {
            tracing::info!(operation = %request.operation_id, found = instances.len(), missing = slots.len(), "Operation already has workers; launching only the rest.");
        }
        let mut progress = Progress::default();
        for slot in slots {
            match self.launch_slot(request, slot, &zones, &types, &mut progress).await? {
                Some(instance) => instances.push(instance),
                None => return Err(CloudError::NoCapacity { codes: progress.codes.join(", ") }),
            }
        }
        Ok(LaunchResult { instances, fallbacks: progress.fallbacks })
    }

    /// The request's zones that have a subnet (all of ours if it names none) and its instance
    /// types (ours if it names none).
    fn pools(&self, request: &LaunchRequest) -> Result<(Vec<String>, Vec<String>), CloudError> {
        let zones: Vec<String> = if request.zones.is_empty() {
            self.subnets.zones().map(str::to_owned).collect()
        } else {
            request.zones.iter().filter(|z| self.subnets.get(z).is_some()).cloned().collect()
        };
        let types = if request.instance_types.is_empty() {
            self.instance_types.clone()
        } else {
            request.instance_types.clone()
        };
        if zones.is_empty() || types.is_empty() {
            let why = format!("no subnet for zones {:?} or no instance types {:?}", request.zones, types);
            return Err(CloudError::Permanent {
                operation: "planning the launch",
                code: "NoSubnetForZone".to_owned(),
                source: SdkFailure::described("NoSubnetForZone", false, why).cause(),
            });
        }
        Ok((zones, types))
    }

    /// Tries the slot's attempts in order; `None` when every pool lacked capacity.
    async fn launch_slot(
        &self,
        request: &LaunchRequest,
        slot: Slot,
        zones: &[String],
        types: &[String],
        progress: &mut Progress,
    ) -> Result<Option<Instance>, CloudError> {
        for attempt in plan::attempts(slot, zones, types, &request.avoid) {
            if progress.exhausted.contains(&attempt) {
                continue;
            }
            match self.run(request, slot, &attempt).await {
                Ok(instance) => return Ok(Some(instance)),
                Err(Ec2Failure::Capacity(code)) => {
                    let line = format!(
                        "{code} in {} for {} ({})",
                        attempt.zone,
                        attempt.instance_type,
                        market_name(attempt.market)
                    );
                    tracing::warn!(operation = %request.operation_id, slot = slot.index, pool = %attempt.pool(), code = %code, "No capacity; trying the next pool.");
                    if !progress.codes.contains(&code) {
                        progress.codes.push(code);
                    }
                    progress.fallbacks.push(line);
                    progress.exhausted.insert(attempt);
                }
                Err(Ec2Failure::Fatal(e)) => return Err(e),
            }
        }
        Ok(None)
    }

    /// One RunInstances of one worker for `attempt`.
    async fn run(&self, request: &LaunchRequest, slot: Slot, attempt: &Attempt) -> Result<Instance, Ec2Failure> {
        let subnet = self.subnets.get(&attempt.zone).unwrap_or_default();
        let token = client_token(&request.operation_id, &format!("{}/{}", slot.index, attempt.pool()));
        let template = LaunchTemplateSpecification::builder()
            .launch_template_id(&self.launch_template_id)
            .version(&self.launch_template_version)
            .build();
        let mut call = self
            .client
            .run_instances()
            .launch_template(template)
            .subnet_id(subnet)
            .instance_type(InstanceType::from(attempt.instance_type.as_str()))
            .min_count(1)
            .max_count(1)
            .client_token(token)
            .tag_specifications(self.tags(ResourceType::Instance, &request.operation_id))
            .tag_specifications(self.tags(ResourceType::Volume, &request.operation_id));
        if attempt.market == Lifecycle::Spot {
            call = call.instance_market_options(spot_options());
        }
        let out = call.send().await.map_err(|e| launch_failure(reduce(e)))?;
        let Some(i) = out.instances().first() else {
            return Err(launch_failure(SdkFailure::malformed("RunInstances returned no instance")));
        };
        let Some(id) = i.instance_id() else {
            return Err(launch_failure(SdkFailure::malformed("RunInstances returned an instance without id")));
        };
        tracing::info!(operation = %request.operation_id, instance = id, pool = %attempt.pool(), "Worker launched.");
        Ok(Instance {
            id: autoscaler_core::InstanceId(id.to_owned()),
            zone: attempt.zone.clone(),
            instance_type: attempt.instance_type.clone(),
            // What EC2 reports wins; the attempt's market if it reports nothing.
            lifecycle: i.instance_lifecycle().map_or(attempt.market, |l| lifecycle(Some(l))),
            state: InstanceState::Pending,
            launched_at: i.launch_time().and_then(timestamp).unwrap_or_else(Timestamp::now),
            operation: Some(request.operation_id.clone()),
        })
    }

    /// The tags of a worker's instance or volume (CONTRACTS.md).
    fn tags(&self, resource: ResourceType, operation: &str) -> TagSpecification {
        let tag = |k: &str, v: &str| Tag::builder().key(k).value(v).build();
        TagSpecification::builder()
            .resource_type(resource)
            .tags(tag(CLUSTER_TAG, self.cluster.as_str()))
            .tags(tag(MANAGED_TAG, "true"))
            .tags(tag(OPERATION_TAG, operation))
            .tags(tag("Name", &format!("{}-worker", self.cluster)))
            .build()
    }
}

/// One-time Spot, terminated on interruption (the 2-minute notice drains the node first).
fn spot_options() -> InstanceMarketOptionsRequest {
    InstanceMarketOptionsRequest::builder()
        .market_type(MarketType::Spot)
        .spot_options(
            SpotMarketOptions::builder()
                .spot_instance_type(SpotInstanceType::OneTime)
                .instance_interruption_behavior(InstanceInterruptionBehavior::Terminate)
                .build(),
        )
        .build()
}
