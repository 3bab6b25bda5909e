//! Advancing the operation in flight, one phase handler each: launching → waiting-ready →
//! done | failed; cordoned → draining → terminating → done | aborted. A handler returns whether
//! it moved the operation, so one message advances as far as it can without waiting.

mod launch;
mod removal;

use super::{Ctx, Engine, EngineError};
use crate::{
    Phase,
    ports::{Clock, Cloud, Cluster, Metrics, Notifier, StateStore},
};

impl<S, C, K, N, M, T> Engine<S, C, K, N, M, T>
where
    S: StateStore,
    C: Cloud,
    K: Cluster,
    N: Notifier,
    M: Metrics,
    T: Clock,
{
    /// Advances the operation in flight as far as it goes now.
    pub(crate) async fn advance(&self, ctx: &mut Ctx) -> Result<(), EngineError> {
        // Bounded: every phase is visited at most once per message.
        for _ in 0..6 {
            let Some(phase) = ctx.state.active_operation().map(|o| o.phase) else { return Ok(()) };
            let moved = match phase {
                Phase::Launching => self.launch(ctx).await?,
                Phase::WaitingReady => self.check_ready(ctx).await?,
                Phase::Cordoned | Phase::Draining => self.drain(ctx).await?,
                Phase::Terminating => self.terminate(ctx).await?,
                Phase::Done | Phase::Failed | Phase::Aborted => false,
            };
            if !moved {
                break;
            }
        }
        Ok(())
    }

    fn cluster_str(&self) -> &str {
        self.settings.cluster_id.as_str()
    }
}
