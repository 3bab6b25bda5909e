//! The scaler: the SQS FIFO consumer that runs the engine on each message. The Lambda handler
//! and the local poller both call [`batch::process`].

pub mod batch;
pub mod mirror;
pub mod poller;
pub mod wiring;
