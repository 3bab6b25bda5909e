//! A clock that moves only when told to.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use crate::{
    ports::Clock,
    time::{Timestamp, after},
};

/// A manual clock, shared by clones.
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<Mutex<Timestamp>>);

impl ManualClock {
    /// A clock at `t`.
    pub fn at(t: Timestamp) -> Self {
        Self(Arc::new(Mutex::new(t)))
    }

    /// Moves the clock forward.
    pub fn advance(&self, d: Duration) {
        let mut t = self.0.lock().expect("lock");
        *t = after(*t, d);
    }

    /// Sets the clock.
    pub fn set(&self, t: Timestamp) {
        *self.0.lock().expect("lock") = t;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        *self.0.lock().expect("lock")
    }
}
