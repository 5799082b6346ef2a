//! What the operator writes onto an `AgentDeployment`: bounded, and unchanged unless what it
//! describes changed.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::common::{AgentEdge, DIGEST_PATTERN, Revision};
use crate::maturity::MaturityStatus;

/// The observed state of an agent system.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AgentDeploymentStatus {
    /// The `metadata.generation` this status was computed for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,

    /// `Ready`, `SidecarsInjected`, `LineageComplete`, `ConfigCurrent`, `GpuOutOfMemory`,
    /// `MaturityTargetMet` and the conditions that report drift.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,

    /// How many pods match, carry the sidecar and are ready.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pods: Option<PodCounts>,

    /// The images the pods run, with the registry digest each resolved to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 50))]
    pub images: Vec<ImageStatus>,

    /// The models the agents use, with their version, digest and lineage.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 50))]
    pub models: Vec<ModelSummary>,

    /// The ConfigMaps and Secrets the pods consume or the spec names, with content-hash history.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 50))]
    pub configs: Vec<ConfigStatus>,

    /// The prompts named in `spec.agents[].prompts`, with content-hash history.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 50))]
    pub prompts: Vec<ConfigStatus>,

    /// What the sidecars measured, summed over the pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime: Option<RuntimeStatus>,

    /// The latest `Evaluation` results for this system.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 50))]
    pub evaluations: Vec<EvaluationSummary>,

    /// The RAG set-up in use (`spec.rag` with the embedding Model resolved) and the earlier
    /// ones: a re-index (new `indexVersion`), another collection or embedding model is a change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rag: Option<RagStatus>,

    /// The observed agent-to-agent call graph.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 50))]
    pub agent_graph: Vec<AgentEdge>,

    /// The OS and library inventory per container, as the sidecars collected it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 50))]
    pub inventory: Vec<InventorySummary>,

    /// The operational-maturity score, level and the checklist behind them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maturity: Option<MaturityStatus>,

    /// For each list above cut at 50 items, how many items were left out (keyed by the list's
    /// field name, for example `images`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub omitted: BTreeMap<String, u32>,
}

/// Pod counts of an agent system.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PodCounts {
    /// Pods the selector matches.
    pub matched: u32,
    /// Matched pods that carry the sidecar.
    pub injected: u32,
    /// Matched pods that are ready.
    pub ready: u32,
    /// `injected/matched`, for the printer column (for example `6/6`).
    #[schemars(length(max = 32))]
    pub injected_of_matched: String,
    /// Names of up to 10 matched pods that should carry the sidecar and do not.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 10))]
    pub uninjected: Vec<String>,
    /// How many matched pods should carry the sidecar and do not, listed or not.
    #[serde(default)]
    pub uninjected_count: u32,
}

/// One container image of the system and the digest it resolved to.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImageStatus {
    /// Container name in the pod template.
    #[schemars(length(max = 253))]
    pub container: String,
    /// The image reference the pod spec asks for.
    #[schemars(length(max = 1024))]
    pub image: String,
    /// The registry digest the runtime resolved it to. Unset while the container waits or when
    /// the runtime reports only a local image ID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(DIGEST_PATTERN))]
    pub digest: Option<String>,
    /// How many running pods run this image with this digest.
    pub pods: u32,
    /// How many pods that ended (a failed or finished Job's pod, still present) ran this image
    /// with this digest: the image to debug a failure with.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub ended: u32,
}

/// A model the agents use, as resolved from its `Model` object.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ModelSummary {
    /// Name of the `Model`.
    #[schemars(length(max = 253))]
    pub name: String,
    /// Its `spec.version`; unset when the `Model` does not exist.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 128))]
    pub version: Option<String>,
    /// Its artifact digest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(DIGEST_PATTERN))]
    pub digest: Option<String>,
    /// The lineage chain from the base model to this one, as `name@version`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 20))]
    pub lineage: Vec<String>,
}

/// Which kind of object a tracked config is.
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, JsonSchema,
)]
pub enum ConfigKind {
    /// A ConfigMap, hashed with SHA-256.
    #[default]
    ConfigMap,
    /// A Secret, hashed with HMAC-SHA256 under the installation's key.
    Secret,
}

/// A tracked ConfigMap, Secret or prompt and its recent history.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConfigStatus {
    /// `ConfigMap` or `Secret`.
    pub kind: ConfigKind,
    /// Name of the object.
    #[schemars(length(max = 253))]
    pub name: String,
    /// For a prompt: the key within the ConfigMap, when the prompt names one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 253))]
    pub key: Option<String>,
    /// Current content hash; unset when the object does not exist.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 128))]
    pub hash: Option<String>,
    /// When the current content was first seen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changed_at: Option<Time>,
    /// Earlier revisions, newest first, at most 10.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 10))]
    pub history: Vec<Revision>,
    /// Running pods that started before the current content (they may still use the old one).
    #[serde(default)]
    pub stale_pods: u32,
}

/// The last traceback the sidecars captured.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TracebackRef {
    /// Exception type (for example `torch.OutOfMemoryError`).
    #[schemars(length(max = 256))]
    pub exception: String,
    /// Pod the traceback came from.
    #[schemars(length(max = 253))]
    pub pod: String,
    /// Container the traceback came from.
    #[schemars(length(max = 253))]
    pub container: String,
    /// When it was captured.
    pub at: Time,
}

/// Runtime measurements summed over the system's pods.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RuntimeStatus {
    /// GPU memory used by the agents' processes, in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu_memory_used_bytes: Option<u64>,
    /// Total memory of the GPUs the agents use, in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu_memory_total_bytes: Option<u64>,
    /// Resident memory of the agents' processes, in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rss_bytes: Option<u64>,
    /// Median request latency, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_p50_seconds: Option<f64>,
    /// 95th percentile request latency, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_p95_seconds: Option<f64>,
    /// 99th percentile request latency, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_p99_seconds: Option<f64>,
    /// Tracebacks captured since the containers started.
    #[serde(default)]
    pub tracebacks: u64,
    /// The most recent traceback.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_traceback: Option<TracebackRef>,
    /// GPU out-of-memory events (CUDA OOM errors in logs and exits) since the containers started.
    #[serde(default)]
    pub gpu_oom_events: u64,
    /// Containers the kernel killed for exceeding their memory limit (`OOMKilled`).
    #[serde(default)]
    pub oom_kills: u64,
    /// LLM requests and tokens per model, from the GenAI spans the agents sent their sidecars
    /// (OTLP, or `otlp.autoInstrument`) since the sidecars started; most tokens first, at most
    /// 50 (`omitted` counts the rest under `runtime.tokens`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 50))]
    pub tokens: Vec<ModelTokens>,
    /// When these figures last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<Time>,
}

/// LLM requests and tokens of one model, summed over the system's pods.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ModelTokens {
    /// The model as the spans name it (the response model when known, else the requested one).
    pub model: String,
    /// LLM calls.
    pub requests: u64,
    /// Input (prompt) tokens.
    pub input_tokens: u64,
    /// Output (completion) tokens.
    pub output_tokens: u64,
}

/// The latest result of one evaluation suite.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EvaluationSummary {
    /// Name of the `Evaluation` object.
    #[schemars(length(max = 253))]
    pub name: String,
    /// Its suite.
    #[schemars(length(max = 253))]
    pub suite: String,
    /// `PreDeployment` or `Online`.
    pub phase: crate::evaluation::EvaluationPhase,
    /// Whether it passed.
    pub passed: bool,
    /// When it completed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<Time>,
}

/// The OS and library inventory of one container.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct InventorySummary {
    /// Container name.
    #[schemars(length(max = 253))]
    pub container: String,
    /// The OS (`PRETTY_NAME` of `/etc/os-release`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 256))]
    pub os: Option<String>,
    /// How many OS and language packages were found.
    #[serde(default)]
    pub packages: u32,
    /// Digest of the inventory document.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(DIGEST_PATTERN))]
    pub digest: Option<String>,
    /// When the inventory last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changed_at: Option<Time>,
    /// Pods whose container runs with this inventory.
    #[serde(default)]
    pub pods: u32,
    /// Distinct inventories of this container across the pods (more than 1 during a rollout, or
    /// when pods drifted apart).
    #[serde(default, skip_serializing_if = "is_zero_or_one")]
    pub variants: u32,
    /// Components by kind (`deb`, `apk`, `pypi`, `npm`, `runtime`, `cuda`, `cudnn`, `driver`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub counts: BTreeMap<String, u32>,
    /// Model artifacts the container serves, with the declared Model whose digest they match.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 20))]
    pub models: Vec<ServedModel>,
    /// What the sidecar could not read (permission denied, a process gone), at most 5.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 5), inner(length(max = 1024)))]
    pub notes: Vec<String>,
    /// The last 10 inventory changes, newest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 10))]
    pub history: Vec<InventoryChange>,
}

fn is_zero_or_one(n: &u32) -> bool {
    *n <= 1
}

/// A model artifact a container serves.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServedModel {
    /// The path in the container.
    #[schemars(length(max = 4096))]
    pub path: String,
    /// Its fingerprint (`agentlens-sidecar fingerprint PATH`).
    #[schemars(pattern(DIGEST_PATTERN))]
    pub fingerprint: String,
    /// The model's own name from its metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 512))]
    pub name: Option<String>,
    /// The Model object whose `spec.artifact.digest` equals the fingerprint; unset when none
    /// does (condition `ModelArtifactMismatch`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 253))]
    pub model: Option<String>,
}

/// One change of a container's inventory.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct InventoryChange {
    /// When the operator saw it.
    pub at: Time,
    /// The inventory before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(DIGEST_PATTERN))]
    pub from: Option<String>,
    /// The inventory after.
    #[schemars(pattern(DIGEST_PATTERN))]
    pub to: String,
    /// What changed: `numpy 1.26.4 -> 2.1.0`, `+ torch 2.5.1`, `- foo 1.0` (package lists),
    /// or per-kind counts (`pypi 47 -> 49`) when the lists are not available; at most 20.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 20), inner(length(max = 512)))]
    pub changes: Vec<String>,
    /// Changes left out of `changes`.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub omitted: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// The RAG set-up in use and its history.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RagStatus {
    /// What is in use now.
    pub current: RagRevision,
    /// Earlier set-ups, newest first, at most 10.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 10))]
    pub history: Vec<RagRevision>,
}

/// One RAG set-up.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RagRevision {
    /// Vector store.
    #[schemars(length(max = 253))]
    pub vector_store: String,
    /// Collection, index or table.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 253))]
    pub collection: Option<String>,
    /// Version of the index content.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 253))]
    pub index_version: Option<String>,
    /// The embedding Model as `name@version`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 512))]
    pub embedding_model: Option<String>,
    /// The embedding Model's artifact digest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(DIGEST_PATTERN))]
    pub embedding_digest: Option<String>,
    /// When this set-up was first seen (the AgentDeployment's creation for the first one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<Time>,
}
