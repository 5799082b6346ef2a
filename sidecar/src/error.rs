//! The sidecar's error type.

/// Errors of the sidecar.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An I/O operation failed.
    #[error("{what}")]
    Io {
        /// What was being done.
        what: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The command to run could not be started.
    #[error("cannot run {program}")]
    Spawn {
        /// The program.
        program: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// `run` was given no command.
    #[error("no command given: agentlens-sidecar run [OPTIONS] -- COMMAND [ARGS...]")]
    NoCommand,
    /// The child exited before its pid could be read.
    #[error("the command exited before it could be observed")]
    NoPid,
    /// `--api-token-sha256` is not a SHA-256.
    #[error("the API token hash")]
    ApiToken(#[source] crate::auth::BadHash),
    /// The metric registry could not be built.
    #[error("registering metrics")]
    Metrics(#[source] prometheus::Error),
}

impl Error {
    /// A fixed, bounded name for metric labels.
    pub fn category(&self) -> &'static str {
        match self {
            Error::Io { .. } => "io",
            Error::Spawn { .. } => "spawn",
            Error::NoCommand | Error::ApiToken(_) => "usage",
            Error::NoPid => "spawn",
            Error::Metrics(_) => "metrics",
        }
    }

    /// The exit code `run` uses for this error, as shells do: 127 when the command does not
    /// exist, 126 when it cannot be executed, 2 for usage errors, 1 otherwise.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Spawn { source, .. } if source.kind() == std::io::ErrorKind::NotFound => 127,
            Error::Spawn { .. } => 126,
            Error::NoCommand | Error::ApiToken(_) => 2,
            _ => 1,
        }
    }
}

/// Result with the sidecar's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
