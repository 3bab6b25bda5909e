//! Terminating one worker: described first, and terminated only if it carries this cluster's
//! tag and `managed=true`. An instance that is already gone (or going) is success.

use autoscaler_core::{InstanceId, ports::CloudError};

use super::{
    CLUSTER_TAG, Ec2Cloud, MANAGED_TAG,
    describe::tag,
    failure::{NOT_FOUND, cloud_error, reduce},
};
use aws_sdk_ec2::types::InstanceStateName;

impl Ec2Cloud {
    /// `Cloud::terminate`.
    pub(super) async fn terminate_worker(&self, id: &InstanceId) -> Result<(), CloudError> {
        let found = match self.describe(self.client.describe_instances().instance_ids(id.as_str())).await {
            Ok(found) => found,
            Err(e) if e.code() == NOT_FOUND => {
                tracing::info!(instance = %id, "Instance already gone.");
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        let Some(instance) = found.iter().find(|i| i.instance_id() == Some(id.as_str())) else {
            tracing::info!(instance = %id, "Instance already gone.");
            return Ok(());
        };
        let ours =
            tag(instance, CLUSTER_TAG) == Some(self.cluster.as_str()) && tag(instance, MANAGED_TAG) == Some("true");
        if !ours {
            tracing::warn!(instance = %id, cluster = %self.cluster, "Refusing to terminate an instance not tagged as our worker.");
            return Err(CloudError::NotOurs { id: id.clone() });
        }
        let state = instance.state().and_then(|s| s.name());
        if matches!(state, Some(InstanceStateName::Terminated | InstanceStateName::ShuttingDown)) {
            tracing::info!(instance = %id, state = ?state, "Instance already terminating.");
            return Ok(());
        }
        match self.client.terminate_instances().instance_ids(id.as_str()).send().await {
            Ok(_) => {
                tracing::info!(instance = %id, "Worker terminated.");
                Ok(())
            }
            Err(e) => {
                let failure = reduce(e);
                if failure.code == NOT_FOUND {
                    return Ok(());
                }
                Err(cloud_error("terminating a worker", failure))
            }
        }
    }
}
