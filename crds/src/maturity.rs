//! The maturity part of an `AgentDeployment`'s status (the rubric itself lives in the operator).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The area of the rubric a check belongs to.
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, JsonSchema,
)]
#[serde(rename_all = "camelCase")]
pub enum MaturityArea {
    /// Images, OS and libraries, configs (`ENV-*`).
    Environment,
    /// Logs, tracebacks, memory, latency, monitoring (`OBS-*`).
    Observability,
    /// Model versions, lineage, datasets (`MOD-*`).
    Models,
    /// Prompts, inter-agent messages, RAG, guardrails, evaluations (`AGT-*`).
    Agent,
}

/// The maturity score of an agent system and the checklist behind it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MaturityStatus {
    /// Share of the applicable checks that pass, 0-100.
    #[schemars(range(min = 0, max = 100))]
    pub score: u8,
    /// Maturity level 0-4 (thresholds in `docs/maturity.md`).
    #[schemars(range(min = 0, max = 4))]
    pub level: u8,
    /// Every check of the rubric, applicable or not.
    #[serde(default)]
    #[schemars(length(max = 50))]
    pub checks: Vec<MaturityCheck>,
}

/// One check of the maturity rubric.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MaturityCheck {
    /// Stable id of the check (for example `ENV-1`).
    #[schemars(pattern("^[A-Z]{3}-[0-9]{1,2}$"))]
    pub id: String,
    /// The area the check belongs to.
    pub area: MaturityArea,
    /// Whether the system passes the check.
    pub passed: bool,
    /// Whether the check applies to this system; checks that do not are left out of the score.
    pub applicable: bool,
    /// What was seen (counts, names), so the result can be verified.
    #[schemars(length(max = 1024))]
    pub evidence: String,
    /// What to change to pass, concretely; empty when the check passes.
    #[serde(default)]
    #[schemars(length(max = 1024))]
    pub next: String,
}
