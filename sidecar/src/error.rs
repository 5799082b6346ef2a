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
}

impl Error {
    /// A fixed, bounded name for metric labels.
    pub fn category(&self) -> &'static str {
        match self {
            Error::Io { .. } => "io",
        }
    }
}

/// Result with the sidecar's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
