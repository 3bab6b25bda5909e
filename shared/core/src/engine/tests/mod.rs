//! Engine behaviour on the in-memory world, by theme: scale-up until Ready, drains that honour
//! PDBs and time out, Spot interruptions and rebalances, and the per-message pipeline
//! (idempotency, leases, dry run, records, metrics).

use super::{
    harness::{Harness, cluster},
    *,
};

mod drain;
mod pipeline;
mod scale_up;
mod spot;
