//! `Evaluation`: the result of an evaluation suite or guardrail run against an agent system.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::common::OBJECT_NAME_PATTERN;

/// When an evaluation ran relative to the deployment.
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, JsonSchema,
)]
pub enum EvaluationPhase {
    /// Before the evaluated models and prompts were deployed (a CI gate).
    #[default]
    PreDeployment,
    /// On live traffic of the running system.
    Online,
}

/// The result of an evaluation suite run against an agent system, created by CI or a job.
// Each printcolumn repeats the same keys; clippy reads that as duplicated attributes.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "agentlens.dev",
    version = "v1alpha1",
    kind = "Evaluation",
    plural = "evaluations",
    singular = "evaluation",
    shortname = "aieval",
    category = "agentlens",
    namespaced,
    derive = "Default",
    derive = "PartialEq",
    status = "EvaluationStatus",
    doc = "The result of an evaluation suite (offline before deployment, or online) or of a guardrail's checks, recorded against an AgentDeployment.",
    printcolumn(
        name = "Suite",
        type_ = "string",
        json_path = ".spec.suite",
        description = "Evaluation suite"
    ),
    printcolumn(
        name = "Phase",
        type_ = "string",
        json_path = ".spec.phase",
        description = "PreDeployment or Online"
    ),
    printcolumn(
        name = "Passed",
        type_ = "boolean",
        json_path = ".spec.passed",
        description = "Whether the suite passed"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct EvaluationSpec {
    /// Name of the `AgentDeployment` (same namespace) that was evaluated.
    #[schemars(pattern(OBJECT_NAME_PATTERN), length(max = 253))]
    pub agent_deployment: String,
    /// Name of the evaluation suite (for example `invoice-extraction-golden-set`).
    #[schemars(length(min = 1, max = 253))]
    pub suite: String,
    /// `PreDeployment` (a gate before rollout) or `Online` (on live traffic).
    pub phase: EvaluationPhase,
    /// What exactly was evaluated, so the result can be matched to what runs now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<EvaluationSubject>,
    /// The guardrail (a `spec.guardrails[].name` of the AgentDeployment) these results are for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 63))]
    pub guardrail: Option<String>,
    /// The measured metrics.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 100))]
    pub results: Vec<EvaluationResult>,
    /// Whether the suite passed as a whole.
    pub passed: bool,
    /// When the evaluation completed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<Time>,
}

/// The models and prompts an evaluation ran against.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EvaluationSubject {
    /// The models evaluated, by `Model` name and version.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 50))]
    pub models: Vec<ModelVersion>,
    /// The prompts evaluated, by ConfigMap, key and content hash.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 50))]
    pub prompts: Vec<PromptVersion>,
}

/// A model and version an evaluation ran against.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ModelVersion {
    /// Name of the `Model`.
    #[schemars(pattern(OBJECT_NAME_PATTERN), length(max = 253))]
    pub name: String,
    /// The version evaluated.
    #[schemars(length(min = 1, max = 128))]
    pub version: String,
}

/// A prompt revision an evaluation ran against.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PromptVersion {
    /// Name of the ConfigMap holding the prompt.
    #[schemars(pattern(OBJECT_NAME_PATTERN), length(max = 253))]
    pub config_map: String,
    /// The key of the prompt, when the ConfigMap holds several.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 253))]
    pub key: Option<String>,
    /// The content hash evaluated, as status reports it (`sha256:` + 64 hex).
    #[schemars(length(max = 128))]
    pub hash: String,
}

/// One measured metric of an evaluation.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EvaluationResult {
    /// Name of the metric (for example `field_accuracy`, `faithfulness`, `pii_leak_rate`).
    #[schemars(length(min = 1, max = 253))]
    pub metric: String,
    /// The measured value.
    pub value: f64,
    /// The threshold the value is compared with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
    /// Whether higher values are better (default true: the value must be at least the threshold;
    /// false: at most).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub higher_is_better: Option<bool>,
}

/// The operator's view of an `Evaluation`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EvaluationStatus {
    /// The `metadata.generation` this status was computed for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `SubjectCurrent`: whether the evaluated models and prompts are what the system runs now.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
}
