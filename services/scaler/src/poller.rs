//! The local poller: long-polls the cluster's queue, runs the batch rule on what arrived and
//! deletes what succeeded, as the Lambda event source does. Failed messages stay invisible until
//! their visibility timeout. Used by `scaler --poll` and the end-to-end tests; never in Lambda.

use autoscaler_adapters::sqs::{ConsumerError, SqsConsumer};
use tracing::warn;

use crate::batch::{self, Record};

/// What one receive-process-delete round did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Round {
    /// Messages received.
    pub received: usize,
    /// Message ids the batch rule reported as failed (left on the queue).
    pub failed: Vec<String>,
}

/// One round: receives up to 10 messages (long-polling up to `wait_seconds`), processes them
/// with the batch rule and deletes every message that did not fail.
pub async fn poll_once<H: batch::Handler>(
    consumer: &SqsConsumer,
    handler: &H,
    wait_seconds: i32,
) -> Result<Round, ConsumerError> {
    let received = consumer.receive(10, wait_seconds).await?;
    let records: Vec<Record> = received
        .iter()
        .map(|m| Record {
            message_id: m.message_id.clone(),
            group_id: m.group_id.clone().unwrap_or_default(),
            body: m.body.clone(),
        })
        .collect();
    let failed = batch::process(handler, &records).await;
    for m in received.iter().filter(|m| !failed.contains(&m.message_id)) {
        consumer.delete(&m.receipt_handle).await?;
    }
    Ok(Round { received: received.len(), failed })
}

/// Rounds of 20-second long polls until `max` messages were handled (forever without one). A
/// failed receive is retried after a second; a failed delete ends the poller, since the message
/// would come back and the operator must know the queue is not being acknowledged.
pub async fn poll<H: batch::Handler>(consumer: &SqsConsumer, handler: &H, max: Option<usize>) -> anyhow::Result<()> {
    let mut handled = 0usize;
    loop {
        match poll_once(consumer, handler, 20).await {
            Ok(round) => handled += round.received,
            Err(e @ ConsumerError::Receive { .. }) => {
                warn!(error = batch::chain(&e), "Receive failed; retrying in 1 s.");
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
            Err(e) => return Err(e.into()),
        }
        if max.is_some_and(|max| handled >= max) {
            return Ok(());
        }
    }
}
