//! The world's EC2 view: `MemoryCloud` behind the `Cloud` port (launches with scripted
//! capacity and quota errors, idempotent by operation, terminations logged).

use super::World;
use crate::{
    InstanceId, Lifecycle,
    ports::{Clock, Cloud, CloudError, Instance, LaunchRequest, LaunchResult},
    signal::InstanceState,
};

/// The world's EC2 view.
#[derive(Debug, Clone)]
pub struct MemoryCloud<C>(pub(super) World<C>);

impl<C: Clock> Cloud for MemoryCloud<C> {
    async fn instances(&self) -> Result<Vec<Instance>, CloudError> {
        let w = self.0.lock();
        Ok(w.instances.values().filter(|i| i.state != InstanceState::Terminated).cloned().collect())
    }

    async fn launch(&self, req: &LaunchRequest) -> Result<LaunchResult, CloudError> {
        let now = self.0.clock.now();
        let mut w = self.0.lock();
        let mut have: Vec<Instance> =
            w.instances.values().filter(|i| i.operation.as_deref() == Some(&req.operation_id)).cloned().collect();
        let mut fallbacks = vec![];
        let itype = req.instance_types.first().cloned().unwrap_or_else(|| "t3.small".into());
        let wanted: Vec<Lifecycle> = std::iter::repeat_n(Lifecycle::OnDemand, req.on_demand as usize)
            .chain(std::iter::repeat_n(Lifecycle::Spot, req.spot as usize))
            .collect();
        for (k, lifecycle) in wanted.into_iter().enumerate().skip(have.len()) {
            let mut placed = false;
            let zones = req.zones.iter().cycle().skip(k).take(req.zones.len());
            for zone in zones {
                match w.scripted(zone, now) {
                    Some(e) if e.code.ends_with("LimitExceeded") => {
                        return Err(CloudError::Quota { code: e.code.clone() });
                    }
                    Some(e) => fallbacks.push(format!("{} in {zone} for {itype}", e.code)),
                    None => {
                        let id = w.new_instance(zone, &itype, lifecycle, Some(req.operation_id.clone()), now);
                        w.calls.push(format!("launch {} {itype} {zone} {lifecycle:?} {id}", req.operation_id));
                        have.push(w.instances[&id].clone());
                        placed = true;
                        break;
                    }
                }
            }
            if !placed {
                return Err(CloudError::NoCapacity { codes: fallbacks.join(", ") });
            }
        }
        Ok(LaunchResult { instances: have, fallbacks })
    }

    async fn terminate(&self, id: &InstanceId) -> Result<(), CloudError> {
        let mut w = self.0.lock();
        let Some(inst) = w.instances.get_mut(id) else { return Err(CloudError::NotOurs { id: id.clone() }) };
        // Every call is logged: tests check that no instance other than the intended one is hit.
        inst.state = InstanceState::Terminated;
        w.calls.push(format!("terminate {id}"));
        if let Some(n) = w.nodes.iter_mut().find(|n| n.instance_id.as_ref() == Some(id)) {
            n.ready = false;
        }
        Ok(())
    }
}
