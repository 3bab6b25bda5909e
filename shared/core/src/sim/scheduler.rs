//! The kube-scheduler's default placement, as the simulated cluster uses it: each Pending pod
//! goes to the Ready, uncordoned worker where it fits by requests and that has the most CPU
//! left (the `LeastAllocated` score), so replicas spread over the workers instead of packing the
//! first ones. Pods that fit nowhere are left to the world's scheduler, which marks them
//! unschedulable.

use crate::{PodPhase, Resources, memory::WorldState};

/// Binds every Pending pod that fits somewhere, largest first.
pub fn spread(w: &mut WorldState) {
    let mut room: Vec<(usize, Resources)> = w
        .nodes
        .iter()
        .enumerate()
        .filter(|(_, n)| n.is_worker() && n.schedulable())
        .map(|(i, n)| (i, n.allocatable))
        .collect();
    if room.is_empty() {
        return;
    }
    for p in w.pods.iter().filter(|p| p.node.is_some() && !p.is_terminal()) {
        if let Some(r) = room.iter_mut().find(|(i, _)| p.node.as_deref() == Some(w.nodes[*i].name.as_str())) {
            r.1 = r.1.saturating_sub(&p.requests);
        }
    }
    let mut pending: Vec<usize> = (0..w.pods.len()).filter(|&i| w.pods[i].is_unschedulable()).collect();
    pending.sort_by(|&a, &b| w.pods[b].requests.cpu_millis.cmp(&w.pods[a].requests.cpu_millis).then(a.cmp(&b)));
    for i in pending {
        let req = w.pods[i].requests;
        let best = room
            .iter_mut()
            .filter(|(_, free)| req.fits_in(free))
            .max_by(|(a, fa), (b, fb)| fa.cpu_millis.cmp(&fb.cpu_millis).then(b.cmp(a)));
        if let Some((node, free)) = best {
            *free = free.saturating_sub(&req);
            let name = w.nodes[*node].name.clone();
            let p = &mut w.pods[i];
            p.node = Some(name.into());
            p.phase = PodPhase::Running;
            p.pending_since = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        Lifecycle,
        memory::{ManualClock, World},
        testing,
    };

    #[test]
    fn pending_pods_spread_over_the_least_allocated_workers() {
        let w = World::new(ManualClock::at("2026-06-01T00:00:00Z".parse().unwrap()));
        let a = w.add_worker("a", Lifecycle::OnDemand);
        let b = w.add_worker("b", Lifecycle::OnDemand);
        let cordoned = w.add_worker("a", Lifecycle::OnDemand);
        w.lock().nodes.iter_mut().filter(|n| n.name == cordoned.0).for_each(|n| n.cordoned = true);
        let now = "2026-06-01T00:00:00Z".parse().unwrap();
        {
            let mut s = w.lock();
            for k in 0..6 {
                s.pods.push(testing::pending("shop", &format!("web-{k}"), 300, now));
            }
            s.pods.push(testing::pending("shop", "huge", 5000, now));
            spread(&mut s);
        }
        let s = w.lock();
        let on = |n: &str| s.pods.iter().filter(|p| p.namespace == "shop" && p.node.as_deref() == Some(n)).count();
        assert_eq!((on(&a.0), on(&b.0), on(&cordoned.0)), (3, 3, 0));
        let huge = s.pods.iter().find(|p| p.name == "huge").unwrap();
        assert!(huge.is_unschedulable(), "a pod larger than any worker stays Pending");
    }
}
