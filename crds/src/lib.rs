//! The `agentlens.dev/v1alpha1` API: `AgentDeployment`, `Model` and `Evaluation`, the generated
//! CRD manifests, and the sidecar's `/v1/snapshot` wire type shared by sidecar and operator.

pub mod agentdeployment;
pub mod agentdeployment_status;
pub mod autoinstrument;
pub mod common;
pub mod evaluation;
pub mod latency;
pub mod manifests;
pub mod maturity;
pub mod model;
pub mod snapshot;
pub mod text;

pub use agentdeployment::{AgentDeployment, AgentDeploymentSpec};
pub use agentdeployment_status::AgentDeploymentStatus;
pub use evaluation::{Evaluation, EvaluationSpec, EvaluationStatus};
pub use model::{Model, ModelSpec, ModelStatus};
pub use snapshot::Snapshot;

/// The API group of every agentlens resource.
pub const GROUP: &str = "agentlens.dev";
/// The API version served.
pub const VERSION: &str = "v1alpha1";
