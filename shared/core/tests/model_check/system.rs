//! The state of the protocol model: the store (versioned item, lease with expiry and fencing
//! token, idempotency records), EC2 (launches per operation id), the queue (copies of messages),
//! the invocations (where each is in the procedure, what it holds in memory), and the configuration
//! and defects explored.

/// Messages on the queue (each asks for one scale-up) and concurrent invocations.
pub const MESSAGES: u8 = 2;
pub const WORKERS: u8 = 2;
pub const ALL: u8 = (1 << MESSAGES) - 1;

pub fn bit(i: u8) -> u8 {
    1 << i
}

/// Ghost flags: facts about the history that the properties read.
pub mod flag {
    /// A save was accepted from an invocation whose lease another one had taken since.
    pub const STALE_WRITE: u8 = 1;
    /// A save was accepted on top of a version other than the stored one.
    pub const LOST_UPDATE: u8 = 2;
    /// An operation's intent was persisted for a message already recorded as processed.
    pub const RECORDED_ACTED: u8 = 4;
    /// A message was processed by the redelivery of a copy whose invocation had crashed.
    pub const RECOVERED: u8 = 8;
    /// An invocation found another one's persisted intent and resumed the launch.
    pub const RESUMED: u8 = 16;
    /// A save was refused because the lease had been taken over.
    pub const FENCED: u8 = 32;
    /// An operation id was started a second time (its message redelivered after it completed).
    pub const RESTARTED: u8 = 64;
}

/// A deliberate defect, to prove that the checker finds what the real code guards against.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Flaw {
    /// The idempotency record is written when the lease is taken, before acting.
    RecordBeforeActing,
    /// `save` is conditional on the version only, not on the lease token.
    SaveIgnoresLease,
    /// EC2 is called before the operation's intent is persisted.
    LaunchBeforeIntent,
    /// RunInstances without a ClientToken: a repeated launch launches again.
    LaunchWithoutClientToken,
    /// A failed message is acknowledged (deleted) instead of left for redelivery.
    AckOnFailure,
    /// The lease is taken even while another invocation holds it unexpired.
    AcquireWhileHeld,
}

/// What is explored.
#[derive(Clone, Copy, Debug)]
pub struct Config {
    /// SQS FIFO, one message group: one message in flight at a time, a failed one first again.
    /// Otherwise any visible copy is delivered to any idle invocation, in any order.
    pub fifo: bool,
    /// Crashes per invocation slot.
    pub crashes: u8,
    /// Copies a producer may re-send after the deduplication window.
    pub duplicates: u8,
    /// Times a timeout may overtake a live invocation (its lease or its message's visibility).
    pub overtakes: u8,
    /// Whether the idempotency record is checked again once the lease is held.
    pub seen_under_lease: bool,
    /// A defect to inject.
    pub flaw: Option<Flaw>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Phase {
    Launching,
    Waiting,
    Done,
}

/// An operation; its id derives from the message that started it (`of`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Op {
    pub of: u8,
    pub phase: Phase,
}

/// The cluster state item: what `save` writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Item {
    pub version: u8,
    pub op: Option<Op>,
    /// The messages whose signal is applied in this state.
    pub applied: u8,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Lease {
    pub owner: u8,
    pub until: u8,
    pub token: u8,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Store {
    pub item: Item,
    pub lease: Option<Lease>,
    /// The last fencing token handed out.
    pub token: u8,
    /// Idempotency records, one bit per message.
    pub records: u8,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Ec2 {
    /// RunInstances batches per operation.
    pub launches: [u8; MESSAGES as usize],
    /// Operations whose workers joined the cluster.
    pub ready: u8,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum At {
    Visible,
    InFlight(u8),
    Deleted,
}

/// One SQS message (a producer's re-send is another copy of the same message id).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Copy {
    pub msg: u8,
    pub at: At,
    pub after_crash: bool,
}

/// Where an invocation is in `Engine::handle`: the step it runs next.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Pc {
    Idle,
    Seen,
    Acquire,
    SeenUnderLease,
    Load,
    Intent,
    Launch,
    Resume,
    Save,
    Release,
    Ack,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Worker {
    pub pc: Pc,
    pub copy: u8,
    pub lease: Option<Lease>,
    /// The state in memory, with the version it was read at.
    pub work: Option<Item>,
    pub after_crash: bool,
    pub crashes: u8,
}

impl Worker {
    pub fn idle(crashes: u8) -> Self {
        Worker { pc: Pc::Idle, copy: 0, lease: None, work: None, after_crash: false, crashes }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Sys {
    pub now: u8,
    pub store: Store,
    pub ec2: Ec2,
    pub queue: Vec<Copy>,
    pub workers: [Worker; WORKERS as usize],
    pub overtakes: u8,
    pub duplicates: u8,
    /// Operations ever persisted in the state item (by an intent or a final save).
    pub persisted: u8,
    pub flags: u8,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// An idle invocation receives a copy.
    Receive(u8, u8),
    /// An invocation runs its next step.
    Step(u8),
    /// An invocation dies: it forgets everything; its lease and its message stay.
    Crash(u8),
    /// The clock reaches the lease's expiry.
    Expire,
    /// A copy's visibility timeout passes: it is visible again.
    Redeliver(u8),
    /// A producer re-sends a message after the deduplication window.
    Duplicate(u8),
    /// An operation's workers join the cluster.
    Ready(u8),
}
