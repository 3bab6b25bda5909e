//! SQS: `SqsQueue`, the `Queue` port over SendMessageBatch (FIFO group and dedup ids from the
//! message, in order), and `SqsConsumer`, the receive/delete/visibility calls of the scaler's
//! local poller. Only SQS calls live here; what a message means is the core's business.

use std::ops::Range;

use autoscaler_core::ports::{Cause, OutgoingMessage, Queue, QueueError};
use aws_sdk_sqs::{
    Client,
    types::{MessageSystemAttributeName, SendMessageBatchRequestEntry},
};

use crate::error::SdkFailure;

/// Most entries SendMessageBatch takes in one call.
pub const MAX_BATCH_ENTRIES: usize = 10;

/// Most payload bytes SendMessageBatch takes in one call (the sum of the bodies).
pub const MAX_BATCH_BYTES: usize = 256 * 1024;

/// The `Queue` port on one SQS FIFO queue.
#[derive(Debug, Clone)]
pub struct SqsQueue {
    client: Client,
    queue_url: String,
}

impl SqsQueue {
    /// Sends to `queue_url` through `client`.
    pub fn new(client: Client, queue_url: impl Into<String>) -> Self {
        Self { client, queue_url: queue_url.into() }
    }

    /// The queue's URL.
    pub fn queue_url(&self) -> &str {
        &self.queue_url
    }

    /// Sends one batch; `Ok(None)` when every entry was accepted, `Ok(Some((refused dedup ids,
    /// first code)))` when some were refused.
    async fn send_batch(&self, batch: &[OutgoingMessage]) -> Result<Option<(Vec<String>, String)>, Cause> {
        let entries = batch
            .iter()
            .enumerate()
            .map(|(i, m)| {
                SendMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .message_body(&m.body)
                    .message_group_id(&m.group_id)
                    .message_deduplication_id(&m.dedup_id)
                    .build()
            })
            .collect::<Result<Vec<_>, _>>()?;
        let out = self
            .client
            .send_message_batch()
            .queue_url(&self.queue_url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| SdkFailure::new(e, &[]).cause())?;
        if out.failed().is_empty() {
            return Ok(None);
        }
        let first_code = out.failed()[0].code().to_owned();
        let refused = out
            .failed()
            .iter()
            .map(|f| f.id().parse::<usize>().ok().and_then(|i| batch.get(i)).map_or(f.id(), |m| &m.dedup_id).to_owned())
            .collect();
        Ok(Some((refused, first_code)))
    }
}

impl Queue for SqsQueue {
    /// Sends in batches of at most 10 entries and 256 KiB, in order. A batch with refused entries
    /// stops the send, so no later message overtakes a refused one; the refused entries and the
    /// ones not attempted are reported together in `QueueError::Partial`.
    async fn send(&self, messages: &[OutgoingMessage]) -> Result<(), QueueError> {
        for range in batches(messages) {
            let unsent = &messages[range.end..];
            match self.send_batch(&messages[range.clone()]).await {
                Ok(None) => {}
                Ok(Some((mut dedup_ids, first_code))) => {
                    dedup_ids.extend(unsent.iter().map(|m| m.dedup_id.clone()));
                    return Err(QueueError::Partial {
                        failed: dedup_ids.len(),
                        total: messages.len(),
                        dedup_ids,
                        first_code,
                    });
                }
                Err(source) => {
                    return Err(QueueError::Failed { count: messages.len() - range.start, source });
                }
            }
        }
        Ok(())
    }
}

/// Splits `messages` into consecutive batches of at most `MAX_BATCH_ENTRIES` entries and
/// `MAX_BATCH_BYTES` bytes of bodies. A single body above the byte limit travels alone (SQS then
/// refuses it by name rather than this code dropping it).
pub fn batches(messages: &[OutgoingMessage]) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut bytes = 0;
    for (i, m) in messages.iter().enumerate() {
        let size = m.body.len();
        if i > start && (i - start == MAX_BATCH_ENTRIES || bytes + size > MAX_BATCH_BYTES) {
            out.push(start..i);
            start = i;
            bytes = 0;
        }
        bytes += size;
    }
    if start < messages.len() {
        out.push(start..messages.len());
    }
    out
}

/// One message received from the queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedMessage {
    /// SQS's message id.
    pub message_id: String,
    /// The handle that deletes it or changes its visibility.
    pub receipt_handle: String,
    /// Its body.
    pub body: String,
    /// Its `MessageGroupId`, if the queue is FIFO.
    pub group_id: Option<String>,
    /// How many times it has been received, this time included.
    pub receive_count: u32,
}

/// Why a consumer call failed.
#[derive(Debug, thiserror::Error)]
pub enum ConsumerError {
    /// ReceiveMessage failed.
    #[error("receiving messages from {queue_url}")]
    Receive {
        /// The queue.
        queue_url: String,
        /// Why.
        #[source]
        source: Cause,
    },
    /// DeleteMessage failed.
    #[error("deleting message {receipt_handle} from {queue_url}")]
    Delete {
        /// The queue.
        queue_url: String,
        /// The receipt handle.
        receipt_handle: String,
        /// Why.
        #[source]
        source: Cause,
    },
    /// ChangeMessageVisibility failed.
    #[error("changing the visibility of message {receipt_handle} in {queue_url} to {seconds} s")]
    ChangeVisibility {
        /// The queue.
        queue_url: String,
        /// The receipt handle.
        receipt_handle: String,
        /// The requested timeout.
        seconds: i32,
        /// Why.
        #[source]
        source: Cause,
    },
}

/// Receives, deletes and delays messages of one queue (the scaler's local poller).
#[derive(Debug, Clone)]
pub struct SqsConsumer {
    client: Client,
    queue_url: String,
}

impl SqsConsumer {
    /// Consumes `queue_url` through `client`.
    pub fn new(client: Client, queue_url: impl Into<String>) -> Self {
        Self { client, queue_url: queue_url.into() }
    }

    /// Receives up to `max` (1–10) messages, long-polling up to `wait_seconds` (0–20).
    pub async fn receive(&self, max: i32, wait_seconds: i32) -> Result<Vec<ReceivedMessage>, ConsumerError> {
        let out = self
            .client
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(max.clamp(1, 10))
            .wait_time_seconds(wait_seconds.clamp(0, 20))
            .message_system_attribute_names(MessageSystemAttributeName::MessageGroupId)
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .send()
            .await
            .map_err(|e| ConsumerError::Receive {
                queue_url: self.queue_url.clone(),
                source: SdkFailure::new(e, &[]).cause(),
            })?;
        Ok(out
            .messages()
            .iter()
            .map(|m| {
                let attribute = |name: &MessageSystemAttributeName| m.attributes().and_then(|a| a.get(name)).cloned();
                ReceivedMessage {
                    message_id: m.message_id().unwrap_or_default().to_owned(),
                    receipt_handle: m.receipt_handle().unwrap_or_default().to_owned(),
                    body: m.body().unwrap_or_default().to_owned(),
                    group_id: attribute(&MessageSystemAttributeName::MessageGroupId),
                    receive_count: attribute(&MessageSystemAttributeName::ApproximateReceiveCount)
                        .and_then(|c| c.parse().ok())
                        .unwrap_or(1),
                }
            })
            .collect())
    }

    /// Deletes (acknowledges) a received message.
    pub async fn delete(&self, receipt_handle: &str) -> Result<(), ConsumerError> {
        self.client.delete_message().queue_url(&self.queue_url).receipt_handle(receipt_handle).send().await.map_err(
            |e| ConsumerError::Delete {
                queue_url: self.queue_url.clone(),
                receipt_handle: receipt_handle.to_owned(),
                source: SdkFailure::new(e, &[]).cause(),
            },
        )?;
        Ok(())
    }

    /// Makes a received message visible again after `seconds` (0 = at once: a retry).
    pub async fn change_visibility(&self, receipt_handle: &str, seconds: i32) -> Result<(), ConsumerError> {
        self.client
            .change_message_visibility()
            .queue_url(&self.queue_url)
            .receipt_handle(receipt_handle)
            .visibility_timeout(seconds)
            .send()
            .await
            .map_err(|e| ConsumerError::ChangeVisibility {
                queue_url: self.queue_url.clone(),
                receipt_handle: receipt_handle.to_owned(),
                seconds,
                source: SdkFailure::new(e, &[]).cause(),
            })?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(i: usize, size: usize) -> OutgoingMessage {
        OutgoingMessage { group_id: "prod".into(), dedup_id: format!("m{i}"), body: "x".repeat(size) }
    }

    #[test]
    fn batches_hold_at_most_ten_entries_in_order() {
        let messages: Vec<_> = (0..25).map(|i| message(i, 100)).collect();
        assert_eq!(batches(&messages), vec![0..10, 10..20, 20..25]);
        assert!(batches(&[]).is_empty());
    }

    #[test]
    fn batches_split_before_the_byte_limit() {
        // Three 100 KiB bodies: two fit in 256 KiB, the third starts a new batch.
        let messages: Vec<_> = (0..3).map(|i| message(i, 100 * 1024)).collect();
        assert_eq!(batches(&messages), vec![0..2, 2..3]);
        // Exactly the limit fits in one batch.
        let exact = vec![message(0, MAX_BATCH_BYTES - 1), message(1, 1)];
        assert_eq!(batches(&exact), vec![0..2]);
    }

    #[test]
    fn an_oversized_body_travels_alone() {
        let messages = vec![message(0, 10), message(1, MAX_BATCH_BYTES + 1), message(2, 10)];
        assert_eq!(batches(&messages), vec![0..1, 1..2, 2..3]);
    }
}
