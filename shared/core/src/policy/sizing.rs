//! How many workers the demand needs: target tracking on CPU, and bin-packing of Pending pods'
//! requests onto the room left plus new workers. Pure arithmetic.

use super::view::{View, pack};
use crate::Policy;

/// Workers needed so that `demand_millis` runs at the target utilisation on workers of
/// `worker_cpu` millicores: `ceil(demand / (worker_cpu × target))`.
pub fn cpu_target(demand_millis: f64, worker_cpu: u64, policy: &Policy) -> u32 {
    let per_worker = worker_cpu as f64 * policy.target_utilization_percent / 100.0;
    if per_worker <= 0.0 || demand_millis <= 0.0 {
        return 0;
    }
    let n = (demand_millis / per_worker).ceil();
    if n >= u32::MAX as f64 { u32::MAX } else { n as u32 }
}

/// The busy worker millicores the last CPU reading stands for.
pub(crate) fn demand_millis(view: &View<'_>) -> Option<f64> {
    let cpu = &view.snap.state.cpu;
    match (cpu.demand_cores, cpu.percent) {
        (Some(cores), _) => Some(cores * 1000.0),
        (None, Some(pct)) => Some(pct / 100.0 * view.ready_capacity_millis() as f64),
        (None, None) => None,
    }
}

/// New workers needed to place the Pending pods: first into the room left on schedulable
/// workers, then onto fresh workers of the typical size. Pods larger than a whole worker can
/// never be placed and are returned separately, so they never cause a scale-up.
pub(crate) struct PendingFit {
    /// New workers needed.
    pub new_workers: u32,
    /// `namespace/name` of pods no worker could hold.
    pub too_large: Vec<String>,
}

pub(crate) fn pending_fit(view: &View<'_>) -> PendingFit {
    let size = view.worker_size;
    let (fits, too_large): (Vec<_>, Vec<_>) = view.pending.iter().partition(|p| p.requests.fits_in(&size));
    let mut room = view.free_room(None);
    let mut left = pack(&fits, &mut room);
    let mut new_workers = 0u32;
    while !left.is_empty() {
        new_workers += 1;
        let mut fresh = [size];
        left = pack(&left, &mut fresh);
    }
    PendingFit { new_workers, too_large: too_large.iter().map(|p| p.key()).collect() }
}

/// Formats millicores as cores for reasons: `2500` → `2.50`.
pub(crate) fn cores(millis: f64) -> String {
    format!("{:.2}", millis / 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_target_tracks_the_target_utilisation() {
        let p = Policy::default();
        // 2.5 busy cores on 2-core workers at 65%: ceil(2.5 / 1.3) = 2.
        assert_eq!(cpu_target(2500.0, 2000, &p), 2);
        // 8 busy cores (80% of 5 workers): ceil(8 / 1.3) = 7.
        assert_eq!(cpu_target(8000.0, 2000, &p), 7);
        assert_eq!(cpu_target(0.0, 2000, &p), 0);
    }
}
