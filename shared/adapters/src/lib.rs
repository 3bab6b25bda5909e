//! Adapters: the AWS SDK, kube and reqwest implementations of the core's ports. All I/O of the
//! deployed services lives here; no scaling logic does.
