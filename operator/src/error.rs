//! The operator's error type.

use std::path::PathBuf;

/// Errors of the operator.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The CRD manifests could not be rendered.
    #[error("rendering the CRD manifests")]
    Manifests(#[from] agentlens_crds::manifests::ManifestError),
    /// A file could not be read.
    #[error("reading {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A file's content is not what it should be.
    #[error("parsing {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// TLS material is unusable.
    #[error("TLS: {0}")]
    Tls(String),
    /// Network I/O failed.
    #[error("{what}")]
    Io {
        /// What was being done.
        what: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// A fixed, bounded name for metric labels and events.
    pub fn category(&self) -> &'static str {
        match self {
            Error::Manifests(_) => "manifests",
            Error::Read { .. } => "read",
            Error::Parse { .. } => "parse",
            Error::Tls(_) => "tls",
            Error::Io { .. } => "io",
        }
    }
}

/// Result with the operator's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
