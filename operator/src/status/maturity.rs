//! The operational-maturity rubric (`../shared/DESIGN.md`, ids stable): 17 checks computed from
//! what the operator knows, each with the evidence it saw and the next step when it fails. A
//! check that needs runtime evidence the operator has not got (no sidecar snapshot) fails and
//! says so; nothing passes by default. Levels and checks are explained in `docs/maturity.md`.

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
        env1(e),
        env2(e),
        env3(e),
        obs1(e),
        obs2(e),
        obs3(e),
        obs4(e),
        obs5(e),
        obs6(e),
        mod1(e),
        mod2(e),
        mod3(e),
        agt1(e),
        agt2(e),
        agt3(e),
        agt4(e),
        agt5(e),
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

/// Distinct prompt templates seen in spans, by agent (hash sets).
fn templates_by_agent(e: &Evidence<'_>) -> BTreeMap<String, std::collections::BTreeSet<String>> {
    let mut out: BTreeMap<String, std::collections::BTreeSet<String>> = BTreeMap::new();
    for g in genai(e) {
        for p in &g.prompts {
            out.entry(p.agent.clone().unwrap_or_default())
                .or_default()
                .insert(p.hash.clone());
        }
    }
    out
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

fn env1(e: &Evidence<'_>) -> MaturityCheck {
    let area = MaturityArea::Environment;
    let containers = agent_containers(e);
    if containers.is_empty() {
        return check("ENV-1", area, true, false, NO_PODS, NO_PODS_NEXT);
    }
    let without: Vec<String> = e
        .pods
        .iter()
        .flat_map(|p| {
            p.images
                .iter()
                .filter(|(c, _, d)| {
                    d.is_none() && !crate::inject::INFRA_CONTAINERS.contains(&c.as_str())
                })
                .map(move |(c, image, _)| format!("{}/{c} ({image})", p.name))
        })
        .collect();
    check(
        "ENV-1",
        area,
        true,
        without.is_empty(),
        format!(
            "{}/{} agent containers run an image resolved to a registry digest",
            containers.len() - without.len(),
            containers.len()
        ),
        format!(
            "push the images to a registry and run them by digest (image@sha256:…) or from a \
             registry the node resolves: {}",
            list(&without)
        ),
    )
}

fn env2(e: &Evidence<'_>) -> MaturityCheck {
    let area = MaturityArea::Environment;
    if e.pods.is_empty() {
        return check("ENV-2", area, true, false, NO_PODS, NO_PODS_NEXT);
    }
    let (checked, failed, missing) = per_container(e, |s, c| {
        s.inventory
            .iter()
            .any(|i| i.container == c && i.packages > 0)
    });
    if checked == 0 {
        return check(
            "ENV-2",
            area,
            true,
            false,
            format!("no sidecar snapshot from {} pod(s)", missing.len()),
            no_snapshot_next(&missing),
        );
    }
    check(
        "ENV-2",
        area,
        true,
        failed.is_empty() && missing.is_empty(),
        format!(
            "an OS and package inventory for {}/{checked} agent containers; {} pod(s) without a snapshot",
            checked - failed.len(),
            missing.len()
        ),
        if missing.is_empty() {
            let denied = e
                .status
                .inventory
                .iter()
                .any(|i| i.notes.iter().any(|n| n.contains("permission denied")));
            format!(
                "the sidecar read no packages for {}{}",
                list(&failed),
                if denied {
                    ": it may not read the app's files (permission denied): give the pod a non-root \
                     runAsUser, which the webhook also gives the sidecar, so both run as one user"
                } else {
                    ": see the notes in status.inventory and GET /v1/inventory on port 9477"
                }
            )
        } else {
            no_snapshot_next(&missing)
        },
    )
}

fn env3(e: &Evidence<'_>) -> MaturityCheck {
    let area = MaturityArea::Environment;
    let configs = &e.status.configs;
    let omitted = e.status.omitted.get("configs").copied().unwrap_or(0);
    if configs.is_empty() && omitted == 0 {
        return check(
            "ENV-3",
            area,
            false,
            false,
            "the pods consume no ConfigMap or Secret and spec.configs names none",
            "",
        );
    }
    let untracked: Vec<String> = configs
        .iter()
        .filter(|c| c.hash.is_none())
        .map(|c| {
            let kind = match c.kind {
                ConfigKind::ConfigMap => "ConfigMap",
                ConfigKind::Secret => "Secret",
            };
            format!("{kind} {}", c.name)
        })
        .collect();
    check(
        "ENV-3",
        area,
        true,
        untracked.is_empty(),
        format!(
            "{}/{} ConfigMaps and Secrets tracked with a content hash and history{}",
            configs.len() - untracked.len(),
            configs.len(),
            if omitted > 0 {
                format!(" ({omitted} more not listed)")
            } else {
                String::new()
            }
        ),
        format!(
            "create the missing objects, or let the operator read them (RBAC): {}",
            list(&untracked)
        ),
    )
}

fn obs1(e: &Evidence<'_>) -> MaturityCheck {
    let area = MaturityArea::Observability;
    if e.pods.is_empty() {
        return check("OBS-1", area, true, false, NO_PODS, NO_PODS_NEXT);
    }
    let (checked, failed, missing) = per_container(e, |s, c| {
        s.containers
            .iter()
            .any(|x| x.name == c && x.logs_unavailable_reason.is_none())
    });
    let reasons: Vec<String> = snapshots(e)
        .0
        .iter()
        .flat_map(|(_, s)| {
            s.containers
                .iter()
                .filter_map(|c| c.logs_unavailable_reason.clone())
        })
        .take(1)
        .collect();
    check(
        "OBS-1",
        area,
        true,
        checked > 0 && failed.is_empty() && missing.is_empty(),
        format!(
            "logs read from {}/{checked} agent containers with a snapshot; {} pod(s) without a snapshot",
            checked - failed.len(),
            missing.len()
        ),
        if !missing.is_empty() {
            no_snapshot_next(&missing)
        } else {
            format!(
                "let the sidecar read the pods' logs (get on pods and pods/log for the pods' \
                 service account: Helm value sidecar.rbac.namespaces): {}{}",
                list(&failed),
                reasons
                    .first()
                    .map(|r| format!(" ({r})"))
                    .unwrap_or_default()
            )
        },
    )
}

fn obs2(e: &Evidence<'_>) -> MaturityCheck {
    let area = MaturityArea::Observability;
    if e.pods.is_empty() {
        return check("OBS-2", area, true, false, NO_PODS, NO_PODS_NEXT);
    }
    let (have, missing) = snapshots(e);
    // Tracebacks are found in the logs: the check needs every pod's logs analysed, and says
    // when groups were dropped for lack of room.
    let (checked, unreadable, _) = per_container(e, |s, c| {
        s.containers
            .iter()
            .any(|x| x.name == c && x.logs_unavailable_reason.is_none())
    });
    let groups: usize = have.iter().map(|(_, s)| s.tracebacks.len()).sum();
    let total: u64 = have
        .iter()
        .flat_map(|(_, s)| s.tracebacks.iter().map(|t| t.count))
        .sum();
    let dropped: u64 = have
        .iter()
        .flat_map(|(_, s)| {
            s.dropped
                .iter()
                .filter(|(k, _)| k.contains("traceback"))
                .map(|(_, v)| *v)
        })
        .sum();
    check(
        "OBS-2",
        area,
        true,
        checked > 0 && missing.is_empty() && unreadable.is_empty(),
        format!(
            "{total} tracebacks in {groups} groups from {} pod(s) whose logs are analysed; {} pod(s) without a snapshot{}",
            have.len(),
            missing.len(),
            if dropped > 0 {
                format!("; {dropped} traceback groups dropped (store full)")
            } else {
                String::new()
            }
        ),
        if missing.is_empty() {
            format!(
                "tracebacks come from the logs: make the logs of {} readable (OBS-1)",
                list(&unreadable)
            )
        } else {
            no_snapshot_next(&missing)
        },
    )
}

fn obs3(e: &Evidence<'_>) -> MaturityCheck {
    let area = MaturityArea::Observability;
    if e.pods.is_empty() {
        return check("OBS-3", area, true, false, NO_PODS, NO_PODS_NEXT);
    }
    let (checked, failed, missing) = per_container(e, |s, c| {
        s.containers
            .iter()
            .any(|x| x.name == c && x.processes > 0 && x.rss_bytes > 0)
    });
    check(
        "OBS-3",
        area,
        true,
        checked > 0 && failed.is_empty() && missing.is_empty(),
        format!(
            "resident memory measured for {}/{checked} agent containers; {} pod(s) without a snapshot",
            checked - failed.len(),
            missing.len()
        ),
        if missing.is_empty() {
            format!(
                "the sidecar sees no processes of {}: the pod needs shareProcessNamespace (the \
                 webhook sets it; check that nothing overrides it)",
                list(&failed)
            )
        } else {
            no_snapshot_next(&missing)
        },
    )
}

fn obs4(e: &Evidence<'_>) -> MaturityCheck {
    let area = MaturityArea::Observability;
    let gpu_pods: Vec<&PodFacts> = e.pods.iter().copied().filter(|p| p.gpu).collect();
    if gpu_pods.is_empty() {
        return check(
            "OBS-4",
            area,
            false,
            false,
            "no matched pod requests a GPU",
            "",
        );
    }
    let mut measured = 0;
    let mut failed = Vec::new();
    for p in &gpu_pods {
        match e.snapshots.get(&p.name) {
            Some(s) if s.gpu.state == GpuState::Available && !s.gpu.devices.is_empty() => {
                measured += 1;
            }
            Some(s) => failed.push(format!(
                "{} ({})",
                p.name,
                s.gpu
                    .reason
                    .as_deref()
                    .unwrap_or("GPU not available to the sidecar")
            )),
            None => failed.push(format!("{} (no sidecar snapshot)", p.name)),
        }
    }
    check(
        "OBS-4",
        area,
        true,
        failed.is_empty(),
        format!(
            "GPU memory measured in {measured}/{} pods that request GPUs",
            gpu_pods.len()
        ),
        format!(
            "give the sidecar NVML: the NVIDIA container toolkit must honour \
             NVIDIA_VISIBLE_DEVICES for it (the webhook sets it on GPU pods): {}",
            list(&failed)
        ),
    )
}

fn obs5(e: &Evidence<'_>) -> MaturityCheck {
    let area = MaturityArea::Observability;
    if e.pods.is_empty() {
        return check("OBS-5", area, true, false, NO_PODS, NO_PODS_NEXT);
    }
    let (have, missing) = snapshots(e);
    let requests: u64 = have
        .iter()
        .filter_map(|(_, s)| s.latency.as_ref())
        .map(|l| l.requests)
        .sum();
    let measuring = have
        .iter()
        .filter(|(_, s)| s.latency.as_ref().is_some_and(|l| l.requests > 0))
        .count();
    check(
        "OBS-5",
        area,
        true,
        measuring > 0 && missing.is_empty(),
        format!(
            "request latency from {measuring}/{} pods ({requests} requests measured); {} pod(s) without a snapshot",
            e.pods.len(),
            missing.len()
        ),
        if missing.is_empty() {
            if e.ad
                .spec
                .sidecar
                .as_ref()
                .and_then(|s| s.otlp.as_ref())
                .is_some_and(|o| o.enabled)
            {
                "the OTLP receiver is on but saw no SERVER or CONSUMER span: instrument the \
                 handling of requests or queued messages (OpenTelemetry HTTP server or messaging \
                 instrumentation), or route HTTP traffic through the latency proxy \
                 (spec.sidecar.proxy, Service targetPort agentlens-proxy)"
                    .to_string()
            } else {
                "route the agents' traffic through the sidecar's latency proxy \
                 (spec.sidecar.proxy.targetPort, Service targetPort agentlens-proxy) or send OTLP \
                 spans to the sidecar (spec.sidecar.otlp.enabled)"
                    .to_string()
            }
        } else {
            no_snapshot_next(&missing)
        },
    )
}

fn obs6(e: &Evidence<'_>) -> MaturityCheck {
    let area = MaturityArea::Observability;
    if e.pods.is_empty() {
        return check("OBS-6", area, true, false, NO_PODS, NO_PODS_NEXT);
    }
    let (have, missing) = snapshots(e);
    let stale: Vec<String> = have
        .iter()
        .filter(|(_, s)| {
            s.metrics_scraped_at.as_ref().is_none_or(|t| {
                s.collected_at.0.as_second() - t.0.as_second() > SCRAPE_RECENT_SECONDS
            })
        })
        .map(|(p, _)| p.name.clone())
        .collect();
    check(
        "OBS-6",
        area,
        true,
        !have.is_empty() && stale.is_empty() && missing.is_empty(),
        format!(
            "{}/{} sidecars scraped in the last {} minutes; {} pod(s) without a snapshot",
            have.len() - stale.len(),
            have.len(),
            SCRAPE_RECENT_SECONDS / 60,
            missing.len()
        ),
        if missing.is_empty() {
            format!(
                "let Prometheus scrape port 9477 of {} (the chart's PodMonitor, or \
                 prometheus.io/scrape annotations, which the webhook adds)",
                list(&stale)
            )
        } else {
            no_snapshot_next(&missing)
        },
    )
}

/// The models the agents (and the RAG embedding) use.
fn used_models(e: &Evidence<'_>) -> Vec<String> {
    e.status.models.iter().map(|m| m.name.clone()).collect()
}

fn mod1(e: &Evidence<'_>) -> MaturityCheck {
    let area = MaturityArea::Models;
    let used = used_models(e);
    if used.is_empty() {
        return check(
            "MOD-1",
            area,
            true,
            false,
            "no model is declared in spec.agents[].models",
            "declare every model the agents call as a Model (version, artifact digest) and list it under spec.agents[].models",
        );
    }
    let mut problems = Vec::new();
    for name in &used {
        match e.models.get(name) {
            None => problems.push(format!("{name} (no Model object)")),
            Some(m) => {
                if m.spec
                    .artifact
                    .as_ref()
                    .and_then(|a| a.digest.as_ref())
                    .is_none()
                {
                    problems.push(format!("{name} (no spec.artifact.digest)"));
                }
            }
        }
    }
    check(
        "MOD-1",
        area,
        true,
        problems.is_empty(),
        format!(
            "{}/{} models declared with a version and an artifact digest",
            used.len() - problems.len(),
            used.len()
        ),
        format!("declare or complete: {}", list(&problems)),
    )
}

/// The used models with a base model, by name.
fn fine_tuned<'a>(e: &'a Evidence<'_>) -> Vec<(&'a String, &'a Model)> {
    let used = used_models(e);
    e.models
        .iter()
        .filter(|(n, m)| used.contains(n) && m.spec.base_model.is_some())
        .map(|(n, m)| (n, *m))
        .collect()
}

fn mod2(e: &Evidence<'_>) -> MaturityCheck {
    let area = MaturityArea::Models;
    let tuned = fine_tuned(e);
    if tuned.is_empty() {
        return check(
            "MOD-2",
            area,
            false,
            false,
            "no model in use is fine-tuned (none has spec.baseModel)",
            "",
        );
    }
    let problems: Vec<String> = tuned
        .iter()
        .filter_map(|(n, _)| {
            lineage::resolve(n, e.models)
                .incomplete
                .map(|i| format!("{n}: {}", i.message()))
        })
        .collect();
    check(
        "MOD-2",
        area,
        true,
        problems.is_empty(),
        format!(
            "{}/{} fine-tuned models have a complete lineage to a base model",
            tuned.len() - problems.len(),
            tuned.len()
        ),
        format!("complete the chain: {}", list(&problems)),
    )
}

fn mod3(e: &Evidence<'_>) -> MaturityCheck {
    let area = MaturityArea::Models;
    let tuned = fine_tuned(e);
    if tuned.is_empty() {
        return check(
            "MOD-3",
            area,
            false,
            false,
            "no model in use is fine-tuned (none has spec.baseModel)",
            "",
        );
    }
    let mut problems = Vec::new();
    for (n, m) in &tuned {
        let training = m.spec.training.as_ref();
        let datasets = training.map(|t| t.datasets.as_slice()).unwrap_or_default();
        if datasets.is_empty() {
            problems.push(format!("{n} (no spec.training.datasets)"));
        }
        let undigested: Vec<&str> = datasets
            .iter()
            .filter(|d| d.digest.is_none())
            .map(|d| d.name.as_str())
            .collect();
        if !undigested.is_empty() {
            problems.push(format!(
                "{n} (datasets without digest: {})",
                undigested.join(", ")
            ));
        }
        if training.is_none_or(|t| t.preprocessing.is_empty()) {
            problems.push(format!("{n} (no spec.training.preprocessing)"));
        }
    }
    check(
        "MOD-3",
        area,
        true,
        problems.is_empty(),
        format!(
            "{} fine-tuned models checked for datasets with digests and preprocessing steps; {} gaps",
            tuned.len(),
            problems.len()
        ),
        format!("record in the Model: {}", list(&problems)),
    )
}

fn agt1(e: &Evidence<'_>) -> MaturityCheck {
    let area = MaturityArea::Agent;
    let agents = &e.ad.spec.agents;
    let seen = templates_by_agent(e);
    let seen_total: usize = seen.values().map(|h| h.len()).sum();
    if agents.is_empty() {
        // Templates seen in spans carry their own history (hash, first and last use).
        return check(
            "AGT-1",
            area,
            true,
            seen_total > 0,
            if seen_total > 0 {
                format!(
                    "spec.agents is empty; {seen_total} prompt templates seen in spans, tracked by hash with first and last use"
                )
            } else {
                "spec.agents is empty and no prompt template was seen in spans".to_string()
            },
            "list the agents in spec.agents with their prompts (ConfigMap and key), or send OTLP \
             spans with prompt templates (gen_ai.system_instructions, llm.prompt_template.*) to \
             the sidecar",
        );
    }
    // An agent without declared prompts is covered when its templates appear in spans.
    let without: Vec<String> = agents
        .iter()
        .filter(|a| a.prompts.is_empty() && !seen.contains_key(&a.name))
        .map(|a| a.name.clone())
        .collect();
    let untracked: Vec<String> = e
        .status
        .prompts
        .iter()
        .filter(|p| p.hash.is_none())
        .map(|p| match &p.key {
            Some(k) => format!("{}/{k}", p.name),
            None => p.name.clone(),
        })
        .collect();
    let mut next = Vec::new();
    if !without.is_empty() {
        next.push(format!(
            "declare the prompts of {} in spec.agents[].prompts (or send spans with their prompt templates)",
            list(&without)
        ));
    }
    if !untracked.is_empty() {
        next.push(format!(
            "create the prompt ConfigMaps or keys {}",
            list(&untracked)
        ));
    }
    check(
        "AGT-1",
        area,
        true,
        without.is_empty() && untracked.is_empty(),
        format!(
            "{} prompts tracked with content-hash history for {}/{} agents; {seen_total} prompt templates seen in spans",
            e.status.prompts.len() - untracked.len(),
            agents.len() - without.len(),
            agents.len()
        ),
        next.join("; "),
    )
}

fn agt2(e: &Evidence<'_>) -> MaturityCheck {
    let area = MaturityArea::Agent;
    let agents = &e.ad.spec.agents;
    let declared: usize = agents.iter().map(|a| a.talks_to.len()).sum();
    if agents.len() < 2 && declared == 0 && e.status.agent_graph.is_empty() {
        return check(
            "AGT-2",
            area,
            false,
            false,
            "a single agent without talksTo edges: no inter-agent communication",
            "",
        );
    }
    let observed = e.status.agent_graph.len();
    let calls: u64 = e.status.agent_graph.iter().map(|g| g.calls).sum();
    // A declared channel never seen in spans is not logged (not instrumented, or gone).
    let unseen: Vec<String> = agents
        .iter()
        .flat_map(|a| {
            a.talks_to
                .iter()
                .map(move |t| (a.name.as_str(), t.as_str()))
        })
        .filter(|(from, to)| {
            !e.status
                .agent_graph
                .iter()
                .any(|g| g.from == *from && g.to == *to)
        })
        .map(|(from, to)| format!("{from} → {to}"))
        .collect();
    let next = if observed == 0 {
        "log inter-agent calls: send OTLP spans (GenAI semantic conventions: an invoke_agent span \
         per call, named for the called agent) to the sidecar"
            .to_string()
    } else {
        format!(
            "no call seen on {}: instrument it (an invoke_agent span named for the called agent) \
             or remove the talksTo edge if the agents no longer talk",
            list(&unseen)
        )
    };
    check(
        "AGT-2",
        area,
        true,
        observed > 0 && unseen.is_empty(),
        format!(
            "{declared} talksTo edges declared, {} of them seen; {observed} edges observed in spans ({calls} calls)",
            declared - unseen.len()
        ),
        next,
    )
}

fn agt3(e: &Evidence<'_>) -> MaturityCheck {
    let area = MaturityArea::Agent;
    let retrievers: Vec<String> = {
        let mut r: Vec<String> = genai(e)
            .iter()
            .flat_map(|g| &g.retrievers)
            .map(|r| {
                format!(
                    "{}/{}",
                    r.store.as_deref().unwrap_or("?"),
                    r.collection.as_deref().unwrap_or("?")
                )
            })
            .collect();
        r.sort();
        r.dedup();
        r
    };
    let Some(rag) = &e.ad.spec.rag else {
        if retrievers.is_empty() {
            return check(
                "AGT-3",
                area,
                false,
                false,
                "no RAG declared in spec.rag and no retriever seen in spans",
                "",
            );
        }
        // Observed but undeclared: the index version and embedding model are unrecorded.
        return check(
            "AGT-3",
            area,
            true,
            false,
            format!(
                "retrievers seen in spans but no spec.rag: {}",
                list(&retrievers)
            ),
            "declare spec.rag (vectorStore, collection, indexVersion, embeddingModel) so the \
             index and embedding model in use are recorded with their history",
        );
    };
    let mut gaps = Vec::new();
    if rag.collection.is_none() {
        gaps.push("spec.rag.collection".to_string());
    }
    if rag.index_version.is_none() {
        gaps.push("spec.rag.indexVersion".to_string());
    }
    match &rag.embedding_model {
        None => gaps.push("spec.rag.embeddingModel".to_string()),
        Some(m) => {
            let declared = e
                .models
                .get(&m.name)
                .and_then(|m| m.spec.artifact.as_ref())
                .and_then(|a| a.digest.as_ref());
            if declared.is_none() {
                gaps.push(format!(
                    "a Model {} with an artifact digest (the embedding model)",
                    m.name
                ));
            }
        }
    }
    check(
        "AGT-3",
        area,
        true,
        gaps.is_empty(),
        format!(
            "vector store {}, collection {}, index version {}, embedding model {}; {} earlier set-ups in status.rag; retrievers seen in spans: {}",
            rag.vector_store,
            rag.collection.as_deref().unwrap_or("-"),
            rag.index_version.as_deref().unwrap_or("-"),
            rag.embedding_model
                .as_ref()
                .map_or("-", |m| m.name.as_str()),
            e.status.rag.as_ref().map_or(0, |r| r.history.len()),
            if retrievers.is_empty() {
                "none".to_string()
            } else {
                list(&retrievers)
            }
        ),
        format!("record {}", gaps.join(", ")),
    )
}

fn own_evaluations<'a>(e: &'a Evidence<'_>) -> impl Iterator<Item = &'a Evaluation> + 'a {
    let name = e.ad.metadata.name.clone().unwrap_or_default();
    e.evaluations
        .iter()
        .copied()
        .filter(move |ev| ev.spec.agent_deployment == name)
}

fn agt4(e: &Evidence<'_>) -> MaturityCheck {
    let area = MaturityArea::Agent;
    let guardrails = &e.ad.spec.guardrails;
    if guardrails.is_empty() {
        return check(
            "AGT-4",
            area,
            true,
            false,
            "no guardrail declared in spec.guardrails",
            "declare the guardrails (input, output, tool) in spec.guardrails and record their evaluations as Evaluation objects with spec.guardrail",
        );
    }
    // Guardrail spans are recorded results too (runs and failures per guardrail).
    let in_spans: std::collections::BTreeSet<&str> = genai(e)
        .into_iter()
        .flat_map(|g| &g.guardrails)
        .map(|c| c.name.as_str())
        .collect();
    let unevaluated: Vec<String> = guardrails
        .iter()
        .filter(|g| {
            !in_spans.contains(g.name.as_str())
                && !own_evaluations(e)
                    .any(|ev| ev.spec.guardrail.as_deref() == Some(g.name.as_str()))
        })
        .map(|g| g.name.clone())
        .collect();
    check(
        "AGT-4",
        area,
        true,
        unevaluated.is_empty(),
        format!(
            "{} guardrails declared, {} with recorded results (Evaluations or guardrail spans; {} guardrails seen in spans)",
            guardrails.len(),
            guardrails.len() - unevaluated.len(),
            in_spans.len()
        ),
        format!(
            "record an Evaluation with spec.guardrail, or send guardrail spans, for {}",
            list(&unevaluated)
        ),
    )
}

fn agt5(e: &Evidence<'_>) -> MaturityCheck {
    let area = MaturityArea::Agent;
    // Online results: Evaluation objects, or evaluator spans from the running system.
    let evaluator_runs: u64 = genai(e)
        .iter()
        .flat_map(|g| &g.evaluators)
        .map(|c| c.runs)
        .sum();
    let online = own_evaluations(e)
        .filter(|ev| ev.spec.phase == EvaluationPhase::Online)
        .count()
        + usize::from(evaluator_runs > 0);
    let pre = own_evaluations(e)
        .filter(|ev| ev.spec.phase == EvaluationPhase::PreDeployment && ev.spec.passed)
        .count();
    let models = e.status.models.len();
    let mut next = Vec::new();
    if models == 0 {
        next.push("declare the models so evaluations can name what they cover (MOD-1)".to_string());
    }
    if !e.unevaluated.is_empty() {
        next.push(format!(
            "run and record a passing PreDeployment evaluation covering {}",
            list(e.unevaluated)
        ));
    }
    if online == 0 {
        next.push(
            "record online evaluation results (Evaluation with phase Online, or evaluator spans)"
                .to_string(),
        );
    }
    check(
        "AGT-5",
        area,
        true,
        models > 0 && e.unevaluated.is_empty() && online > 0,
        format!(
            "{pre} passed PreDeployment evaluations, {} model versions running without one, {} Online evaluations, {evaluator_runs} evaluator runs seen in spans",
            e.unevaluated.len(),
            online - usize::from(evaluator_runs > 0)
        ),
        next.join("; "),
    )
}
