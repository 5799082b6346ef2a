//! Small types shared by the three resources and the sidecar snapshot.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Pattern of a content digest: `sha256:` followed by 64 lowercase hex digits.
pub const DIGEST_PATTERN: &str = "^sha256:[a-f0-9]{64}$";

/// Pattern of a Kubernetes object name (RFC 1123 subdomain, the form ConfigMaps, Secrets and
/// custom resources use).
pub const OBJECT_NAME_PATTERN: &str = "^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$";

/// Pattern of an agent's name inside an AgentDeployment (RFC 1123 label, so it can be used as a
/// label value and a metric label).
pub const AGENT_NAME_PATTERN: &str = "^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$";

/// How many entries a history in status keeps (the newest first).
pub const HISTORY_LIMIT: usize = 10;

/// How many items a list in status keeps; the rest are counted in `status.omitted`.
pub const STATUS_LIST_LIMIT: usize = 50;

/// A reference to a `Model` object in the same namespace.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ModelRef {
    /// Name of the `Model` (short name `aimodel`) in the same namespace.
    #[schemars(pattern(OBJECT_NAME_PATTERN), length(max = 253))]
    pub name: String,
}

/// One revision of a tracked ConfigMap, Secret or prompt: its content hash and when it was first seen.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Revision {
    /// Content hash of this revision (`sha256:` of a ConfigMap's data; for a Secret an HMAC-SHA256
    /// under the installation's key, written `hmac-sha256:`, so the value cannot be guessed).
    #[schemars(length(max = 128))]
    pub hash: String,
    /// When the operator first saw this revision.
    pub changed_at: Time,
    /// The object's `metadata.resourceVersion` when this revision was seen, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    pub resource_version: Option<String>,
}

/// A directed edge of the agent call graph: calls from one agent to another.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AgentEdge {
    /// The calling agent (an `agents[].name`, or the service name seen in spans).
    #[schemars(length(max = 253))]
    pub from: String,
    /// The called agent or tool.
    #[schemars(length(max = 253))]
    pub to: String,
    /// Calls observed on this edge.
    pub calls: u64,
    /// Calls on this edge that ended in an error.
    #[serde(default)]
    pub errors: u64,
    /// 95th percentile latency of the calls on this edge, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0))]
    pub latency_p95_seconds: Option<f64>,
}
