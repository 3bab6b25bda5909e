//! Test support for integration tests: a moto server per test (`Moto`), the state table and a
//! worker network created in it, and unique resource names (moto's reset is global, so tests
//! sharing a server must not share names). Never used by the deployed services.

pub mod dynamo;
pub mod ec2;
mod moto;

pub use moto::Moto;

use std::sync::atomic::{AtomicU32, Ordering};

/// A name no other test of this run uses: `<prefix>-<pid>-<n>`.
pub fn unique(prefix: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!("{prefix}-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed))
}
