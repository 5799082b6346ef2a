//! The sidecar's `GET /v1/snapshot` document: what one sidecar measured in one pod (or in
//! standalone `run` mode, on one machine). The sidecar writes it and the operator reads it, so
//! both sides share this one type. Every list is bounded by the sidecar; what it had to drop is
//! counted in `dropped`.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serde::{Deserialize, Serialize};

/// Version of this document's shape. Readers accept documents with the same major version and
/// ignore fields they do not know.
pub const SNAPSHOT_SCHEMA_VERSION: u32 = 1;

/// The name of the sidecar container the webhook injects: the operator names it, the sidecar
/// leaves it out of what it observes (one definition for both).
pub const SIDECAR_CONTAINER_NAME: &str = "agentlens-sidecar";

/// One sidecar's measurements at one moment.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Snapshot {
    /// Shape version ([`SNAPSHOT_SCHEMA_VERSION`]).
    pub schema_version: u32,
    /// Version of the sidecar that wrote it.
    pub sidecar_version: String,
    /// `serve` in a pod, `run` standalone.
    pub mode: SidecarMode,
    /// The pod this sidecar runs in (unset in `run` mode).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod: Option<PodIdentity>,
    /// When the measurements were taken.
    pub collected_at: Time,
    /// When a monitoring system last fetched `/metrics` from this sidecar (maturity check
    /// `OBS-6`); absent until the first scrape.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics_scraped_at: Option<Time>,
    /// GPU state, devices and per-process memory.
    pub gpu: GpuSnapshot,
    /// Per-container process measurements.
    #[serde(default)]
    pub containers: Vec<ContainerSnapshot>,
    /// The most recent GPU out-of-memory events, newest last.
    #[serde(default)]
    pub gpu_oom_events: Vec<GpuOomEvent>,
    /// Tracebacks grouped by where they were raised.
    #[serde(default)]
    pub tracebacks: Vec<TracebackGroup>,
    /// Request latency from the proxy or OTLP spans, when either is active.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency: Option<LatencySummary>,
    /// The agent-to-agent call graph seen in OTLP spans.
    #[serde(default)]
    pub agent_graph: Vec<SnapshotAgentEdge>,
    /// What the OTLP receiver learnt from GenAI spans: models and tokens, prompt templates,
    /// retrievers, guardrails and evaluators (absent when the receiver is off).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub genai: Option<GenAiSnapshot>,
    /// Digest and counts of the environment inventory per container.
    #[serde(default)]
    pub inventory: Vec<InventoryDigest>,
    /// Items each bounded buffer dropped since start, keyed by buffer (`logLines`,
    /// `tracebacks`, `spans`, …).
    #[serde(default)]
    pub dropped: BTreeMap<String, u64>,
}

/// How the sidecar runs.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum SidecarMode {
    /// In a pod beside the agent containers.
    Serve,
    /// Standalone, observing a child process tree.
    Run,
    /// A mode this version does not know (written by a newer sidecar): read as such rather
    /// than failing the whole snapshot. Never written.
    #[serde(other)]
    Unknown,
}

/// Identity of the pod a sidecar runs in, from the downward API.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct PodIdentity {
    /// Namespace of the pod.
    pub namespace: String,
    /// Name of the pod.
    pub name: String,
    /// Node the pod runs on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// The AgentDeployment the pod belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
}

/// Whether GPU measurement works, and if not why.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum GpuState {
    /// NVML answered; devices are listed.
    Available,
    /// GPU measurement is switched off (`--gpu off`).
    Disabled,
    /// NVML could not be loaded or initialised, or no GPU is visible; see `reason`.
    Unavailable,
    /// A state this version does not know (written by a newer sidecar): says nothing about
    /// whether GPUs are measured. Never written.
    #[serde(other)]
    Unknown,
}

/// How GPU memory was attributed to the observed processes.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum GpuAttribution {
    /// The GPUs named by the app processes' `NVIDIA_VISIBLE_DEVICES`/`CUDA_VISIBLE_DEVICES`.
    VisibleDevicesEnv,
    /// Every GPU the sidecar sees (the app's environment was not readable).
    AllVisible,
    /// The processes of the child tree started by `run`.
    ProcessTree,
    /// An attribution this version does not know (written by a newer sidecar). Never written.
    #[serde(other)]
    Unknown,
}

/// GPU measurements.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct GpuSnapshot {
    /// Whether measurement works.
    pub state: GpuState,
    /// Why it does not (the NVML error, "no GPU visible", …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// NVIDIA driver version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver_version: Option<String>,
    /// How per-process memory was attributed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attribution: Option<GpuAttribution>,
    /// The GPUs measured.
    #[serde(default)]
    pub devices: Vec<GpuDevice>,
    /// GPU memory of the observed processes.
    #[serde(default)]
    pub processes: Vec<GpuProcess>,
    /// Critical XID errors seen since start, per GPU and XID code.
    #[serde(default)]
    pub xid_errors: Vec<XidCount>,
}

/// One GPU.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct GpuDevice {
    /// NVML index.
    pub index: u32,
    /// GPU UUID (`GPU-…`).
    pub uuid: String,
    /// Product name.
    pub name: String,
    /// Memory in use on the device, in bytes.
    pub memory_used_bytes: u64,
    /// Memory of the device, in bytes.
    pub memory_total_bytes: u64,
    /// Utilization over the last sample period, 0-1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub utilization_ratio: Option<f64>,
}

/// GPU memory of one observed process.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct GpuProcess {
    /// UUID of the GPU.
    pub gpu_uuid: String,
    /// Process id (in the sidecar's PID namespace).
    pub pid: u32,
    /// Container the process belongs to.
    pub container: String,
    /// GPU memory used by the process, in bytes.
    pub memory_used_bytes: u64,
}

/// Count of one XID error code on one GPU.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct XidCount {
    /// UUID of the GPU.
    pub gpu_uuid: String,
    /// XID code (for example 31, 48, 79).
    pub xid: u64,
    /// How many were seen.
    pub count: u64,
}

/// Process measurements of one container.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ContainerSnapshot {
    /// Container name (`main` or `--name` in `run` mode).
    pub name: String,
    /// Number of processes seen.
    pub processes: u32,
    /// Resident memory of its processes, in bytes.
    pub rss_bytes: u64,
    /// CPU time of its processes since they started, in seconds.
    pub cpu_seconds: f64,
    /// Log lines read from stdout.
    #[serde(default)]
    pub stdout_lines: u64,
    /// Log lines read from stderr (and from followed log files).
    #[serde(default)]
    pub stderr_lines: u64,
    /// Tracebacks captured.
    #[serde(default)]
    pub tracebacks: u64,
    /// GPU out-of-memory events.
    #[serde(default)]
    pub gpu_oom_events: u64,
    /// Whether logs are being collected, and if not why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logs_unavailable_reason: Option<String>,
}

/// Where a GPU out-of-memory event was detected.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "camelCase")]
pub enum OomSource {
    /// An out-of-memory error in the container's log (PyTorch, CUDA, JAX, TensorFlow, vLLM…).
    Log,
    /// A CUDA out-of-memory error reported in an OTLP span or log record.
    Otlp,
    /// A source this version does not know (written by a newer sidecar). Never written.
    #[serde(other)]
    Unknown,
}

/// One GPU out-of-memory event.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct GpuOomEvent {
    /// Container it happened in.
    pub container: String,
    /// How it was detected.
    pub source: OomSource,
    /// When it was detected.
    pub at: Time,
    /// The error line (cut to 512 bytes).
    pub message: String,
    /// Bytes the failed allocation asked for, when the message says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_bytes: Option<u64>,
    /// GPU index named in the message, when it says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu_index: Option<u32>,
    /// Which stack reported it (`pytorch`, `cuda`, `tensorflow`, `xla`, `vllm`, `ggml`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub framework: Option<String>,
}

/// Tracebacks with the same exception raised at the same place.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TracebackGroup {
    /// Stable fingerprint of the exception type and innermost frames.
    pub fingerprint: String,
    /// Language (`python`, `java`, `go`, `node`, `rust`).
    pub language: String,
    /// Exception type.
    pub exception: String,
    /// Message of the most recent one (cut to 512 bytes).
    pub message: String,
    /// Container they came from.
    pub container: String,
    /// How many were seen.
    pub count: u64,
    /// When the first was seen.
    pub first_at: Time,
    /// When the most recent was seen.
    pub last_at: Time,
}

/// One cumulative histogram bucket: requests that took at most `le` seconds.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct LatencyBucket {
    /// Upper bound in seconds (finite; the `+Inf` bucket is `LatencySummary::requests`).
    pub le: f64,
    /// Cumulative count of requests at or under `le`.
    pub count: u64,
}

/// Request latency summary.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct LatencySummary {
    /// Requests measured.
    pub requests: u64,
    /// Requests that ended in a 5xx or an upstream error.
    pub errors: u64,
    /// Median latency, in seconds.
    pub p50_seconds: f64,
    /// 95th percentile latency, in seconds.
    pub p95_seconds: f64,
    /// 99th percentile latency, in seconds.
    pub p99_seconds: f64,
    /// The cumulative histogram behind the quantiles, finite bounds only (the total is
    /// `requests`), so the operator can merge pods without averaging percentiles.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub buckets: Vec<LatencyBucket>,
}

/// Digest and counts of one container's environment inventory (`GET /v1/inventory` has it all).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct InventoryDigest {
    /// Container name.
    pub container: String,
    /// The OS (`PRETTY_NAME`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os: Option<String>,
    /// Number of OS and language packages.
    pub packages: u32,
    /// `sha256:` over the OS, packages, environment variable names and model fingerprints: it
    /// changes exactly when what the container runs with does.
    pub digest: String,
    /// Components by kind (`deb`, `apk`, `pypi`, `npm`, `runtime`, `cuda`, `cudnn`, `driver`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub counts: BTreeMap<String, u32>,
    /// Model artifacts under the configured paths.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub models: Vec<ModelArtifactSeen>,
    /// When it was collected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collected_at: Option<Time>,
    /// What could not be read (permission denied, a process gone, a bound reached), at most 10.
    /// For people: programs read [`InventoryDigest::process_reads`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// How reading the container's processes through `/proc/<pid>/…` went, counted per
    /// process: whether the sidecar may read them at all (absent from sidecars before it, and
    /// when no process was looked at).
    #[serde(default, skip_serializing_if = "ProcessReads::is_empty")]
    pub process_reads: ProcessReads,
    /// The zero-code instrumentation layout its Python processes run with, its CPython ABI and
    /// the interpreters' (absent when no process has a layout on `PYTHONPATH`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_instrument: Option<crate::autoinstrument::AutoInstrumentSeen>,
}

/// How the sidecar's reads of one container's processes went: their `/proc/<pid>/` entries
/// (`exe`, `cwd`, `cmdline`, `environ`, `maps`). Each process looked at counts once in
/// `processes` and, when a read failed, once more in the first of `denied`, `gone`, `failed`
/// that one of its reads ended in (a process denied one entry and gone by the next is denied).
/// A process whose `environ` may not be read shows no `PYTHONPATH`: while `denied` counts one,
/// "no process runs with the instrumentation" is not known.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
#[serde(default, rename_all = "camelCase")]
pub struct ProcessReads {
    /// Processes the sidecar looked at (at most 64 per container).
    pub processes: u32,
    /// Of those, processes with an entry the sidecar was not permitted to read (`EACCES`,
    /// `EPERM`: the app runs as another user than the sidecar, or is not dumpable).
    pub denied: u32,
    /// Processes that exited while they were read (not denied).
    pub gone: u32,
    /// Processes with an entry unreadable for another reason (neither denied nor gone).
    pub failed: u32,
}

impl ProcessReads {
    /// Whether nothing was looked at (the field is then left out of the document).
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// Processes whose every read succeeded.
    pub fn read(&self) -> u32 {
        self.processes
            .saturating_sub(self.denied)
            .saturating_sub(self.gone)
            .saturating_sub(self.failed)
    }
}

/// A model artifact the sidecar fingerprinted.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ModelArtifactSeen {
    /// The path as configured (as the app container sees it).
    pub path: String,
    /// `sha256:` fingerprint (`agentlens-sidecar fingerprint PATH` computes the same).
    pub fingerprint: String,
    /// The model's own name from its metadata, when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// File format of the largest file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    /// Total size in bytes.
    pub bytes: u64,
}

/// One agent-to-agent edge as one sidecar saw it, with the latency histogram of its calls so
/// the operator can merge pods without averaging percentiles.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SnapshotAgentEdge {
    /// The calling agent.
    pub from: String,
    /// The called agent.
    pub to: String,
    /// Calls observed.
    pub calls: u64,
    /// Calls that ended in an error.
    #[serde(default)]
    pub errors: u64,
    /// Cumulative latency buckets of the calls (finite bounds; the total is `calls`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub buckets: Vec<LatencyBucket>,
}

/// GenAI evidence from OTLP spans. Every list is bounded by the sidecar (drops are counted in
/// `Snapshot::dropped`).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct GenAiSnapshot {
    /// Spans received.
    pub spans: u64,
    /// Requests and tokens per model.
    #[serde(default)]
    pub models: Vec<ModelUsage>,
    /// Each distinct prompt template seen.
    #[serde(default)]
    pub prompts: Vec<PromptTemplateSeen>,
    /// Retrievers (RAG) seen, by vector store and collection.
    #[serde(default)]
    pub retrievers: Vec<RetrieverSeen>,
    /// Guardrail spans seen, by name.
    #[serde(default)]
    pub guardrails: Vec<CheckSeen>,
    /// Evaluator spans and evaluation events seen, by name.
    #[serde(default)]
    pub evaluators: Vec<CheckSeen>,
}

/// Requests and tokens of one model.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ModelUsage {
    /// The model (response model when known, else the requested one).
    pub model: String,
    /// LLM calls.
    pub requests: u64,
    /// Input (prompt) tokens.
    pub input_tokens: u64,
    /// Output (completion) tokens.
    pub output_tokens: u64,
}

/// A prompt template seen in spans: the version evidence of maturity check `AGT-1`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct PromptTemplateSeen {
    /// `sha256:` of the template text.
    pub hash: String,
    /// The template's own version attribute, when the instrumentation sets one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The agent that used it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    /// The model it was sent to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Times it was used.
    pub uses: u64,
    /// First use.
    pub first_seen: Time,
    /// Latest use.
    pub last_seen: Time,
    /// The text with secrets, keys, e-mail addresses and card numbers redacted; only when
    /// content capture is on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

/// A retriever seen in spans (evidence for `AGT-3`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct RetrieverSeen {
    /// Vector store or database system (`db.system.name`), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store: Option<String>,
    /// Collection, index or data source name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collection: Option<String>,
    /// The agent that queried it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    /// Queries seen.
    pub queries: u64,
    /// First query.
    pub first_seen: Time,
    /// Latest query.
    pub last_seen: Time,
}

/// A guardrail or evaluator seen in spans (evidence for `AGT-4` and `AGT-5`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CheckSeen {
    /// Its name.
    pub name: String,
    /// Runs seen.
    pub runs: u64,
    /// Runs that failed, blocked or errored.
    pub failures: u64,
    /// The latest score, when the span reports one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_score: Option<f64>,
    /// Latest run.
    pub last_seen: Time,
}
