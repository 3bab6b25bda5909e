//! The properties checked on every reachable state of the protocol model.

use stateright::{Model, Property};

use super::{
    protocol::Protocol,
    system::{ALL, At, MESSAGES, Pc, Phase, Sys, bit, flag},
};

fn never(s: &Sys, f: u8) -> bool {
    s.flags & f == 0
}

/// Nothing can happen any more: every message recorded, the queue drained, no intent left
/// unlaunched, every persisted operation launched exactly once.
fn settled(s: &Sys) -> bool {
    s.store.records == ALL
        && s.store.item.applied == ALL
        && s.queue.iter().all(|c| c.at == At::Deleted)
        && s.store.item.op.is_none_or(|op| op.phase != Phase::Launching)
        && (0..MESSAGES).all(|op| s.persisted & bit(op) == 0 || s.ec2.launches[usize::from(op)] == 1)
}

pub fn all(model: &Protocol) -> Vec<Property<Protocol>> {
    let mut properties = vec![
        Property::always("1a. no operation launches its workers twice", |_, s: &Sys| {
            s.ec2.launches.iter().all(|&n| n <= 1)
        }),
        Property::always("1b. a recorded message never starts an operation again", |_, s: &Sys| {
            never(s, flag::RECORDED_ACTED)
        }),
        Property::always("1c. every launch follows its persisted intent", |_, s: &Sys| {
            (0..MESSAGES).all(|op| s.ec2.launches[usize::from(op)] == 0 || s.persisted & bit(op) != 0)
        }),
        Property::always("2. a recorded message's effects are persisted", |_, s: &Sys| {
            s.store.records & !s.store.item.applied == 0
        }),
        Property::always("3a. no lost event: every message is recorded or still on the queue", |_, s: &Sys| {
            (0..MESSAGES)
                .all(|m| s.store.records & bit(m) != 0 || s.queue.iter().any(|c| c.msg == m && c.at != At::Deleted))
        }),
        Property::always(
            "3b. at quiescence every message is recorded and applied, nothing half-done",
            |p: &Protocol, s: &Sys| {
                let mut next = vec![];
                p.actions(s, &mut next);
                !next.is_empty() || settled(s)
            },
        ),
        Property::eventually("3c. every message is eventually recorded", |_, s: &Sys| s.store.records == ALL),
        Property::always("4a. only the latest lease holder's save is accepted, on the stored version", |_, s: &Sys| {
            never(s, flag::STALE_WRITE | flag::LOST_UPDATE)
        }),
        Property::always("4b. at most one invocation holds an unexpired lease", |_, s: &Sys| {
            let holding = s.workers.iter().filter(|w| w.pc != Pc::Idle && w.lease.is_some_and(|l| l.until > s.now));
            holding.count() <= 1
        }),
        Property::sometimes("5a. a message is processed after a crash and its redelivery", |_, s: &Sys| {
            !never(s, flag::RECOVERED)
        }),
        Property::sometimes("5b. a crashed invocation's persisted intent is resumed by another", |_, s: &Sys| {
            !never(s, flag::RESUMED)
        }),
    ];
    if model.0.overtakes > 0 {
        properties
            .push(Property::sometimes("5c. an overtaken invocation's save is refused (fencing)", |_, s: &Sys| {
                !never(s, flag::FENCED)
            }));
    }
    properties.push(Property::sometimes(
        "5d. a redelivered message restarts its completed operation's id, answered idempotently by EC2",
        |_, s: &Sys| !never(s, flag::RESTARTED),
    ));
    properties
}
