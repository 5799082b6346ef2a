//! The operational-maturity rubric (`../shared/DESIGN.md`, ids stable): 17 checks computed from
//! what the operator knows, each with the evidence it saw and the next step when it fails. A
//! check that needs runtime evidence the operator has not got (no sidecar snapshot) fails and
//! says so; nothing passes by default. Levels and checks are explained in `docs/maturity.md`.

mod agents;
mod environment;
mod models;
mod observability;

use std::collections::BTreeMap;

use agentlens_crds::agentdeployment_status::{AgentDeploymentStatus, ConfigKind};
use agentlens_crds::evaluation::EvaluationPhase;
use agentlens_crds::maturity::{MaturityArea, MaturityCheck, MaturityStatus};
use agentlens_crds::snapshot::{GenAiSnapshot, GpuState, Snapshot};
use agentlens_crds::{AgentDeployment, Evaluation, Model};

use super::PodFacts;
use super::lineage;

/// A scrape older than this, relative to the snapshot, does not count as "recent" (`OBS-6`).
pub const SCRAPE_RECENT_SECONDS: i64 = 600;

/// Everything the rubric reads.
pub struct Evidence<'a> {
    /// The system.
    pub ad: &'a AgentDeployment,
    /// The pods its selector matches.
    pub pods: &'a [&'a PodFacts],
    /// Sidecar snapshots by pod name (only the matched pods are read).
    pub snapshots: &'a BTreeMap<String, Snapshot>,
    /// The namespace's Models by name.
    pub models: &'a BTreeMap<String, &'a Model>,
    /// The namespace's Evaluations (those of other systems are ignored).
    pub evaluations: &'a [&'a Evaluation],
    /// The status computed so far (images, models, configs, prompts, graph, inventory).
    pub status: &'a AgentDeploymentStatus,
    /// Model versions running without a passed PreDeployment evaluation (`name@version`).
    pub unevaluated: &'a [String],
}

/// Level from score: 0-24 → 0, 25-49 → 1, 50-74 → 2, 75-89 → 3, 90-100 → 4.
pub fn level(score: u8) -> u8 {
    match score {
        90.. => 4,
        75..=89 => 3,
        50..=74 => 2,
        25..=49 => 1,
        _ => 0,
    }
}

/// Computes every check, the score over the applicable ones and the level.
pub fn evaluate(e: &Evidence<'_>) -> MaturityStatus {
    let checks = vec![
        environment::images_resolved_to_digests(e),
        environment::inventory_collected(e),
        environment::configs_tracked(e),
        observability::logs_collected(e),
        observability::tracebacks_captured(e),
        observability::cpu_memory_measured(e),
        observability::gpu_memory_measured(e),
        observability::latency_measured(e),
        observability::scraped_recently(e),
        models::models_declared(e),
        models::lineage_complete(e),
        models::training_recorded(e),
        agents::prompts_versioned(e),
        agents::inter_agent_calls_logged(e),
        agents::rag_recorded(e),
        agents::guardrails_evaluated(e),
        agents::evaluation_passed(e),
    ];
    let applicable = checks.iter().filter(|c| c.applicable).count();
    let passed = checks.iter().filter(|c| c.applicable && c.passed).count();
    // Integer percentage, rounded down: 100 only when everything applicable passes.
    let score = (passed * 100)
        .checked_div(applicable)
        .map_or(0, |p| u8::try_from(p).unwrap_or(100));
    MaturityStatus {
        score,
        level: level(score),
        checks,
    }
}

fn check(
    id: &str,
    area: MaturityArea,
    applicable: bool,
    passed: bool,
    evidence: impl Into<String>,
    next: impl Into<String>,
) -> MaturityCheck {
    MaturityCheck {
        id: id.to_string(),
        area,
        passed: applicable && passed,
        applicable,
        evidence: agentlens_crds::text::truncate(&evidence.into(), 1000),
        next: if applicable && passed {
            String::new()
        } else {
            agentlens_crds::text::truncate(&next.into(), 1000)
        },
    }
}

/// Up to 5 names, then "and N more".
fn list(names: &[String]) -> String {
    let mut out = names.iter().take(5).cloned().collect::<Vec<_>>().join(", ");
    if names.len() > 5 {
        out.push_str(&format!(" and {} more", names.len() - 5));
    }
    out
}

/// (pod, container) of the agent containers: the sidecar is already left out of the facts;
/// mesh and platform helpers are not agent containers either.
fn agent_containers<'a>(e: &'a Evidence<'_>) -> Vec<(&'a PodFacts, &'a str)> {
    e.pods
        .iter()
        .flat_map(|p| {
            p.images
                .iter()
                .filter(|(c, _, _)| !crate::inject::INFRA_CONTAINERS.contains(&c.as_str()))
                .map(move |(c, _, _)| (*p, c.as_str()))
        })
        .collect()
}

/// The snapshots of the matched pods, and the pods without one.
fn snapshots<'a>(e: &'a Evidence<'_>) -> (Vec<(&'a PodFacts, &'a Snapshot)>, Vec<String>) {
    let mut have = Vec::new();
    let mut missing = Vec::new();
    for p in e.pods {
        match e.snapshots.get(&p.name) {
            Some(s) => have.push((*p, s)),
            None => missing.push(p.name.clone()),
        }
    }
    (have, missing)
}

/// The GenAI evidence of the matched pods' sidecars (OTLP spans).
fn genai<'a>(e: &'a Evidence<'_>) -> Vec<&'a GenAiSnapshot> {
    e.pods
        .iter()
        .filter_map(|p| e.snapshots.get(&p.name))
        .filter_map(|s| s.genai.as_ref())
        .collect()
}

const NO_PODS: &str = "no pods match spec.selector";
const NO_PODS_NEXT: &str = "deploy the agents or fix spec.selector so it matches their pods";

fn no_snapshot_next(missing: &[String]) -> String {
    format!(
        "no sidecar snapshot from {}: check that the pods carry the agentlens-sidecar container \
         (namespace labelled agentlens.dev/injection=enabled, webhook up) and that the operator \
         reaches port 9477",
        list(missing)
    )
}

/// Per agent container of the pods with a snapshot, `ok(snapshot, container)`; the failures
/// as `pod/container`.
fn per_container(
    e: &Evidence<'_>,
    ok: impl Fn(&Snapshot, &str) -> bool,
) -> (usize, Vec<String>, Vec<String>) {
    let (have, missing) = snapshots(e);
    let mut checked = 0;
    let mut failed = Vec::new();
    for (p, c) in agent_containers(e) {
        if p.finished_init.iter().any(|f| f == c) {
            continue;
        }
        if let Some((_, s)) = have.iter().find(|(hp, _)| hp.name == p.name) {
            checked += 1;
            if !ok(s, c) {
                failed.push(format!("{}/{c}", p.name));
            }
        }
    }
    (checked, failed, missing)
}
