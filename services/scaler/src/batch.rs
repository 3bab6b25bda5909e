//! The SQS FIFO batch rule: records are processed in order; after a retryable failure in a
//! message group, that record and every later record of the same group are reported as failed
//! (so their order is kept), while other groups go on. Poison and non-actionable messages are
//! acknowledged by the engine itself and never fail the batch.

use std::{collections::HashSet, future::Future};

use autoscaler_core::engine::{EngineError, Outcome};
use tracing::{error, info, warn};

/// One queue record, as the Lambda event or the local poller hands it over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// SQS message id (reported back in `batchItemFailures`).
    pub message_id: String,
    /// `MessageGroupId` (the cluster).
    pub group_id: String,
    /// The body.
    pub body: String,
}

/// Something that processes one message body: the engine, or a scripted fake in tests.
pub trait Handler {
    /// Processes one body.
    fn handle(&self, body: &str) -> impl Future<Output = Result<Outcome, EngineError>>;
}

impl<S, C, K, N, M, T> Handler for autoscaler_core::engine::Engine<S, C, K, N, M, T>
where
    S: autoscaler_core::ports::StateStore,
    C: autoscaler_core::ports::Cloud,
    K: autoscaler_core::ports::Cluster,
    N: autoscaler_core::ports::Notifier,
    M: autoscaler_core::ports::Metrics,
    T: autoscaler_core::ports::Clock,
{
    fn handle(&self, body: &str) -> impl Future<Output = Result<Outcome, EngineError>> {
        autoscaler_core::engine::Engine::handle(self, body)
    }
}

/// Processes a batch and returns the message ids to report as failed, in order.
pub async fn process<H: Handler>(handler: &H, records: &[Record]) -> Vec<String> {
    let mut failed_groups: HashSet<&str> = HashSet::new();
    let mut failures = Vec::new();
    for r in records {
        if failed_groups.contains(r.group_id.as_str()) {
            info!(message_id = %r.message_id, group = %r.group_id, "Held back behind an earlier failure of its group.");
            failures.push(r.message_id.clone());
            continue;
        }
        let started = std::time::Instant::now();
        match handler.handle(&r.body).await {
            Ok(outcome) => log_outcome(r, &outcome, started.elapsed()),
            Err(e) => {
                let retryable = e.retryable();
                let e = chain(&e);
                if retryable {
                    warn!(message_id = %r.message_id, group = %r.group_id, error = %e, "Message failed; it will be retried.");
                } else {
                    error!(message_id = %r.message_id, group = %r.group_id, error = %e, "Message failed permanently; it goes to the DLQ after its receive count.");
                }
                failed_groups.insert(r.group_id.as_str());
                failures.push(r.message_id.clone());
            }
        }
    }
    failures
}

/// The error and its causes, `outer: inner: root`, each printed once.
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cur = c.source();
    }
    out
}

/// The message kind for logs: the envelope's `kind`, an EventBridge `detail-type`, or `unknown`.
fn kind_of(body: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
    v.get("kind").or_else(|| v.get("detail-type")).and_then(|k| k.as_str()).unwrap_or("unknown").to_owned()
}

fn log_outcome(r: &Record, outcome: &Outcome, took: std::time::Duration) {
    let ms = took.as_millis() as u64;
    let kind = kind_of(&r.body);
    match outcome {
        Outcome::Processed { decision, actions } => {
            let action = decision.as_ref().map_or("none", |d| d.action.as_str());
            let reasons = decision.as_ref().map(|d| d.reasons.join("; ")).unwrap_or_default();
            info!(message_id = %r.message_id, group = %r.group_id, kind, decision = action, reasons, actions = actions.join(", "), duration_ms = ms, outcome = "processed", "Message processed.");
        }
        Outcome::Duplicate => {
            info!(message_id = %r.message_id, group = %r.group_id, kind, duration_ms = ms, outcome = "duplicate", "Duplicate message acknowledged.")
        }
        Outcome::Ignored(why) => {
            info!(message_id = %r.message_id, group = %r.group_id, kind, reason = %why, duration_ms = ms, outcome = "ignored", "Message not actionable; acknowledged.")
        }
        Outcome::Poison(why) => {
            warn!(message_id = %r.message_id, group = %r.group_id, kind, reason = %why, duration_ms = ms, outcome = "poison", "Unreadable message acknowledged.")
        }
    }
}

#[cfg(test)]
mod tests {
    use std::{cell::RefCell, collections::VecDeque};

    use autoscaler_core::ports::StoreError;

    use super::*;

    /// Answers each body with the scripted result for it, recording what it was asked.
    struct Scripted {
        answers: RefCell<VecDeque<Result<Outcome, EngineError>>>,
        seen: RefCell<Vec<String>>,
    }

    impl Handler for Scripted {
        async fn handle(&self, body: &str) -> Result<Outcome, EngineError> {
            self.seen.borrow_mut().push(body.to_owned());
            self.answers.borrow_mut().pop_front().expect("a scripted answer")
        }
    }

    fn ok() -> Result<Outcome, EngineError> {
        Ok(Outcome::Processed { decision: None, actions: vec![] })
    }

    fn transient() -> Result<Outcome, EngineError> {
        Err(EngineError::Store(StoreError::Transient { operation: "save", source: "throttled".into() }))
    }

    fn rec(id: &str, group: &str) -> Record {
        Record { message_id: id.into(), group_id: group.into(), body: id.into() }
    }

    #[test]
    fn a_failure_holds_back_the_rest_of_its_group_only() {
        // A-ok, A-fail, B-ok, A-ok → failures are exactly the 2nd and 4th.
        let h = Scripted { answers: RefCell::new([ok(), transient(), ok()].into()), seen: RefCell::default() };
        let records = [rec("1", "A"), rec("2", "A"), rec("3", "B"), rec("4", "A")];
        let failed = futures_executor::block_on(process(&h, &records));
        assert_eq!(failed, vec!["2".to_string(), "4".to_string()]);
        assert_eq!(*h.seen.borrow(), vec!["1", "2", "3"], "the held-back record is not processed");
    }

    #[test]
    fn poison_and_ignored_messages_are_acknowledged() {
        let answers =
            [Ok(Outcome::Poison("not JSON".into())), Ok(Outcome::Ignored("unknown".into())), Ok(Outcome::Duplicate)];
        let h = Scripted { answers: RefCell::new(answers.into()), seen: RefCell::default() };
        let records = [rec("1", "A"), rec("2", "A"), rec("3", "A")];
        assert!(futures_executor::block_on(process(&h, &records)).is_empty());
    }

    #[test]
    fn error_chains_print_every_cause_once() {
        let e = EngineError::Store(StoreError::Transient { operation: "save", source: "ThrottlingException".into() });
        assert_eq!(chain(&e), "reading or writing cluster state: save on the state store: ThrottlingException");
    }

    #[test]
    fn permanent_failures_are_reported_too_so_they_reach_the_dlq() {
        let permanent =
            Err(EngineError::Store(StoreError::Permanent { operation: "load", source: "AccessDenied".into() }));
        let h = Scripted { answers: RefCell::new([permanent, ok()].into()), seen: RefCell::default() };
        let failed = futures_executor::block_on(process(&h, &[rec("1", "A"), rec("2", "B")]));
        assert_eq!(failed, vec!["1".to_string()]);
    }
}
