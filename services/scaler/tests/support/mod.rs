//! Shared by the scaler's end-to-end test and the latency example (`#[path]`-included there):
//! one cluster's whole alert path on a moto server ([`rig`]), what moto shows of it
//! ([`cloud`]) and timed trials over it ([`latency`]). Never used by the deployed scaler.
#![allow(dead_code)] // the test and the example each use a different part

pub mod cloud;
pub mod latency;
pub mod rig;
