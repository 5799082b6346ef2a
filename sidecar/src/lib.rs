//! The agentlens sidecar. The collectors, `run` and `serve` are tracked as open issues; this
//! crate holds what exists so far.

pub mod error;

pub use error::{Error, Result};

/// Version written into every snapshot and the `agentlens.dev/injected` annotation.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
pub mod analysis;
pub mod auth;
pub mod clock;
pub mod copytree;
pub mod gpu;
pub mod http;
pub mod inventory;
pub mod latency;
pub mod listeners;
pub mod logs;
pub mod logscan;
pub mod metrics;
pub mod observations;
pub mod otlp;
pub mod podlogs;
pub mod proc;
pub mod proxy;
pub mod redact;
pub mod run;
pub mod sample;
pub mod serve;
pub mod shared;
pub mod snapshot;
pub mod view;
