//! The operator's error type.

/// Errors of the operator.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The CRD manifests could not be rendered.
    #[error("rendering the CRD manifests")]
    Manifests(#[from] agentlens_crds::manifests::ManifestError),
}

impl Error {
    /// A fixed, bounded name for metric labels and events.
    pub fn category(&self) -> &'static str {
        match self {
            Error::Manifests(_) => "manifests",
        }
    }
}

/// Result with the operator's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
