//! Conditions with `lastTransitionTime` that moves only on a transition, so an unchanged world
//! yields an identical status (and no write).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

/// The condition types an AgentDeployment's status carries (one definition: the status code
/// writes them, the console reads them).
pub mod types {
    /// Every pod of the system is ready.
    pub const READY: &str = "Ready";
    /// Every pod carries the sidecar.
    pub const SIDECARS_INJECTED: &str = "SidecarsInjected";
    /// Every model's lineage resolves to a base model with digests.
    pub const LINEAGE_COMPLETE: &str = "LineageComplete";
    /// Every running pod started after the latest config or prompt change.
    pub const CONFIG_CURRENT: &str = "ConfigCurrent";
    /// A GPU out-of-memory error was seen (a problem when `True`).
    pub const GPU_OUT_OF_MEMORY: &str = "GpuOutOfMemory";
    /// A passed pre-deployment evaluation covers every running model version.
    pub const PRE_DEPLOYMENT_EVALUATED: &str = "PreDeploymentEvaluated";
    /// One image reference runs under several digests (a problem when `True`).
    pub const DIGEST_DRIFT: &str = "DigestDrift";
    /// A served model artifact matches no declared digest (a problem when `True`).
    pub const MODEL_ARTIFACT_MISMATCH: &str = "ModelArtifactMismatch";
    /// The maturity level reaches `spec.maturity.targetLevel`.
    pub const MATURITY_TARGET_MET: &str = "MaturityTargetMet";
    /// Every auto-instrumented agent sends spans to its sidecar.
    pub const TELEMETRY_FLOWING: &str = "TelemetryFlowing";
    /// An auto-instrumented agent's interpreter is of another CPython ABI than its
    /// instrumentation layout (a problem when `True`).
    pub const AUTO_INSTRUMENTATION_MISMATCH: &str = "AutoInstrumentationMismatch";
}

/// Whether a condition of this type reports trouble when its status is `True` (the others
/// report trouble when `False`).
pub fn problem_when_true(type_: &str) -> bool {
    [
        types::GPU_OUT_OF_MEMORY,
        types::DIGEST_DRIFT,
        types::MODEL_ARTIFACT_MISMATCH,
        types::AUTO_INSTRUMENTATION_MISMATCH,
    ]
    .contains(&type_)
}

/// Whether a condition as written in status (`status` is `True`, `False` or `Unknown`) says
/// something is wrong.
pub fn is_problem(type_: &str, status: &str) -> bool {
    match status {
        "True" => problem_when_true(type_),
        "False" => !problem_when_true(type_),
        _ => true,
    }
}

/// A condition as computed, before its transition time is settled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Computed {
    /// Type.
    pub type_: &'static str,
    /// `True` or `False`.
    pub status: bool,
    /// CamelCase reason.
    pub reason: &'static str,
    /// Human message.
    pub message: String,
}

/// Builds the conditions, keeping each previous `lastTransitionTime` whose status is unchanged.
pub fn settle(
    computed: Vec<Computed>,
    previous: &[Condition],
    generation: Option<i64>,
    now: &Time,
) -> Vec<Condition> {
    computed
        .into_iter()
        .map(|c| {
            let status = if c.status { "True" } else { "False" }.to_string();
            let last = previous
                .iter()
                .find(|p| p.type_ == c.type_ && p.status == status)
                .map(|p| p.last_transition_time.clone())
                .unwrap_or_else(|| now.clone());
            Condition {
                type_: c.type_.to_string(),
                status,
                reason: c.reason.to_string(),
                message: agentlens_crds::text::truncate(&c.message, 1024),
                last_transition_time: last,
                observed_generation: generation,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transition_time_moves_only_on_transition() {
        let t0 = Time("2026-11-27T08:00:00Z".parse().unwrap());
        let t1 = Time("2026-11-27T09:00:00Z".parse().unwrap());
        let c = |s| {
            vec![Computed {
                type_: "Ready",
                status: s,
                reason: "R",
                message: "m".into(),
            }]
        };
        let first = settle(c(true), &[], Some(1), &t0);
        let same = settle(c(true), &first, Some(1), &t1);
        assert_eq!(first, same);
        let flipped = settle(c(false), &same, Some(1), &t1);
        assert_eq!(flipped[0].last_transition_time, t1);
    }
}
