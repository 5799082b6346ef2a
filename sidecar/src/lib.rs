//! The agentlens sidecar. The collectors, `run` and `serve` are tracked as open issues; this
//! crate holds what exists so far.

pub mod error;

pub use error::{Error, Result};

/// Version written into every snapshot and the `agentlens.dev/injected` annotation.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
pub mod logscan;
