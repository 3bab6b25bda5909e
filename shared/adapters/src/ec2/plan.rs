//! The launch plan: which workers are still missing (slots) and, for each, the ordered attempts
//! (zone, instance type, market) to try on capacity errors. Pure, so the order is unit-tested.
//!
//! Slots are numbered on-demand first, then Spot, and slot `k` prefers zone `k mod zones` (so a
//! request spreads across zones). Slots the operation already has instances for are skipped, so
//! a retried launch plans only the remainder, with the same slot numbers as the first try.

use autoscaler_core::{Lifecycle, ports::LaunchRequest};

/// One worker to launch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Slot {
    /// Its number within the operation (stable across retries; part of its client tokens).
    pub index: u32,
    /// The purchase option requested.
    pub market: Lifecycle,
}

/// One RunInstances attempt for a slot.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Attempt {
    pub zone: String,
    pub instance_type: String,
    pub market: Lifecycle,
}

impl Attempt {
    /// The capacity pool it draws from, for messages: `us-east-1a/t3.small/spot`.
    pub(crate) fn pool(&self) -> String {
        format!("{}/{}/{}", self.zone, self.instance_type, market_name(self.market))
    }
}

/// `spot` or `on-demand`.
pub(crate) fn market_name(market: Lifecycle) -> &'static str {
    match market {
        Lifecycle::Spot => "spot",
        Lifecycle::OnDemand => "on-demand",
    }
}

/// The slots still to launch when the operation already has `existing` instances.
pub(crate) fn slots(request: &LaunchRequest, existing: usize) -> Vec<Slot> {
    let on_demand = std::iter::repeat_n(Lifecycle::OnDemand, request.on_demand as usize);
    let spot = std::iter::repeat_n(Lifecycle::Spot, request.spot as usize);
    on_demand.chain(spot).zip(0u32..).skip(existing).map(|(market, index)| Slot { index, market }).collect()
}

/// The attempts of `slot` in order: every zone from its preferred one on, for each instance type
/// in order; for a Spot slot, then the same sequence on-demand. Avoided zone/type pairs are left
/// out in every market.
pub(crate) fn attempts(slot: Slot, zones: &[String], types: &[String], avoid: &[(String, String)]) -> Vec<Attempt> {
    let markets: &[Lifecycle] = match slot.market {
        Lifecycle::Spot => &[Lifecycle::Spot, Lifecycle::OnDemand],
        Lifecycle::OnDemand => &[Lifecycle::OnDemand],
    };
    let first = if zones.is_empty() { 0 } else { slot.index as usize % zones.len() };
    let rotated: Vec<&String> = zones.iter().cycle().skip(first).take(zones.len()).collect();
    let mut out = vec![];
    for &market in markets {
        for t in types {
            for z in &rotated {
                if avoid.iter().any(|(az, at)| az == *z && at == t) {
                    continue;
                }
                out.push(Attempt { zone: (*z).clone(), instance_type: t.clone(), market });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(on_demand: u32, spot: u32) -> LaunchRequest {
        LaunchRequest {
            operation_id: "op-1".into(),
            on_demand,
            spot,
            zones: vec!["a".into(), "b".into()],
            instance_types: vec!["t3.small".into(), "t3a.small".into()],
            avoid: vec![],
        }
    }

    fn labels(attempts: &[Attempt]) -> Vec<String> {
        attempts.iter().map(Attempt::pool).collect()
    }

    #[test]
    fn slots_are_on_demand_first_and_skip_what_the_operation_has() {
        let all = slots(&request(1, 2), 0);
        assert_eq!(
            all.iter().map(|s| (s.index, s.market)).collect::<Vec<_>>(),
            [(0, Lifecycle::OnDemand), (1, Lifecycle::Spot), (2, Lifecycle::Spot)]
        );
        assert_eq!(slots(&request(1, 2), 2), [Slot { index: 2, market: Lifecycle::Spot }]);
        assert!(slots(&request(1, 2), 5).is_empty());
    }

    #[test]
    fn spot_falls_back_across_zones_then_types_then_to_on_demand() {
        let r = request(0, 2);
        let a = attempts(Slot { index: 1, market: Lifecycle::Spot }, &r.zones, &r.instance_types, &[]);
        assert_eq!(
            labels(&a),
            [
                "b/t3.small/spot",
                "a/t3.small/spot",
                "b/t3a.small/spot",
                "a/t3a.small/spot",
                "b/t3.small/on-demand",
                "a/t3.small/on-demand",
                "b/t3a.small/on-demand",
                "a/t3a.small/on-demand",
            ]
        );
    }

    #[test]
    fn on_demand_never_becomes_spot_and_avoided_pools_are_skipped() {
        let r = request(1, 0);
        let avoid = [("a".to_string(), "t3.small".to_string())];
        let a = attempts(Slot { index: 0, market: Lifecycle::OnDemand }, &r.zones, &r.instance_types, &avoid);
        assert_eq!(labels(&a), ["b/t3.small/on-demand", "a/t3a.small/on-demand", "b/t3a.small/on-demand"]);
    }
}
