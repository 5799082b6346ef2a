//! `Model`: a model version, its artifact and where it came from.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::common::{DIGEST_PATTERN, ModelRef};

/// A model version: its artifact, the model it was fine-tuned from and how it was trained.
// Each printcolumn repeats the same keys; clippy reads that as duplicated attributes.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "agentlens.dev",
    version = "v1alpha1",
    kind = "Model",
    plural = "models",
    singular = "model",
    shortname = "aimodel",
    category = "agentlens",
    namespaced,
    derive = "Default",
    derive = "PartialEq",
    status = "ModelStatus",
    doc = "A model version used by agents: its artifact digest, the base model it was fine-tuned from, and its training data and preprocessing.",
    printcolumn(
        name = "Version",
        type_ = "string",
        json_path = ".spec.version",
        description = "Model version"
    ),
    printcolumn(
        name = "Base",
        type_ = "string",
        json_path = ".spec.baseModel.name",
        description = "The Model this one was fine-tuned from"
    ),
    printcolumn(
        name = "Lineage",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"LineageComplete\")].status",
        description = "Whether the lineage chain to a base model is complete"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct ModelSpec {
    /// Version of the model (a semantic version, a date or a registry tag).
    #[schemars(length(min = 1, max = 128))]
    pub version: String,

    /// What the model is and what it is for, in a sentence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1024))]
    pub description: Option<String>,

    /// The weights that are served.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact: Option<Artifact>,

    /// The `Model` (same namespace) this one was fine-tuned or distilled from. Unset for a base
    /// model. Followed to build the lineage chain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_model: Option<ModelRef>,

    /// How this model was produced from its base model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub training: Option<Training>,
}

/// The weights of a model version.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Artifact {
    /// Where the weights are (`hf://org/name@revision`, `s3://…`, `oci://…`, a path).
    #[schemars(length(min = 1, max = 2048))]
    pub uri: String,
    /// SHA-256 of the artifact (`sha256:` + 64 hex), as the sidecar's fingerprint computes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(DIGEST_PATTERN))]
    pub digest: Option<String>,
    /// File format (for example `safetensors`, `gguf`, `onnx`, `tensorrt`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    pub format: Option<String>,
}

/// How a model was trained or fine-tuned.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Training {
    /// Training method (for example `full`, `lora`, `qlora`, `dpo`, `distillation`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    pub method: Option<String>,
    /// The datasets used, each with its digest and split.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 50))]
    pub datasets: Vec<Dataset>,
    /// The preprocessing steps applied to the data, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 50), inner(length(max = 1024)))]
    pub preprocessing: Vec<String>,
    /// The code that trained the model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<CodeRef>,
    /// Hyperparameters, as strings (for example `learning_rate: "2e-5"`).
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "strings_lenient"
    )]
    pub hyperparameters: BTreeMap<String, String>,
}

/// Reads a map of strings, also taking numbers and booleans: a YAML 1.1 dump (kubectl) leaves
/// `3e-5` unquoted, which YAML 1.2 readers take for a number.
fn strings_lenient<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<String, String>, D::Error> {
    let raw: BTreeMap<String, serde_json::Value> = BTreeMap::deserialize(d)?;
    raw.into_iter()
        .map(|(k, v)| match v {
            serde_json::Value::String(s) => Ok((k, s)),
            serde_json::Value::Number(n) => Ok((k, n.to_string())),
            serde_json::Value::Bool(b) => Ok((k, b.to_string())),
            other => Err(serde::de::Error::custom(format!(
                "hyperparameter {k}: expected a string, got {other}"
            ))),
        })
        .collect()
}

/// A training dataset.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Dataset {
    /// Name of the dataset.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// Where the dataset is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 2048))]
    pub uri: Option<String>,
    /// SHA-256 of the dataset content (`sha256:` + 64 hex).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(DIGEST_PATTERN))]
    pub digest: Option<String>,
    /// The split used (for example `train`, `validation`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    pub split: Option<String>,
}

/// The source code revision that produced a model.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CodeRef {
    /// Repository URL.
    #[schemars(length(min = 1, max = 2048))]
    pub repository: String,
    /// Commit id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern("^[a-f0-9]{7,64}$"))]
    pub commit: Option<String>,
}

/// One link of a resolved lineage chain.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LineageEntry {
    /// Name of the `Model`.
    #[schemars(length(max = 253))]
    pub name: String,
    /// Its version.
    #[schemars(length(max = 128))]
    pub version: String,
    /// Its artifact digest, when declared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(DIGEST_PATTERN))]
    pub digest: Option<String>,
}

/// The resolved state of a `Model`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ModelStatus {
    /// The `metadata.generation` this status was computed for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `LineageComplete` (reasons: `MissingParent`, `Cycle`, `MissingDigest`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    /// The lineage chain, from the root base model to this one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 20))]
    pub lineage: Vec<LineageEntry>,
}
