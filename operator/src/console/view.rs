//! The system page's view model (pure): an AgentDeployment's status, the Models of its
//! namespace and its Evaluations turned into rows of display text. The same facts as
//! `kubectl agentlens inspect`, laid out for a page; nothing is computed here that the status
//! does not already say, except how to say it.

use std::collections::BTreeMap;

use agentlens_crds::agentdeployment_status::{AgentDeploymentStatus, ConfigKind, ConfigStatus};
use agentlens_crds::evaluation::EvaluationPhase;
use agentlens_crds::{AgentDeployment, Evaluation, Model};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

use super::facts::Facts;
use super::layout::{self, EdgeIn, Graph};
use crate::inspect::{area, bytes, checks_next_steps_first, short_digest};
use crate::status::conditions::{is_problem, types};
use crate::status::lineage;

/// Where links point: the server's routes, or the exported files beside each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Links {
    /// `/` and `/systems/NS/NAME`.
    Served,
    /// `index.html` and `NS.NAME.html` (a namespace has no dots, so the name is unambiguous).
    Exported,
}

impl Links {
    /// The overview.
    pub fn overview(self) -> &'static str {
        match self {
            Self::Served => "/",
            Self::Exported => "index.html",
        }
    }

    /// A system page.
    pub fn system(self, namespace: &str, name: &str) -> String {
        match self {
            Self::Served => format!("/systems/{namespace}/{name}"),
            Self::Exported => format!("{namespace}.{name}.html"),
        }
    }
}

/// `1,204`.
pub fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Seconds with three decimals, `-` when unknown.
pub fn seconds(v: Option<f64>) -> String {
    v.map_or_else(|| "-".into(), |v| format!("{v:.3} s"))
}

/// A timestamp as RFC 3339 UTC to the second (status times have no fractions; read times do).
pub fn when(t: &Time) -> String {
    t.0.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn opt_when(t: Option<&Time>) -> String {
    t.map_or_else(|| "-".into(), when)
}

/// A condition that is not fine, in plain words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// What is wrong, for anyone (`GPU out of memory`).
    pub title: String,
    /// The condition's own message (the evidence).
    pub detail: String,
    /// Since when.
    pub since: String,
}

/// Plain words for a condition that is not fine.
pub fn problem_title(type_: &str) -> String {
    match type_ {
        types::READY => "Pods not ready".into(),
        types::SIDECARS_INJECTED => "Pods without the sidecar".into(),
        types::LINEAGE_COMPLETE => "Model lineage incomplete".into(),
        types::CONFIG_CURRENT => "Pods run a stale config or prompt".into(),
        types::GPU_OUT_OF_MEMORY => "GPU out of memory".into(),
        types::PRE_DEPLOYMENT_EVALUATED => {
            "Models run without a passed pre-deployment evaluation".into()
        }
        types::DIGEST_DRIFT => "Image digest drift".into(),
        types::MODEL_ARTIFACT_MISMATCH => {
            "Served model artifact differs from the declared one".into()
        }
        types::MATURITY_TARGET_MET => "Below the maturity target".into(),
        types::TELEMETRY_FLOWING => "Instrumented agents send no spans".into(),
        types::AUTO_INSTRUMENTATION_MISMATCH => {
            "Instrumentation built for another Python version".into()
        }
        other => format!("{other} is not fine"),
    }
}

/// The conditions that are not fine, in status order.
pub fn problems(conditions: &[Condition]) -> Vec<Problem> {
    conditions
        .iter()
        .filter(|c| is_problem(&c.type_, &c.status))
        .map(|c| Problem {
            title: problem_title(&c.type_),
            detail: c.message.clone(),
            since: when(&c.last_transition_time),
        })
        .collect()
}

/// The newest time the status records a change at (conditions, configs, prompts, inventory,
/// RAG, runtime figures).
pub fn last_change(s: &AgentDeploymentStatus) -> Option<Time> {
    let configs = s
        .configs
        .iter()
        .chain(&s.prompts)
        .filter_map(|c| c.changed_at.as_ref());
    s.conditions
        .iter()
        .map(|c| &c.last_transition_time)
        .chain(configs)
        .chain(s.inventory.iter().filter_map(|i| i.changed_at.as_ref()))
        .chain(s.rag.as_ref().and_then(|r| r.current.since.as_ref()))
        .chain(s.runtime.as_ref().and_then(|r| r.updated_at.as_ref()))
        .max_by_key(|t| t.0)
        .cloned()
}

/// Pod counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodsView {
    /// `5/6 with the sidecar, 6 ready`.
    pub summary: String,
    /// Pods without the sidecar (bounded list) and how many more.
    pub uninjected: Vec<String>,
}

/// A maturity check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckRow {
    /// `ENV-1`.
    pub id: String,
    /// Area.
    pub area: &'static str,
    /// `fail`, `pass` or `n/a` (also the CSS class).
    pub state: &'static str,
    /// What was seen.
    pub evidence: String,
    /// What to do (failing checks).
    pub next: String,
}

/// An edge of the call graph.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EdgeRow {
    /// Caller.
    pub from: String,
    /// Callee.
    pub to: String,
    /// Calls (`-` when only declared).
    pub calls: String,
    /// Errors.
    pub errors: String,
    /// 95th percentile latency.
    pub p95: String,
}

/// One step of a model's lineage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineageStep {
    /// `name@version`.
    pub label: String,
    /// Artifact digest.
    pub digest: String,
    /// Fine-tuning method.
    pub method: Option<String>,
    /// `name digest (split)`.
    pub datasets: Vec<String>,
    /// Preprocessing steps joined with arrows.
    pub preprocessing: Option<String>,
    /// `repository@commit`.
    pub code: Option<String>,
}

/// A model with its lineage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelRow {
    /// Name.
    pub name: String,
    /// Version.
    pub version: String,
    /// Full digest (`-` when none).
    pub digest: String,
    /// Root first, the model last.
    pub lineage: Vec<LineageStep>,
    /// Why the lineage stops, if it does.
    pub incomplete: Option<String>,
}

/// An image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRow {
    /// Container.
    pub container: String,
    /// Image reference.
    pub image: String,
    /// Full digest.
    pub digest: String,
    /// Running pods (and ended ones).
    pub pods: String,
}

/// A revision of a config or prompt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevisionRow {
    /// Short hash.
    pub hash: String,
    /// When first seen.
    pub at: String,
}

/// A tracked ConfigMap, Secret or prompt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigRow {
    /// `ConfigMap` or `Secret`.
    pub kind: &'static str,
    /// `name` or `name/key`.
    pub name: String,
    /// Short content hash.
    pub hash: String,
    /// When the current content was first seen.
    pub changed: String,
    /// Earlier revisions, newest first.
    pub history: Vec<RevisionRow>,
    /// Pods started before the current content.
    pub stale_pods: u32,
}

/// A container's environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InventoryRow {
    /// Container.
    pub container: String,
    /// OS.
    pub os: String,
    /// `412 (dpkg 380, python 32)`.
    pub packages: String,
    /// Short inventory digest.
    pub digest: String,
    /// When it last changed.
    pub changed: String,
    /// Pods (and variants).
    pub pods: String,
    /// Served model artifacts and notes.
    pub notes: Vec<String>,
    /// `at: change; change` (newest first).
    pub changes: Vec<String>,
}

/// A RAG revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RagRow {
    /// `now` or `before`.
    pub when: &'static str,
    /// Vector store.
    pub store: String,
    /// Collection.
    pub collection: String,
    /// Index version.
    pub index: String,
    /// Embedding model and digest.
    pub embedding: String,
    /// Since.
    pub since: String,
}

/// A guardrail with its recorded results.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuardrailRow {
    /// Name.
    pub name: String,
    /// Stage (`input`, `output`, `tool`, `retrieval`).
    pub stage: String,
    /// Description.
    pub description: String,
    /// `suite (phase): passed/failed, metric value / threshold` of its Evaluations.
    pub results: Vec<String>,
}

/// An evaluation suite's latest result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvaluationRow {
    /// Evaluation object.
    pub name: String,
    /// Suite.
    pub suite: String,
    /// `before deployment` or `online`.
    pub phase: &'static str,
    /// Passed.
    pub passed: bool,
    /// When.
    pub at: String,
    /// `metric value (threshold t)`.
    pub metrics: Vec<String>,
}

/// LLM requests and tokens of one model (from the agents' GenAI spans).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRow {
    /// The model as the spans name it.
    pub model: String,
    /// LLM calls.
    pub requests: String,
    /// Input (prompt) tokens.
    pub input: String,
    /// Output (completion) tokens.
    pub output: String,
}

/// Runtime figures.
#[derive(Debug, Clone, PartialEq)]
pub struct RuntimeView {
    /// `12.0 GiB of 80.0 GiB`.
    pub gpu: String,
    /// Used share 0-100 for the meter, when both are known.
    pub gpu_percent: Option<u32>,
    /// RSS.
    pub rss: String,
    /// Latency percentiles.
    pub p50: String,
    /// p95.
    pub p95: String,
    /// p99.
    pub p99: String,
    /// GPU OOM events.
    pub gpu_ooms: String,
    /// OOMKilled containers.
    pub oom_kills: String,
    /// Tracebacks.
    pub tracebacks: String,
    /// The last traceback (`exception in pod/container at time`); its lines are redacted by
    /// the sidecar and stay there (`/v1/tracebacks`), the status carries the reference.
    pub last_traceback: Option<String>,
    /// Requests and tokens per model, most tokens first (empty: no GenAI span named a model).
    pub tokens: Vec<TokenRow>,
    /// When the figures last changed.
    pub updated: String,
}

/// Everything on a system page.
#[derive(Debug, Clone, PartialEq)]
pub struct SystemView {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// Whether the operator wrote a status yet.
    pub reconciled: bool,
    /// Maturity level, score and target.
    pub maturity: Option<String>,
    /// Pods.
    pub pods: Option<PodsView>,
    /// The conditions that are not fine.
    pub problems: Vec<Problem>,
    /// Every condition, for the details table: type, status, reason, message.
    pub conditions: Vec<[String; 4]>,
    /// Last change.
    pub last_change: String,
    /// Agents and calls, drawn.
    pub graph: Option<Graph>,
    /// A sentence describing the graph for screen readers (`<desc>`).
    pub graph_desc: String,
    /// The same edges as a table.
    pub edges: Vec<EdgeRow>,
    /// Models.
    pub models: Vec<ModelRow>,
    /// Images.
    pub images: Vec<ImageRow>,
    /// Configs.
    pub configs: Vec<ConfigRow>,
    /// Prompts.
    pub prompts: Vec<ConfigRow>,
    /// Inventory per container.
    pub inventory: Vec<InventoryRow>,
    /// RAG now and before.
    pub rag: Vec<RagRow>,
    /// Guardrails.
    pub guardrails: Vec<GuardrailRow>,
    /// Evaluations.
    pub evaluations: Vec<EvaluationRow>,
    /// Runtime.
    pub runtime: Option<RuntimeView>,
    /// The checklist, next steps first.
    pub checks: Vec<CheckRow>,
    /// `inventory 3, images 1`: what the bounded status lists left out.
    pub omitted: String,
}

fn config_rows(rows: &[ConfigStatus]) -> Vec<ConfigRow> {
    rows.iter()
        .map(|c| ConfigRow {
            kind: match c.kind {
                ConfigKind::ConfigMap => "ConfigMap",
                ConfigKind::Secret => "Secret",
            },
            name: match &c.key {
                Some(k) => format!("{}/{k}", c.name),
                None => c.name.clone(),
            },
            hash: short_digest(c.hash.as_deref()),
            changed: opt_when(c.changed_at.as_ref()),
            history: c
                .history
                .iter()
                .map(|r| RevisionRow {
                    hash: short_digest(Some(&r.hash)),
                    at: when(&r.changed_at),
                })
                .collect(),
            stale_pods: c.stale_pods,
        })
        .collect()
}

fn phase(p: EvaluationPhase) -> &'static str {
    match p {
        EvaluationPhase::PreDeployment => "before deployment",
        EvaluationPhase::Online => "online",
    }
}

fn metrics(e: &Evaluation) -> Vec<String> {
    e.spec
        .results
        .iter()
        .map(|r| match r.threshold {
            Some(t) => format!("{} {} (threshold {t})", r.metric, r.value),
            None => format!("{} {}", r.metric, r.value),
        })
        .collect()
}

fn graph(ad: &AgentDeployment, s: &AgentDeploymentStatus) -> (Option<Graph>, String, Vec<EdgeRow>) {
    let declared: Vec<String> = ad.spec.agents.iter().map(|a| a.name.clone()).collect();
    let mut edges: Vec<EdgeIn> = Vec::new();
    let mut rows = Vec::new();
    for e in &s.agent_graph {
        let mut label = format!("{} calls", count(e.calls));
        if e.errors > 0 {
            label.push_str(&format!(" · {} errors", count(e.errors)));
        }
        if let Some(p) = e.latency_p95_seconds {
            label.push_str(&format!(" · p95 {p:.2} s"));
        }
        edges.push(EdgeIn {
            from: e.from.clone(),
            to: e.to.clone(),
            label,
            observed: true,
            errors: e.errors > 0,
        });
        rows.push(EdgeRow {
            from: e.from.clone(),
            to: e.to.clone(),
            calls: count(e.calls),
            errors: count(e.errors),
            p95: seconds(e.latency_p95_seconds),
        });
    }
    // Declared `talksTo` that no call was observed on: drawn dashed, so a silent link shows.
    for a in &ad.spec.agents {
        for to in &a.talks_to {
            if !s
                .agent_graph
                .iter()
                .any(|e| e.from == a.name && &e.to == to)
            {
                edges.push(EdgeIn {
                    from: a.name.clone(),
                    to: to.clone(),
                    label: "declared, no calls seen".into(),
                    observed: false,
                    errors: false,
                });
                rows.push(EdgeRow {
                    from: a.name.clone(),
                    to: to.clone(),
                    calls: "-".into(),
                    errors: "-".into(),
                    p95: "-".into(),
                });
            }
        }
    }
    if declared.is_empty() && edges.is_empty() {
        return (None, String::new(), rows);
    }
    let desc = if edges.is_empty() {
        format!("Agents {} with no calls between them.", declared.join(", "))
    } else {
        let parts: Vec<String> = edges
            .iter()
            .map(|e| format!("{} calls {}: {}", e.from, e.to, e.label))
            .collect();
        format!("{}.", parts.join("; "))
    };
    (Some(layout::layout(&declared, &edges)), desc, rows)
}

fn model_rows(s: &AgentDeploymentStatus, models: &BTreeMap<String, &Model>) -> Vec<ModelRow> {
    s.models
        .iter()
        .map(|m| {
            let resolved = lineage::resolve(&m.name, models);
            let (steps, incomplete) = if resolved.chain.is_empty() {
                // The Model objects are not readable here: the status's own chain.
                let steps = m
                    .lineage
                    .iter()
                    .map(|l| LineageStep {
                        label: l.clone(),
                        digest: "-".into(),
                        method: None,
                        datasets: Vec::new(),
                        preprocessing: None,
                        code: None,
                    })
                    .collect();
                (steps, None)
            } else {
                let steps = resolved
                    .chain
                    .iter()
                    .map(|e| {
                        let t = models.get(&e.name).and_then(|m| m.spec.training.as_ref());
                        LineageStep {
                            label: format!("{}@{}", e.name, e.version),
                            digest: e.digest.clone().unwrap_or_else(|| "-".into()),
                            method: t.and_then(|t| t.method.clone()),
                            datasets: t
                                .map(|t| {
                                    t.datasets
                                        .iter()
                                        .map(|d| {
                                            format!(
                                                "{} {}{}",
                                                d.name,
                                                short_digest(d.digest.as_deref()),
                                                d.split
                                                    .as_ref()
                                                    .map_or(String::new(), |s| format!(" ({s})"))
                                            )
                                        })
                                        .collect()
                                })
                                .unwrap_or_default(),
                            preprocessing: t
                                .filter(|t| !t.preprocessing.is_empty())
                                .map(|t| t.preprocessing.join(" → ")),
                            code: t.and_then(|t| t.code.as_ref()).map(|c| {
                                format!(
                                    "{}{}",
                                    c.repository,
                                    c.commit.as_ref().map_or(String::new(), |x| format!("@{x}"))
                                )
                            }),
                        }
                    })
                    .collect();
                (
                    steps,
                    resolved
                        .incomplete
                        .as_ref()
                        .map(lineage::Incomplete::message),
                )
            };
            ModelRow {
                name: m.name.clone(),
                version: m.version.clone().unwrap_or_else(|| "-".into()),
                digest: m.digest.clone().unwrap_or_else(|| "-".into()),
                lineage: steps,
                incomplete,
            }
        })
        .collect()
}

fn inventory_rows(s: &AgentDeploymentStatus) -> Vec<InventoryRow> {
    s.inventory
        .iter()
        .map(|i| {
            let counts: Vec<String> = i.counts.iter().map(|(k, v)| format!("{k} {v}")).collect();
            let mut notes: Vec<String> = i
                .models
                .iter()
                .map(|m| {
                    format!(
                        "serves {} {} {}",
                        m.path,
                        short_digest(Some(&m.fingerprint)),
                        match &m.model {
                            Some(model) => format!("= Model {model}"),
                            None => "(matches no declared Model digest)".into(),
                        }
                    )
                })
                .collect();
            notes.extend(i.notes.iter().cloned());
            InventoryRow {
                container: i.container.clone(),
                os: i.os.clone().unwrap_or_else(|| "-".into()),
                packages: if counts.is_empty() {
                    i.packages.to_string()
                } else {
                    format!("{} ({})", i.packages, counts.join(", "))
                },
                digest: short_digest(i.digest.as_deref()),
                changed: opt_when(i.changed_at.as_ref()),
                pods: if i.variants > 1 {
                    format!("{} ({} variants)", i.pods, i.variants)
                } else {
                    i.pods.to_string()
                },
                notes,
                changes: i
                    .history
                    .iter()
                    .map(|h| {
                        let more = h.changes.len().saturating_sub(8) + h.omitted as usize;
                        format!(
                            "{}: {}{}",
                            when(&h.at),
                            h.changes
                                .iter()
                                .take(8)
                                .cloned()
                                .collect::<Vec<_>>()
                                .join("; "),
                            if more > 0 {
                                format!(" and {more} more")
                            } else {
                                String::new()
                            }
                        )
                    })
                    .collect(),
            }
        })
        .collect()
}

fn runtime(s: &AgentDeploymentStatus) -> Option<RuntimeView> {
    let r = s.runtime.as_ref()?;
    let gpu_percent = match (r.gpu_memory_used_bytes, r.gpu_memory_total_bytes) {
        (Some(u), Some(t)) if t > 0 => Some((u.saturating_mul(100) / t).min(100) as u32),
        _ => None,
    };
    Some(RuntimeView {
        gpu: match (r.gpu_memory_used_bytes, r.gpu_memory_total_bytes) {
            (None, None) => "not measured".into(),
            (u, t) => format!("{} of {}", bytes(u), bytes(t)),
        },
        gpu_percent,
        rss: bytes(r.rss_bytes),
        p50: seconds(r.latency_p50_seconds),
        p95: seconds(r.latency_p95_seconds),
        p99: seconds(r.latency_p99_seconds),
        gpu_ooms: count(r.gpu_oom_events),
        oom_kills: count(r.oom_kills),
        tracebacks: count(r.tracebacks),
        last_traceback: r.last_traceback.as_ref().map(|t| {
            format!(
                "{} in {}/{} at {}",
                t.exception,
                t.pod,
                t.container,
                when(&t.at)
            )
        }),
        tokens: r
            .tokens
            .iter()
            .map(|t| TokenRow {
                model: t.model.clone(),
                requests: count(t.requests),
                input: count(t.input_tokens),
                output: count(t.output_tokens),
            })
            .collect(),
        updated: opt_when(r.updated_at.as_ref()),
    })
}

/// The system page of `ad`, with the Models and Evaluations of `facts` in its namespace.
pub fn system(ad: &AgentDeployment, facts: &Facts) -> SystemView {
    let namespace = ad.metadata.namespace.clone().unwrap_or_default();
    let name = ad.metadata.name.clone().unwrap_or_default();
    let empty = AgentDeploymentStatus::default();
    let s = ad.status.as_ref().unwrap_or(&empty);
    let in_ns = |m: &kube::api::ObjectMeta| m.namespace.as_deref().unwrap_or_default() == namespace;
    let models: BTreeMap<String, &Model> = facts
        .models
        .iter()
        .filter(|m| in_ns(&m.metadata))
        .filter_map(|m| m.metadata.name.clone().map(|n| (n, m)))
        .collect();
    let evaluations: Vec<&Evaluation> = facts
        .evaluations
        .iter()
        .filter(|e| in_ns(&e.metadata) && e.spec.agent_deployment == name)
        .collect();
    let by_name: BTreeMap<&str, &Evaluation> = evaluations
        .iter()
        .filter_map(|e| e.metadata.name.as_deref().map(|n| (n, *e)))
        .collect();
    let (graph, graph_desc, edges) = graph(ad, s);
    let maturity = s.maturity.as_ref().map(|m| {
        let target = ad.spec.maturity.as_ref().map_or(String::new(), |t| {
            let met = if m.level >= t.target_level {
                "met"
            } else {
                "not met"
            };
            format!(", target {} {met}", t.target_level)
        });
        format!("level {} (score {} / 100){target}", m.level, m.score)
    });
    SystemView {
        reconciled: ad.status.is_some(),
        maturity,
        pods: s.pods.as_ref().map(|p| PodsView {
            summary: format!(
                "{} matched, {} with the sidecar, {} ready",
                p.matched, p.injected, p.ready
            ),
            uninjected: {
                let mut v = p.uninjected.clone();
                let more = (p.uninjected_count as usize).saturating_sub(v.len());
                if more > 0 {
                    v.push(format!("and {more} more"));
                }
                v
            },
        }),
        problems: problems(&s.conditions),
        conditions: s
            .conditions
            .iter()
            .map(|c| {
                [
                    c.type_.clone(),
                    c.status.clone(),
                    c.reason.clone(),
                    c.message.clone(),
                ]
            })
            .collect(),
        last_change: opt_when(last_change(s).as_ref()),
        graph,
        graph_desc,
        edges,
        models: model_rows(s, &models),
        images: s
            .images
            .iter()
            .map(|i| ImageRow {
                container: i.container.clone(),
                image: i.image.clone(),
                digest: i.digest.clone().unwrap_or_else(|| "-".into()),
                pods: if i.ended > 0 {
                    format!("{} ({} ended)", i.pods, i.ended)
                } else {
                    i.pods.to_string()
                },
            })
            .collect(),
        configs: config_rows(&s.configs),
        prompts: config_rows(&s.prompts),
        inventory: inventory_rows(s),
        rag: s
            .rag
            .iter()
            .flat_map(|r| {
                std::iter::once(("now", &r.current)).chain(r.history.iter().map(|h| ("before", h)))
            })
            .map(|(w, r)| RagRow {
                when: w,
                store: r.vector_store.clone(),
                collection: r.collection.clone().unwrap_or_else(|| "-".into()),
                index: r.index_version.clone().unwrap_or_else(|| "-".into()),
                embedding: format!(
                    "{} {}",
                    r.embedding_model.as_deref().unwrap_or("-"),
                    short_digest(r.embedding_digest.as_deref())
                ),
                since: opt_when(r.since.as_ref()),
            })
            .collect(),
        guardrails: ad
            .spec
            .guardrails
            .iter()
            .map(|g| GuardrailRow {
                name: g.name.clone(),
                stage: serde_json::to_value(g.stage)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default(),
                description: g.description.clone().unwrap_or_default(),
                results: evaluations
                    .iter()
                    .filter(|e| e.spec.guardrail.as_deref() == Some(g.name.as_str()))
                    .map(|e| {
                        format!(
                            "{} ({}): {}{}",
                            e.spec.suite,
                            phase(e.spec.phase),
                            if e.spec.passed { "passed" } else { "failed" },
                            match metrics(e) {
                                m if m.is_empty() => String::new(),
                                m => format!(", {}", m.join(", ")),
                            }
                        )
                    })
                    .collect(),
            })
            .collect(),
        evaluations: s
            .evaluations
            .iter()
            .map(|e| EvaluationRow {
                name: e.name.clone(),
                suite: e.suite.clone(),
                phase: phase(e.phase),
                passed: e.passed,
                at: opt_when(e.at.as_ref()),
                metrics: by_name
                    .get(e.name.as_str())
                    .map(|e| metrics(e))
                    .unwrap_or_default(),
            })
            .collect(),
        runtime: runtime(s),
        checks: s
            .maturity
            .as_ref()
            .map(|m| {
                checks_next_steps_first(m)
                    .into_iter()
                    .map(|c| CheckRow {
                        id: c.id.clone(),
                        area: area(c.area),
                        state: match (c.applicable, c.passed) {
                            (false, _) => "n/a",
                            (true, true) => "pass",
                            (true, false) => "fail",
                        },
                        evidence: c.evidence.clone(),
                        next: c.next.clone(),
                    })
                    .collect()
            })
            .unwrap_or_default(),
        omitted: s
            .omitted
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", "),
        namespace,
        name,
    }
}

#[cfg(test)]
mod tests;
