//! EC2 events through the engine: Spot interruptions and rebalance recommendations replaced,
//! never below min_workers, and managed instances lost outside the autoscaler.

use std::time::Duration;

use super::*;
use crate::{Lifecycle, OperationKind, Phase, message::Kind, signal::InstanceState, testing::pod};

#[test]
fn spot_interruption_drains_at_once_and_replaces_within_the_notice() {
    let mut h = Harness::new(2);
    let spot = h.world.add_worker("us-east-1a", Lifecycle::Spot);
    h.world.lock().pods.push(pod("shop", "cart-0", &spot.0, 300));
    let sig =
        Signal::SpotInterruption { instance_id: spot.clone(), action_at: after(h.now(), Duration::from_secs(120)) };
    let m = h.envelope(Kind::Ec2Event, sig);
    h.send(&m).unwrap();
    assert_eq!(h.calls("cordon"), vec![format!("cordon {spot}")]);
    assert!(h.calls("evict").iter().any(|c| c.contains("cart-0")), "{:?}", h.calls("evict"));
    let op = h.state().operation.unwrap();
    assert_eq!((op.kind, op.launch_count), (OperationKind::SpotReplace, 1));
    assert_eq!(h.calls("launch").len(), 1, "replacement launched in the same message");
    assert!(h.calls("launch")[0].contains("us-east-1b"), "another zone preferred: {:?}", h.calls("launch"));
    // EC2 takes the instance at the end of the notice.
    h.wait(120);
    h.world.lock().instances.get_mut(&spot).unwrap().state = InstanceState::Terminated;
    let gone = h.envelope(
        Kind::Ec2Event,
        Signal::InstanceStateChange { instance_id: spot.clone(), state: InstanceState::Terminated },
    );
    h.send(&gone).unwrap();
    assert_eq!(h.calls("delete-node"), vec![format!("delete-node {spot}")]);
    assert!(!h.kinds().contains(&NotificationKind::InstanceLost), "an expected loss is not reported as one");
    assert!(h.kinds().contains(&NotificationKind::SpotInterruption));
}

#[test]
fn never_below_min_workers_even_under_interruption() {
    let mut h = Harness::new(0);
    let a = h.world.add_worker("us-east-1a", Lifecycle::Spot);
    let b = h.world.add_worker("us-east-1b", Lifecycle::Spot);
    for (i, id) in [&a, &b].into_iter().enumerate() {
        let sig =
            Signal::SpotInterruption { instance_id: id.clone(), action_at: after(h.now(), Duration::from_secs(120)) };
        let m = h.envelope(Kind::Ec2Event, sig);
        h.send(&m).unwrap();
        assert_eq!(h.state().replacements_owed, i as u32, "the second replacement waits for the slot");
    }
    h.wait(120);
    for id in [&a, &b] {
        h.world.lock().instances.get_mut(id).unwrap().state = InstanceState::Terminated;
        let m = h.envelope(
            Kind::Ec2Event,
            Signal::InstanceStateChange { instance_id: id.clone(), state: InstanceState::Terminated },
        );
        h.send(&m).unwrap();
    }
    h.run_ticks(300, 60);
    assert_eq!(h.workers(), 2, "both interrupted workers replaced: {:?}", h.calls(""));
    assert!(h.world.lock().nodes.iter().all(|n| n.ready));
}

#[test]
fn rebalance_launches_the_replacement_first_then_drains() {
    let mut h = Harness::new(3);
    let at_risk = h.world.lock().nodes[0].instance_id.clone().unwrap();
    let m = h.envelope(Kind::Ec2Event, Signal::Rebalance { instance_id: at_risk.clone() });
    h.send(&m).unwrap();
    assert_eq!(h.calls("launch").len(), 1);
    assert!(h.calls("cordon").is_empty(), "no drain before the replacement is Ready");
    h.run_ticks(120, 60);
    assert_eq!(h.calls("cordon"), vec![format!("cordon {at_risk}")]);
    h.run_ticks(180, 60);
    assert_eq!(h.state().operation.unwrap().phase, Phase::Done);
    assert_eq!(h.calls("terminate"), vec![format!("terminate {at_risk}")]);
    assert_eq!(h.workers(), 3);
}

#[test]
fn managed_instances_lost_outside_the_autoscaler_are_cleaned_up_and_reported() {
    let mut h = Harness::new(3);
    let id = h.world.lock().nodes[1].instance_id.clone().unwrap();
    h.world.lock().instances.get_mut(&id).unwrap().state = InstanceState::Terminated;
    let m = h.envelope(
        Kind::Ec2Event,
        Signal::InstanceStateChange { instance_id: id.clone(), state: InstanceState::Terminated },
    );
    h.send(&m).unwrap();
    assert_eq!(h.calls("delete-node"), vec![format!("delete-node {id}")]);
    assert!(h.kinds().contains(&NotificationKind::InstanceLost));
    // An unknown instance changes nothing.
    let m = h.envelope(
        Kind::Ec2Event,
        Signal::InstanceStateChange {
            instance_id: crate::InstanceId("i-unknown".into()),
            state: InstanceState::Terminated,
        },
    );
    let Outcome::Processed { actions, .. } = h.send(&m).unwrap() else { panic!() };
    assert!(actions.iter().any(|a| a.contains("not one of this cluster's workers")), "{actions:?}");
    assert_eq!(h.calls("delete-node").len(), 1);
}
