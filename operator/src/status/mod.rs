//! The status of an AgentDeployment and of a Model, computed from plain data: the objects of
//! one namespace and the sidecars' snapshots. Pure and deterministic (the caller supplies
//! `now`); the controller and `status --from` share it.

pub mod conditions;
pub mod configs;
pub mod graph;
pub mod images;
pub mod inventory;
pub mod kept;
pub mod rag;
pub use agentlens_crds::latency;
pub mod lineage;
pub mod maturity;
pub mod podfacts;
pub mod python_abi;
pub mod runtime;
pub mod telemetry;

use std::collections::{BTreeMap, BTreeSet};

use agentlens_crds::agentdeployment_status::{
    AgentDeploymentStatus, ConfigKind, ConfigStatus, EvaluationSummary, ModelSummary, PodCounts,
};
use agentlens_crds::common::STATUS_LIST_LIMIT;
use agentlens_crds::{AgentDeployment, Evaluation, Model, ModelStatus, Snapshot};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use conditions::{Computed, settle};
pub use podfacts::PodFacts;

/// Everything the status of one AgentDeployment depends on.
#[derive(Debug, Clone, Copy)]
pub struct World<'a> {
    /// The AgentDeployment.
    pub ad: &'a AgentDeployment,
    /// The pods of its namespace (the selector is applied here).
    pub pods: &'a [&'a PodFacts],
    /// ConfigMaps of the namespace, by name, as content digests.
    pub config_maps: &'a BTreeMap<String, &'a configs::ConfigDigest>,
    /// Secrets of the namespace, by name, as content digests (HMACs under the installation's
    /// key, or no hash without one).
    pub secrets: &'a BTreeMap<String, &'a configs::ConfigDigest>,
    /// Models of the namespace, by name.
    pub models: &'a BTreeMap<String, &'a Model>,
    /// Evaluations of the namespace.
    pub evaluations: &'a [&'a Evaluation],
    /// Sidecar snapshots, by pod name.
    pub snapshots: &'a BTreeMap<String, Snapshot>,
    /// Package lists by inventory digest, for the inventory history (empty: counts only).
    pub package_lists: &'a inventory::PackageLists,
}

/// The Models a system names: its agents' models and the RAG embedding model.
pub fn model_names(ad: &AgentDeployment) -> BTreeSet<String> {
    let mut names: BTreeSet<String> = ad
        .spec
        .agents
        .iter()
        .flat_map(|a| a.models.iter().map(|m| m.name.clone()))
        .collect();
    if let Some(e) = ad
        .spec
        .rag
        .as_ref()
        .and_then(|r| r.embedding_model.as_ref())
    {
        names.insert(e.name.clone());
    }
    names
}

/// The ConfigMaps and Secrets `spec.configs` names.
pub fn spec_configs(ad: &AgentDeployment) -> BTreeSet<configs::ConfigRef> {
    let mut out = BTreeSet::new();
    for c in &ad.spec.configs {
        if let Some(n) = &c.config_map {
            out.insert((ConfigKind::ConfigMap, n.clone()));
        }
        if let Some(n) = &c.secret {
            out.insert((ConfigKind::Secret, n.clone()));
        }
    }
    out
}

/// The prompts the agents name: (ConfigMap, key; `None` = all keys).
pub fn prompt_refs(ad: &AgentDeployment) -> BTreeSet<(String, Option<String>)> {
    ad.spec
        .agents
        .iter()
        .flat_map(|a| {
            a.prompts
                .iter()
                .map(|p| (p.config_map.clone(), p.key.clone()))
        })
        .collect()
}

/// The pods an AgentDeployment selects (not finished, not being deleted), by name.
pub fn matched<'a>(ad: &AgentDeployment, pods: &[&'a PodFacts]) -> Vec<&'a PodFacts> {
    let mut out: Vec<&PodFacts> = pods
        .iter()
        .copied()
        .filter(|p| {
            !crate::selector::is_empty(&ad.spec.selector)
                && crate::selector::matches(&ad.spec.selector, &p.labels)
        })
        .filter(|p| p.running)
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// The pods an AgentDeployment selects that ended (a failed Job) and still exist.
pub fn ended_pods<'a>(ad: &AgentDeployment, pods: &[&'a PodFacts]) -> Vec<&'a PodFacts> {
    pods.iter()
        .copied()
        .filter(|p| {
            p.ended
                && !crate::selector::is_empty(&ad.spec.selector)
                && crate::selector::matches(&ad.spec.selector, &p.labels)
        })
        .collect()
}

fn should_be_injected(ad: &AgentDeployment, pod: &PodFacts) -> bool {
    let ad_off = ad.spec.sidecar.as_ref().and_then(|s| s.inject) == Some(false);
    !pod.opted_out && !ad_off && !pod.host_network
}

fn bounded<T>(mut v: Vec<T>, field: &str, omitted: &mut BTreeMap<String, u32>) -> Vec<T> {
    if v.len() > STATUS_LIST_LIMIT {
        omitted.insert(field.into(), (v.len() - STATUS_LIST_LIMIT) as u32);
        v.truncate(STATUS_LIST_LIMIT);
    }
    v
}

/// Computes the AgentDeployment's status. `previous` keeps history, change times and
/// transition times stable; nothing moves unless what it describes changed.
pub fn agent_deployment(
    w: &World<'_>,
    previous: Option<&AgentDeploymentStatus>,
    now: &Time,
) -> AgentDeploymentStatus {
    let ad = w.ad;
    let pods = matched(ad, w.pods);
    let mut omitted = BTreeMap::new();

    // Pods.
    let injected = pods.iter().filter(|p| p.injected).count() as u32;
    let ready = pods.iter().filter(|p| p.ready).count() as u32;
    let uninjected_all: Vec<String> = pods
        .iter()
        .filter(|p| !p.injected && should_be_injected(ad, p))
        .map(|p| p.name.clone())
        .collect();
    let pod_counts = PodCounts {
        matched: pods.len() as u32,
        injected,
        ready,
        injected_of_matched: format!("{injected}/{}", pods.len()),
        uninjected: uninjected_all.iter().take(10).cloned().collect(),
        uninjected_count: uninjected_all.len() as u32,
    };

    // Images.
    let counts = images::count(&pods);
    let drift = images::drift(&counts);
    let ended = images::count(&ended_pods(ad, w.pods));
    let image_rows = bounded(images::rows(&counts, &ended), "images", &mut omitted);

    // Models and lineage.
    let model_names = model_names(ad);
    let mut lineage_problems = Vec::new();
    let models: Vec<ModelSummary> = model_names
        .iter()
        .map(|name| {
            let l = lineage::resolve(name, w.models);
            if let Some(i) = &l.incomplete {
                lineage_problems.push(format!("{name}: {}", i.message()));
            }
            let m = w.models.get(name);
            ModelSummary {
                name: name.clone(),
                version: m.map(|m| m.spec.version.clone()),
                digest: m
                    .and_then(|m| m.spec.artifact.as_ref())
                    .and_then(|a| a.digest.clone()),
                lineage: l.labels(),
            }
        })
        .collect();
    let models = bounded(models, "models", &mut omitted);

    // Configs (consumed by the pods or named in the spec) and prompts.
    let mut wanted: BTreeSet<configs::ConfigRef> = pods
        .iter()
        .flat_map(|p| p.configs.iter().cloned())
        .collect();
    wanted.extend(spec_configs(ad));
    let prompt_refs = prompt_refs(ad);
    // A prompt ConfigMap is reported under prompts, not twice.
    wanted
        .retain(|(k, n)| !(*k == ConfigKind::ConfigMap && prompt_refs.iter().any(|(c, _)| c == n)));
    // Stale pods: the pods that consume a config (all pods for configs named only in the spec
    // and for prompts) and started before its latest change.
    let start_of = |p: &PodFacts| p.start_time.clone();
    let all_starts: Vec<Option<Time>> = pods.iter().map(|p| start_of(p)).collect();
    let consumer_starts = |kind: ConfigKind, name: &str| -> Vec<Option<Time>> {
        let consumers: Vec<Option<Time>> = pods
            .iter()
            .filter(|p| p.configs.contains(&(kind, name.to_string())))
            .map(|p| start_of(p))
            .collect();
        if consumers.is_empty() {
            all_starts.clone()
        } else {
            consumers
        }
    };
    let prev_configs = previous.map(|p| p.configs.as_slice()).unwrap_or_default();
    let prev_prompts = previous.map(|p| p.prompts.as_slice()).unwrap_or_default();
    let mut stale_total = 0;
    let mut track = |prev: &[ConfigStatus],
                     kind: ConfigKind,
                     name: &str,
                     key: Option<&str>,
                     starts: Vec<Option<Time>>| {
        let digest = match kind {
            ConfigKind::ConfigMap => w.config_maps.get(name),
            ConfigKind::Secret => w.secrets.get(name),
        };
        let hash = digest.and_then(|d| d.hash(key));
        let created = digest.and_then(|d| d.created.as_ref());
        let p = prev
            .iter()
            .find(|c| c.kind == kind && c.name == name && c.key.as_deref() == key);
        let mut st = configs::track(p, kind, name, key, hash, created, now);
        let refs: Vec<Option<&Time>> = starts.iter().map(Option::as_ref).collect();
        st.stale_pods = configs::stale_pods(&st, &refs);
        stale_total += st.stale_pods;
        st
    };
    let config_rows: Vec<ConfigStatus> = wanted
        .iter()
        .map(|(k, n)| track(prev_configs, *k, n, None, consumer_starts(*k, n)))
        .collect();
    let prompt_rows: Vec<ConfigStatus> = prompt_refs
        .iter()
        .map(|(n, key)| {
            track(
                prev_prompts,
                ConfigKind::ConfigMap,
                n,
                key.as_deref(),
                all_starts.clone(),
            )
        })
        .collect();
    let config_rows = bounded(config_rows, "configs", &mut omitted);
    let prompt_rows = bounded(prompt_rows, "prompts", &mut omitted);

    // Evaluations: the latest per suite and phase, and the model versions none covers.
    let name = ad.metadata.name.clone().unwrap_or_default();
    let (eval_rows, unevaluated) = evaluations(w.evaluations, &name, &models);
    let eval_rows = bounded(eval_rows, "evaluations", &mut omitted);

    // Runtime.
    let mine: BTreeMap<String, Snapshot> = pods
        .iter()
        .filter_map(|p| {
            w.snapshots
                .get(&p.name)
                .map(|s| (p.name.clone(), s.clone()))
        })
        .collect();
    let mut runtime = runtime::merge(&mine, runtime::oom_kills(&pods));
    let (tokens, tokens_omitted) = runtime::tokens(&mine);
    runtime.tokens = tokens;
    if tokens_omitted > 0 {
        omitted.insert("runtime.tokens".into(), tokens_omitted as u32);
    }
    let prev_runtime = previous.and_then(|p| p.runtime.clone());
    runtime.updated_at = match &prev_runtime {
        Some(p) if RuntimeEq(p) == RuntimeEq(&runtime) => p.updated_at.clone(),
        _ => Some(now.clone()),
    };

    // Conditions.
    let mut computed = conditions(&ConditionInputs {
        pods: pods.len(),
        ready,
        injected,
        uninjected: &uninjected_all,
        lineage_problems: &lineage_problems,
        models: models.len(),
        stale: stale_total,
        runtime: &runtime,
        unevaluated: &unevaluated,
        drift: &drift,
    });
    computed.extend(telemetry::condition(ad, &pods, &mine));
    computed.extend(python_abi::condition(ad, &pods, &mine));
    let inventory_rows = inventory::rows(
        &mine,
        previous.map(|p| p.inventory.as_slice()).unwrap_or_default(),
        w.package_lists,
        w.models,
        now,
    );
    let mismatched = inventory::mismatches(&inventory_rows);
    if inventory::served_count(&inventory_rows) > 0 {
        computed.push(Computed {
            type_: conditions::types::MODEL_ARTIFACT_MISMATCH,
            status: !mismatched.is_empty(),
            reason: if mismatched.is_empty() {
                "AllMatch"
            } else {
                "UndeclaredArtifact"
            },
            message: if mismatched.is_empty() {
                "every served model artifact matches a declared Model's artifact digest".into()
            } else {
                format!(
                    "served model artifacts match no declared Model's spec.artifact.digest: {}",
                    mismatched.join(", ")
                )
            },
        });
    }
    let inventory_rows = bounded(inventory_rows, "inventory", &mut omitted);
    let (agent_graph, graph_omitted) = graph::merge(
        mine.values(),
        previous.map(|p| p.agent_graph.as_slice()),
        STATUS_LIST_LIMIT,
    );
    if graph_omitted > 0 {
        omitted.insert("agentGraph".into(), graph_omitted as u32);
    }
    let mut status = AgentDeploymentStatus {
        observed_generation: ad.metadata.generation,
        conditions: Vec::new(),
        pods: Some(pod_counts),
        images: image_rows,
        models,
        configs: config_rows,
        prompts: prompt_rows,
        runtime: Some(runtime),
        evaluations: eval_rows,
        rag: rag::status(ad, w.models, previous.and_then(|p| p.rag.as_ref()), now),
        agent_graph,
        inventory: inventory_rows,
        maturity: None,
        omitted,
    };

    // Maturity, from everything above.
    let maturity = maturity::evaluate(&maturity::Evidence {
        ad,
        pods: &pods,
        snapshots: &mine,
        models: w.models,
        evaluations: w.evaluations,
        status: &status,
        unevaluated: &unevaluated,
    });
    if let Some(target) = ad.spec.maturity.as_ref().map(|m| m.target_level) {
        let met = maturity.level >= target;
        computed.push(Computed {
            type_: conditions::types::MATURITY_TARGET_MET,
            status: met,
            reason: if met { "TargetMet" } else { "BelowTarget" },
            message: format!(
                "level {} (score {}) against target {target}",
                maturity.level, maturity.score
            ),
        });
    }
    status.maturity = Some(maturity);
    let prev_conditions = previous
        .map(|p| p.conditions.as_slice())
        .unwrap_or_default();
    status.conditions = settle(computed, prev_conditions, ad.metadata.generation, now);
    status
}

/// The latest Evaluation of `system` per suite and phase, and the running model versions
/// (`name@version`) that no passed PreDeployment evaluation covers.
fn evaluations(
    evals: &[&Evaluation],
    name: &str,
    models: &[ModelSummary],
) -> (Vec<EvaluationSummary>, Vec<String>) {
    let mut latest: BTreeMap<(String, agentlens_crds::evaluation::EvaluationPhase), &Evaluation> =
        BTreeMap::new();
    let when = |e: &Evaluation| {
        e.spec
            .completed_at
            .clone()
            .or_else(|| e.metadata.creation_timestamp.clone())
            .map(|t| t.0)
    };
    for e in evals
        .iter()
        .copied()
        .filter(|e| e.spec.agent_deployment == *name)
    {
        let key = (e.spec.suite.clone(), e.spec.phase);
        if latest.get(&key).is_none_or(|cur| when(e) > when(cur)) {
            latest.insert(key, e);
        }
    }
    let eval_rows: Vec<EvaluationSummary> = latest
        .values()
        .map(|e| EvaluationSummary {
            name: e.metadata.name.clone().unwrap_or_default(),
            suite: e.spec.suite.clone(),
            phase: e.spec.phase,
            passed: e.spec.passed,
            at: e.spec.completed_at.clone(),
        })
        .collect();
    // A passed PreDeployment evaluation for every model version running now.
    let evaluated = |m: &ModelSummary| {
        evals.iter().any(|e| {
            e.spec.agent_deployment == *name
                && e.spec.phase == agentlens_crds::evaluation::EvaluationPhase::PreDeployment
                && e.spec.passed
                && e.spec
                    .subject
                    .iter()
                    .flat_map(|s| &s.models)
                    .any(|mv| mv.name == m.name && Some(&mv.version) == m.version.as_ref())
        })
    };
    let unevaluated: Vec<String> = models
        .iter()
        .filter(|m| !evaluated(m))
        .map(|m| format!("{}@{}", m.name, m.version.as_deref().unwrap_or("?")))
        .collect();
    (eval_rows, unevaluated)
}

/// What the base conditions are computed from.
struct ConditionInputs<'a> {
    pods: usize,
    ready: u32,
    injected: u32,
    uninjected: &'a [String],
    lineage_problems: &'a [String],
    models: usize,
    stale: u32,
    runtime: &'a agentlens_crds::agentdeployment_status::RuntimeStatus,
    unevaluated: &'a [String],
    drift: &'a [String],
}

/// The conditions that follow from pods, lineage, configs, runtime, evaluations and images
/// (`ModelArtifactMismatch` and `MaturityTargetMet` are added once inventory and maturity are
/// known).
fn conditions(i: &ConditionInputs<'_>) -> Vec<Computed> {
    let mut computed = vec![
        Computed {
            type_: conditions::types::READY,
            status: i.pods > 0 && i.ready as usize == i.pods,
            reason: if i.pods == 0 {
                "NoPods"
            } else if i.ready as usize == i.pods {
                "AllPodsReady"
            } else {
                "PodsNotReady"
            },
            message: format!("{}/{} pods ready", i.ready, i.pods),
        },
        Computed {
            type_: conditions::types::SIDECARS_INJECTED,
            status: i.uninjected.is_empty(),
            reason: if i.uninjected.is_empty() {
                "AllInjected"
            } else {
                "PodsWithoutSidecar"
            },
            message: if i.uninjected.is_empty() {
                format!("{}/{} pods carry the sidecar", i.injected, i.pods)
            } else {
                format!(
                    "{} pod(s) created without the sidecar (webhook unavailable?): {}",
                    i.uninjected.len(),
                    i.uninjected
                        .iter()
                        .take(5)
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            },
        },
        Computed {
            type_: conditions::types::LINEAGE_COMPLETE,
            status: i.lineage_problems.is_empty(),
            reason: if i.lineage_problems.is_empty() {
                "Complete"
            } else {
                "Incomplete"
            },
            message: if i.lineage_problems.is_empty() {
                format!("{} models resolved", i.models)
            } else {
                i.lineage_problems.join("; ")
            },
        },
        Computed {
            type_: conditions::types::CONFIG_CURRENT,
            status: i.stale == 0,
            reason: if i.stale == 0 { "Current" } else { "StalePods" },
            message: if i.stale == 0 {
                "every running pod started after the latest config change".into()
            } else {
                format!(
                    "{} pod starts predate the latest config or prompt change",
                    i.stale
                )
            },
        },
        Computed {
            type_: conditions::types::GPU_OUT_OF_MEMORY,
            status: i.runtime.gpu_oom_events > 0,
            reason: if i.runtime.gpu_oom_events > 0 {
                "GpuOomSeen"
            } else {
                "NoGpuOom"
            },
            message: format!(
                "{} GPU out-of-memory events, {} OOMKilled containers",
                i.runtime.gpu_oom_events, i.runtime.oom_kills
            ),
        },
    ];
    computed.push(Computed {
        type_: conditions::types::PRE_DEPLOYMENT_EVALUATED,
        status: i.unevaluated.is_empty(),
        reason: if i.unevaluated.is_empty() {
            "AllModelsEvaluated"
        } else {
            "ModelsNotEvaluated"
        },
        message: if i.unevaluated.is_empty() {
            "a passed PreDeployment evaluation covers every model version running".into()
        } else {
            format!(
                "no passed PreDeployment evaluation for {}",
                i.unevaluated.join(", ")
            )
        },
    });
    if !i.drift.is_empty() {
        computed.push(Computed {
            type_: conditions::types::DIGEST_DRIFT,
            status: true,
            reason: "MultipleDigests",
            message: format!(
                "one image reference runs under several digests: {}",
                i.drift.join(", ")
            ),
        });
    }
    computed
}

/// Runtime figures compared without their `updatedAt`.
struct RuntimeEq<'a>(&'a agentlens_crds::agentdeployment_status::RuntimeStatus);

impl PartialEq for RuntimeEq<'_> {
    fn eq(&self, other: &Self) -> bool {
        let mut a = self.0.clone();
        let mut b = other.0.clone();
        a.updated_at = None;
        b.updated_at = None;
        a == b
    }
}

/// Computes a Model's status: its lineage and `LineageComplete`.
pub fn model(
    m: &Model,
    models: &BTreeMap<String, &Model>,
    previous: Option<&ModelStatus>,
    now: &Time,
) -> ModelStatus {
    let name = m.metadata.name.clone().unwrap_or_default();
    let l = lineage::resolve(&name, models);
    let computed = vec![match &l.incomplete {
        None => Computed {
            type_: conditions::types::LINEAGE_COMPLETE,
            status: true,
            reason: "Complete",
            message: format!("lineage {}", l.labels().join(" -> ")),
        },
        Some(i) => Computed {
            type_: conditions::types::LINEAGE_COMPLETE,
            status: false,
            reason: i.reason(),
            message: i.message(),
        },
    }];
    let prev = previous
        .map(|p| p.conditions.as_slice())
        .unwrap_or_default();
    ModelStatus {
        observed_generation: m.metadata.generation,
        conditions: settle(computed, prev, m.metadata.generation, now),
        lineage: l.chain,
    }
}
