//! The protocol model's transitions: each invocation runs `Engine::handle` one store, EC2 or
//! queue call at a time (seen → acquire → load and decide → intent → launch → save with the
//! record → release → acknowledge), and the environment crashes invocations, expires leases,
//! redelivers, re-sends messages and lets launched workers join.

use stateright::{Model, Property};

use super::system::{
    Action, At, Config, Copy, Ec2, Flaw, Item, Lease, MESSAGES, Op, Pc, Phase, Store, Sys, WORKERS, Worker, bit, flag,
};

/// The model: the configuration explored.
#[derive(Debug)]
pub struct Protocol(pub Config);

impl Protocol {
    fn flaw(&self, f: Flaw) -> bool {
        self.0.flaw == Some(f)
    }

    fn receivable(&self, s: &Sys, c: usize) -> bool {
        if s.queue[c].at != At::Visible {
            return false;
        }
        if !self.0.fifo {
            return true;
        }
        // One message group: nothing while one is in flight, and only the oldest undeleted one.
        let in_flight = s.queue.iter().any(|q| matches!(q.at, At::InFlight(_)));
        !in_flight && s.queue.iter().position(|q| q.at != At::Deleted) == Some(c)
    }

    /// Whether the invocation `w` is alive and working on copy `c`.
    fn holds(s: &Sys, w: u8, c: usize) -> bool {
        let wk = &s.workers[usize::from(w)];
        wk.pc != Pc::Idle && usize::from(wk.copy) == c
    }

    /// The store's conditional save (MemoryStore::save / DynamoStateStore::save).
    fn save(&self, s: &mut Sys, w: usize, record: Option<u8>) -> bool {
        let wk = s.workers[w];
        let (work, mine) = (wk.work.expect("loaded"), wk.lease.expect("leased"));
        let current = s.store.item.version;
        let ours = s.store.lease.is_some_and(|l| l.owner == mine.owner && l.token == mine.token);
        let fresh = record.is_none_or(|m| s.store.records & bit(m) == 0);
        let accepted = match self.0.flaw {
            Some(Flaw::SaveIgnoresLease) => current == work.version && fresh,
            // The record was written earlier: the save only writes the state.
            Some(Flaw::RecordBeforeActing) => current == work.version && ours,
            _ => current == work.version && ours && fresh,
        };
        if !accepted {
            if mine.token < s.store.token {
                s.flags |= flag::FENCED;
            }
            return false;
        }
        if mine.token < s.store.token {
            s.flags |= flag::STALE_WRITE;
        }
        if work.version != current {
            s.flags |= flag::LOST_UPDATE;
        }
        let stored = Item { version: current + 1, ..work };
        s.store.item = stored;
        s.workers[w].work = Some(stored);
        if let Some(op) = stored.op {
            s.persisted |= bit(op.of);
        }
        if let Some(m) = record.filter(|_| !self.flaw(Flaw::RecordBeforeActing)) {
            s.store.records |= bit(m);
        }
        true
    }

    /// A failed step: the lease is released if still ours, the message goes back to the queue.
    fn fail(&self, s: &mut Sys, w: usize, release: bool) {
        let wk = s.workers[w];
        if release && s.store.lease == wk.lease {
            s.store.lease = None;
        }
        let copy = &mut s.queue[usize::from(wk.copy)];
        if copy.at == At::InFlight(w as u8) {
            copy.at = if self.flaw(Flaw::AckOnFailure) { At::Deleted } else { At::Visible };
        }
        s.workers[w] = Worker::idle(wk.crashes);
    }

    fn step(&self, s: &mut Sys, w: usize) {
        let wk = s.workers[w];
        let m = s.queue[usize::from(wk.copy)].msg;
        let recorded = s.store.records & bit(m) != 0;
        let next = match wk.pc {
            Pc::Idle => unreachable!("idle invocations do not step"),
            Pc::Seen if recorded => Pc::Ack,
            Pc::Seen => Pc::Acquire,
            Pc::Acquire => {
                if s.store.lease.is_some_and(|l| l.until > s.now) && !self.flaw(Flaw::AcquireWhileHeld) {
                    return self.fail(s, w, false);
                }
                s.store.token += 1;
                let lease = Lease { owner: w as u8, until: s.now + 1, token: s.store.token };
                s.store.lease = Some(lease);
                s.workers[w].lease = Some(lease);
                if self.flaw(Flaw::RecordBeforeActing) {
                    s.store.records |= bit(m);
                }
                if self.0.seen_under_lease { Pc::SeenUnderLease } else { Pc::Load }
            }
            Pc::SeenUnderLease if recorded => Pc::Release,
            Pc::SeenUnderLease => Pc::Load,
            Pc::Load => self.load(s, w, m),
            Pc::Intent => {
                let of = wk.work.and_then(|i| i.op).expect("an operation to start").of;
                let again = s.persisted & bit(of) != 0;
                if !self.save(s, w, None) {
                    return self.fail(s, w, true);
                }
                if again {
                    s.flags |= flag::RESTARTED;
                }
                if recorded {
                    s.flags |= flag::RECORDED_ACTED;
                }
                Pc::Launch
            }
            Pc::Launch | Pc::Resume => self.launch(s, w, m),
            Pc::Save => {
                if !self.save(s, w, Some(m)) {
                    return self.fail(s, w, true);
                }
                if wk.after_crash {
                    s.flags |= flag::RECOVERED;
                }
                Pc::Release
            }
            Pc::Release => {
                if s.store.lease == wk.lease {
                    s.store.lease = None;
                }
                s.workers[w].lease = None;
                Pc::Ack
            }
            Pc::Ack => {
                // Deleting with a stale receipt handle may delete too: assume it does.
                s.queue[usize::from(wk.copy)].at = At::Deleted;
                s.workers[w] = Worker::idle(wk.crashes);
                return;
            }
        };
        s.workers[w].pc = next;
    }

    /// Load, observe, apply the signal and plan: resume a persisted launch, complete a ready
    /// operation and start this message's own, or wait for the one in flight.
    fn load(&self, s: &mut Sys, w: usize, m: u8) -> Pc {
        let mut work = s.store.item;
        work.applied |= bit(m);
        let next = match work.op {
            Some(Op { phase: Phase::Launching, .. }) => {
                s.flags |= flag::RESUMED;
                Pc::Resume
            }
            Some(Op { of, phase: Phase::Waiting }) if s.ec2.ready & bit(of) == 0 => Pc::Save,
            // Nothing in flight, or its workers are Ready: the slot is free for this message.
            _ => self.start(&mut work, m),
        };
        s.workers[w].work = Some(work);
        next
    }

    /// This message's own operation, its intent to persist before acting.
    fn start(&self, work: &mut Item, m: u8) -> Pc {
        work.op = Some(Op { of: m, phase: Phase::Launching });
        if self.flaw(Flaw::LaunchBeforeIntent) { Pc::Launch } else { Pc::Intent }
    }

    /// `Cloud::launch` of the operation in memory, then the phase handlers that follow in the
    /// same message: workers already Ready (observed before the launch) complete it, and a
    /// resumed operation completed frees the slot for this message's own.
    fn launch(&self, s: &mut Sys, w: usize, m: u8) -> Pc {
        let wk = s.workers[w];
        let mut work = wk.work.expect("loaded");
        let op = work.op.as_mut().expect("an operation to launch");
        let ready = s.ec2.ready & bit(op.of) != 0;
        let n = &mut s.ec2.launches[usize::from(op.of)];
        // EC2 answers a repeated ClientToken (and the describe-by-tag) with what it launched.
        if *n == 0 || self.flaw(Flaw::LaunchWithoutClientToken) {
            *n += 1;
        }
        op.phase = if ready { Phase::Done } else { Phase::Waiting };
        let next = if ready && wk.pc == Pc::Resume { self.start(&mut work, m) } else { Pc::Save };
        s.workers[w].work = Some(work);
        next
    }
}

impl Model for Protocol {
    type State = Sys;
    type Action = Action;

    fn properties(&self) -> Vec<Property<Self>> {
        super::properties::all(self)
    }

    fn init_states(&self) -> Vec<Sys> {
        let item = Item { version: 0, op: None, applied: 0 };
        vec![Sys {
            now: 0,
            store: Store { item, lease: None, token: 0, records: 0 },
            ec2: Ec2 { launches: [0; MESSAGES as usize], ready: 0 },
            queue: (0..MESSAGES).map(|msg| Copy { msg, at: At::Visible, after_crash: false }).collect(),
            workers: [Worker::idle(0); WORKERS as usize],
            overtakes: self.0.overtakes,
            duplicates: self.0.duplicates,
            persisted: 0,
            flags: 0,
        }]
    }

    fn actions(&self, s: &Sys, actions: &mut Vec<Action>) {
        for w in 0..WORKERS {
            let wk = &s.workers[usize::from(w)];
            if wk.pc == Pc::Idle {
                let receivable = (0..s.queue.len()).filter(|&c| self.receivable(s, c));
                actions.extend(receivable.map(|c| Action::Receive(w, c as u8)));
            } else {
                actions.push(Action::Step(w));
                if wk.crashes < self.0.crashes {
                    actions.push(Action::Crash(w));
                }
            }
        }
        if let Some(l) = s.store.lease.filter(|l| l.until > s.now) {
            let live = s.workers.iter().any(|w| w.pc != Pc::Idle && w.lease == Some(l));
            if !live || s.overtakes > 0 {
                actions.push(Action::Expire);
            }
        }
        for (c, copy) in s.queue.iter().enumerate() {
            if let At::InFlight(w) = copy.at
                && (!Self::holds(s, w, c) || s.overtakes > 0)
            {
                actions.push(Action::Redeliver(c as u8));
            }
        }
        if s.duplicates > 0 {
            actions.extend((0..MESSAGES).map(Action::Duplicate));
        }
        for op in 0..MESSAGES {
            if s.ec2.launches[usize::from(op)] > 0 && s.ec2.ready & bit(op) == 0 {
                actions.push(Action::Ready(op));
            }
        }
    }

    fn next_state(&self, last: &Sys, action: Action) -> Option<Sys> {
        let mut s = last.clone();
        match action {
            Action::Receive(w, c) => {
                let copy = &mut s.queue[usize::from(c)];
                copy.at = At::InFlight(w);
                let wk = &mut s.workers[usize::from(w)];
                *wk = Worker { pc: Pc::Seen, copy: c, after_crash: copy.after_crash, ..Worker::idle(wk.crashes) };
            }
            Action::Step(w) => self.step(&mut s, usize::from(w)),
            Action::Crash(w) => {
                let crashes = s.workers[usize::from(w)].crashes + 1;
                s.workers[usize::from(w)] = Worker::idle(crashes);
            }
            Action::Expire => {
                let l = s.store.lease.expect("a lease to expire");
                if s.workers.iter().any(|w| w.pc != Pc::Idle && w.lease == Some(l)) {
                    s.overtakes -= 1;
                }
                s.now = l.until;
            }
            Action::Redeliver(c) => {
                let At::InFlight(w) = s.queue[usize::from(c)].at else { unreachable!("only in-flight copies") };
                if Self::holds(&s, w, usize::from(c)) {
                    s.overtakes -= 1;
                } else {
                    s.queue[usize::from(c)].after_crash = true;
                }
                s.queue[usize::from(c)].at = At::Visible;
            }
            Action::Duplicate(msg) => {
                s.duplicates -= 1;
                s.queue.push(Copy { msg, at: At::Visible, after_crash: false });
            }
            Action::Ready(op) => s.ec2.ready |= bit(op),
        }
        Some(s)
    }
}
