//! The queue port: sending messages to the cluster's SQS FIFO queue.

use std::future::Future;

use super::Cause;

/// One message for the FIFO queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingMessage {
    /// `MessageGroupId`: the cluster id.
    pub group_id: String,
    /// `MessageDeduplicationId`: the message's deterministic id (at most 128 characters).
    pub dedup_id: String,
    /// The JSON body (`crate::message::Envelope`).
    pub body: String,
}

/// Why a send failed.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// Some entries of a batch were refused; their dedup ids are listed.
    #[error("sending {failed} of {total} messages to the queue failed ({first_code})")]
    Partial {
        /// Entries refused.
        failed: usize,
        /// Entries sent.
        total: usize,
        /// Dedup ids of the refused entries.
        dedup_ids: Vec<String>,
        /// The first error code.
        first_code: String,
    },
    /// The whole call failed.
    #[error("sending {count} messages to the queue")]
    Failed {
        /// Entries in the call.
        count: usize,
        /// Why.
        #[source]
        source: Cause,
    },
}

/// The cluster's SQS FIFO queue.
pub trait Queue: Send + Sync {
    /// Sends every message (in batches of at most 10, in order); succeeds only if all were accepted.
    fn send(&self, messages: &[OutgoingMessage]) -> impl Future<Output = Result<(), QueueError>> + Send;
}
