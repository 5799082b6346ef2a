//! The agentlens operator. Today it renders the CRDs; the controllers, the admission webhook,
//! `status --from` and the `kubectl-agentlens` plugin are tracked as open issues.

pub mod error;

pub use error::{Error, Result};

/// The CRD manifests as one multi-document YAML stream, ready for `kubectl apply -f -`.
pub fn crds_yaml() -> Result<String> {
    let docs = agentlens_crds::manifests::render()?;
    Ok(docs
        .into_iter()
        .map(|(_, yaml)| yaml)
        .collect::<Vec<_>>()
        .join(""))
}
