//! Adapters: the AWS SDK, kube and reqwest implementations of the core's ports. All I/O of the
//! deployed services lives here; no scaling logic does.
pub mod aws;
pub mod dynamo;
pub mod ec2;
pub mod emf;
pub mod env;
pub mod error;
pub mod kube;
pub mod slack;
pub mod sqs;
pub mod ssm;
