//! `AgentDeployment`: one agent system, the pods it runs in and what it is made of.

use k8s_openapi::api::core::v1::ResourceRequirements;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::agentdeployment_status::AgentDeploymentStatus;
use crate::autoinstrument::AutoInstrumentSpec;
use crate::common::{AGENT_NAME_PATTERN, ModelRef, OBJECT_NAME_PATTERN};

/// An agent system: the pods its `selector` matches, the agents it is made of, the models, prompts,
/// configs, RAG index and guardrails they use, and how its sidecars measure it.
// Each printcolumn repeats the same keys; clippy reads that as duplicated attributes.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "agentlens.dev",
    version = "v1alpha1",
    kind = "AgentDeployment",
    plural = "agentdeployments",
    singular = "agentdeployment",
    shortname = "agd",
    category = "agentlens",
    namespaced,
    derive = "Default",
    derive = "PartialEq",
    status = "AgentDeploymentStatus",
    doc = "An agent system whose pods agentlens observes: what runs, where it came from, how it behaves and how mature its operations are.",
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status",
        description = "Whether every matched pod is ready and observed"
    ),
    printcolumn(
        name = "Injected",
        type_ = "string",
        json_path = ".status.pods.injectedOfMatched",
        description = "Pods carrying the sidecar out of the pods matched"
    ),
    printcolumn(
        name = "Maturity",
        type_ = "integer",
        json_path = ".status.maturity.level",
        description = "Operational maturity level (0-4)"
    ),
    printcolumn(
        name = "GPU-OOM",
        type_ = "integer",
        json_path = ".status.runtime.gpuOomEvents",
        description = "GPU out-of-memory events seen by the sidecars"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct AgentDeploymentSpec {
    /// Label selector of the pods of this agent system, in this namespace. Matching pods get the
    /// sidecar (when the namespace is opted in) and are reported in status.
    pub selector: LabelSelector,

    /// The components of a multi-agent system. Each agent selects a subset of the pods and names
    /// the models and prompts it uses. Empty for a single-agent system.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 50))]
    pub agents: Vec<AgentSpec>,

    /// ConfigMaps and Secrets to track in addition to those the pods consume (which are tracked
    /// anyway). Secrets are tracked by an HMAC of their data, never by value.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 50))]
    pub configs: Vec<ConfigSource>,

    /// The retrieval-augmented generation index the agents query, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rag: Option<RagSpec>,

    /// Guardrails applied to the agents' inputs, outputs or tool calls. Their results are
    /// recorded as `Evaluation` objects that name the guardrail.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 50))]
    pub guardrails: Vec<GuardrailSpec>,

    /// How the sidecar is injected and what it measures.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sidecar: Option<SidecarSpec>,

    /// The operational-maturity level this system is expected to reach.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maturity: Option<MaturitySpec>,
}

/// One agent of a multi-agent system.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AgentSpec {
    /// Name of the agent, unique in this AgentDeployment (an RFC 1123 label). Used as the `from`
    /// and `to` of the agent graph and in `talksTo`.
    #[schemars(pattern(AGENT_NAME_PATTERN), length(max = 63))]
    pub name: String,

    /// What this agent does, in a sentence, for the people who inspect it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1024))]
    pub description: Option<String>,

    /// The pods of this agent, a subset of the AgentDeployment's pods. Unset: the agent is not
    /// tied to particular pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<LabelSelector>,

    /// The container that runs this agent in its pods (those of `selector`, else all of the
    /// AgentDeployment's), for agents that share a pod as containers: the webhook names that
    /// container's telemetry after this agent (`OTEL_SERVICE_NAME`, resource attribute
    /// `agentlens.agent`), so the sidecar tells the agents' calls apart (`status.agentGraph`),
    /// and the status counts the container as this agent's. Unset: the agent is its pods as a
    /// whole.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(AGENT_NAME_PATTERN), length(max = 63))]
    pub container: Option<String>,

    /// The `Model` objects (same namespace) this agent calls.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 20))]
    pub models: Vec<ModelRef>,

    /// Where this agent's prompts live. Each is tracked with a content hash and version history.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 20))]
    pub prompts: Vec<PromptRef>,

    /// The tools this agent may call (APIs, functions, MCP servers), for the inventory and graph.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 50))]
    pub tools: Vec<ToolSpec>,

    /// Names of the agents (in `agents`) this agent sends messages to. The observed call graph is
    /// compared against these declared edges.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 50), inner(pattern(AGENT_NAME_PATTERN)))]
    pub talks_to: Vec<String>,

    /// Zero-code instrumentation of this agent's pods, replacing the system's
    /// `spec.sidecar.otlp.autoInstrument` as a whole (`enabled: false` turns it off here).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_instrument: Option<AutoInstrumentSpec>,
}

/// A prompt kept in a ConfigMap.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PromptRef {
    /// Name of the ConfigMap (same namespace) that holds the prompt.
    #[schemars(pattern(OBJECT_NAME_PATTERN), length(max = 253))]
    pub config_map: String,
    /// The key of the prompt in the ConfigMap. Unset: every key is a prompt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 253))]
    pub key: Option<String>,
}

/// A tool an agent may call.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ToolSpec {
    /// Name of the tool as the agent's framework reports it in spans (`gen_ai.tool.name`).
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// What the tool does or which system it reaches, for the people who inspect the agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1024))]
    pub description: Option<String>,
}

/// A ConfigMap or a Secret to track. Exactly one of `configMap` and `secret` is set.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.configMap) != has(self.secret)").message("set exactly one of configMap and secret"))]
pub struct ConfigSource {
    /// Name of a ConfigMap in the same namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(OBJECT_NAME_PATTERN), length(max = 253))]
    pub config_map: Option<String>,
    /// Name of a Secret in the same namespace. Only an HMAC of its data is ever recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(OBJECT_NAME_PATTERN), length(max = 253))]
    pub secret: Option<String>,
}

/// The retrieval index the agents query.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RagSpec {
    /// The vector store product or service (for example `qdrant`, `pgvector`, `weaviate`).
    #[schemars(length(min = 1, max = 253))]
    pub vector_store: String,
    /// The collection, index or table the agents query.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 253))]
    pub collection: Option<String>,
    /// The `Model` that embeds documents and queries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub embedding_model: Option<ModelRef>,
    /// The version of the index content (a date, a build id): a change is recorded in history.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 253))]
    pub index_version: Option<String>,
    /// Where the indexed documents come from (a bucket, a database, a URL).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 2048))]
    pub source: Option<String>,
}

/// Where in the agent's flow a guardrail runs.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum GuardrailStage {
    /// On what users or upstream systems send to the agent.
    #[serde(rename = "input")]
    #[default]
    Input,
    /// On what the agent answers.
    #[serde(rename = "output")]
    Output,
    /// On the agent's tool calls and their results.
    #[serde(rename = "tool")]
    Tool,
    /// On documents retrieved from the RAG index.
    #[serde(rename = "retrieval")]
    Retrieval,
}

/// A guardrail of the agent system.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GuardrailSpec {
    /// Name of the guardrail; `Evaluation` objects with `guardrail: <name>` record its results.
    #[schemars(pattern(AGENT_NAME_PATTERN), length(max = 63))]
    pub name: String,
    /// Where the guardrail runs: `input`, `output`, `tool` or `retrieval`.
    pub stage: GuardrailStage,
    /// What the guardrail checks and what it does on a hit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1024))]
    pub description: Option<String>,
}

/// How the sidecar is injected into this system's pods and what it measures.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SidecarSpec {
    /// Whether matching pods get the sidecar (default true). A pod's own
    /// `agentlens.dev/inject` annotation wins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inject: Option<bool>,
    /// Resources of the sidecar container. Unset: requests 10m CPU / 32Mi, limits 200m / 64Mi.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
    /// The latency proxy in front of the agent's HTTP port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy: Option<ProxySpec>,
    /// The OTLP/HTTP receiver for the agents' OpenTelemetry spans and logs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub otlp: Option<OtlpSpec>,
    /// GPU measurement settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu: Option<GpuSpec>,
    /// Whether prompt and completion text from spans may be kept (default false: only sizes,
    /// token counts and hashes are kept). Also whether `otlp.autoInstrument` records prompt and
    /// completion content in the spans at all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capture_content: Option<bool>,
    /// When true, pods that should carry the sidecar but do not (created while the webhook was
    /// unavailable) get their workload rolled out once so they are recreated with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart_uninjected: Option<bool>,
    /// Log files to follow in addition to the containers' stdout and stderr, as paths the
    /// sidecar sees: put them on a volume mounted into the app container and the sidecar.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 20), inner(length(max = 4096)))]
    pub log_files: Vec<String>,
    /// Model artifacts the agents serve, as paths in the app containers (a file or a model
    /// directory): the sidecar fingerprints them for the inventory and the operator compares
    /// the fingerprints with the Models' `spec.artifact.digest` (condition
    /// `ModelArtifactMismatch`). `agentlens-sidecar fingerprint PATH` computes the digest.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 20), inner(length(min = 1, max = 4096)))]
    pub model_paths: Vec<String>,
}

/// The sidecar's HTTP proxy, which measures request latency in front of the agent.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProxySpec {
    /// The agent container's port the proxy forwards to.
    #[schemars(range(min = 1, max = 65535))]
    pub target_port: i32,
    /// Port the proxy listens on in the pod (default 15080). Point the Service's `targetPort` here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 65535))]
    pub listen_port: Option<i32>,
    /// Route templates for the `route` metric label (for example `/v1/chat/*`). Paths matching
    /// none are labelled by their first segment; at most 64 distinct routes are kept.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64), inner(length(min = 1, max = 256)))]
    pub routes: Vec<String>,
}

/// The sidecar's OTLP/HTTP receiver.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OtlpSpec {
    /// Whether the receiver runs (port 4318, `/v1/traces` and `/v1/logs`). Point the agents'
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` at `http://localhost:4318`.
    pub enabled: bool,
    /// Zero-code instrumentation of the agents that export no spans themselves, aimed at this
    /// receiver. An agent's own `autoInstrument` replaces this one for its pods. The sidecars
    /// compare the CPython ABI the instrumentation was built for with each running
    /// interpreter's: condition `AutoInstrumentationMismatch`; `TelemetryFlowing` says whether
    /// spans arrive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_instrument: Option<AutoInstrumentSpec>,
}

/// GPU measurement settings.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GpuSpec {
    /// Fraction of a GPU's memory in use above which the system is under memory pressure
    /// (default 0.95), used by the `AgentLensGpuMemoryPressure` alert and status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0, max = 1.0))]
    pub memory_pressure_ratio: Option<f64>,
}

/// The operational-maturity target of the system.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MaturitySpec {
    /// The level (0-4) the system must reach; `MaturityTargetMet` reports whether it does.
    #[schemars(range(min = 0, max = 4))]
    pub target_level: u8,
}
