//! The agentlens operator: the admission webhook that injects the sidecar, and the CRD
//! manifests. The controllers, `status --from` and the `kubectl-agentlens` plugin are tracked
//! as open issues.

pub mod admission;
pub mod agentdeployments;
pub mod certs;
pub mod console;
pub mod controller;
pub mod dump;
pub mod error;
pub mod inject;
pub mod inspect;
pub mod rbac;
pub mod selector;
pub mod sidecar_access;
pub mod status;
pub mod tls;
pub mod webhook;

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
