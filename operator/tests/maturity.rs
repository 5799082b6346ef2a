//! The maturity rubric, table-driven on the real-shaped invoice-rpa dump and the hand-made H200
//! sidecar snapshot: every check passing and failing, with its evidence and next step; the
//! score, the level and `MaturityTargetMet`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use agentlens_crds::Snapshot;
use agentlens_crds::maturity::{MaturityCheck, MaturityStatus};
use agentlens_operator::dump::{self, Dump};
use agentlens_operator::status::maturity::level;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serde_json::{Value, json};

const DUMP: &str = include_str!("data/dumps/invoice-rpa.yaml");
const NOW: &str = "2026-11-27T09:00:00Z";

fn status(d: &Dump, snaps: &BTreeMap<String, Snapshot>) -> agentlens_crds::AgentDeploymentStatus {
    let list = dump::statuses(d, snaps, Some(&[7; 32]), &Time(NOW.parse().unwrap())).unwrap();
    agentlens_tests::agent_deployments(list["items"].as_array().unwrap())
        .unwrap()
        .remove(0)
        .status
        .unwrap()
}

fn maturity(d: &Dump, snaps: &BTreeMap<String, Snapshot>) -> MaturityStatus {
    status(d, snaps).maturity.unwrap()
}

fn get<'a>(m: &'a MaturityStatus, id: &str) -> &'a MaturityCheck {
    m.checks.iter().find(|c| c.id == id).unwrap()
}

/// A snapshot for every pod of the dump, from the hand-made H200 snapshot: the pod's own containers,
/// logs readable, memory measured, an inventory, latency, scraped a minute before.
fn full_snapshots(d: &Dump) -> BTreeMap<String, Snapshot> {
    let base: Value = serde_json::from_str(include_str!(
        "../../crds/tests/fixtures/snapshot-h200-torch-oom.json"
    ))
    .unwrap();
    let mut out = BTreeMap::new();
    for pod in &d.pods {
        let name = pod.metadata.name.clone().unwrap();
        let containers: Vec<String> = pod
            .spec
            .as_ref()
            .unwrap()
            .containers
            .iter()
            .map(|c| c.name.clone())
            .filter(|c| c != "agentlens-sidecar")
            .collect();
        let mut s = base.clone();
        s["collectedAt"] = json!(NOW);
        s["metricsScrapedAt"] = json!("2026-11-27T08:59:00Z");
        s["containers"] = json!(
            containers
                .iter()
                .map(|c| json!({
                    "name": c, "processes": 3, "rssBytes": 812_000_000u64, "cpuSeconds": 12.5,
                    "stdoutLines": 1200, "stderrLines": 40, "tracebacks": 0, "gpuOomEvents": 0
                }))
                .collect::<Vec<_>>()
        );
        s["inventory"] = json!(containers.iter().map(|c| json!({
            "container": c, "os": "Debian GNU/Linux 12 (bookworm)", "packages": 412,
            "digest": "sha256:9f2c1d6c0c6c4a8a1e4b9e1f3f0a7d0e5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e"
        })).collect::<Vec<_>>());
        s["latency"] = json!({"requests": 1500, "errors": 3, "p50Seconds": 0.8,
            "p95Seconds": 2.1, "p99Seconds": 4.0, "buckets": []});
        out.insert(name, serde_json::from_value(s).unwrap());
    }
    out
}

#[test]
fn without_sidecar_snapshots_runtime_checks_fail_and_say_why() {
    let d = dump::read(DUMP).unwrap();
    let m = maturity(&d, &BTreeMap::new());
    for id in ["ENV-2", "OBS-1", "OBS-2", "OBS-3", "OBS-5", "OBS-6"] {
        let c = get(&m, id);
        assert!(
            c.applicable && !c.passed,
            "{id} must not pass without evidence"
        );
        assert!(
            c.evidence.contains("without a snapshot") || c.evidence.contains("no sidecar snapshot"),
            "{id}: {}",
            c.evidence
        );
        assert!(
            c.next.contains("no sidecar snapshot from"),
            "{id}: {}",
            c.next
        );
    }
    assert_eq!(m.checks.len(), 17);
    let ids: Vec<&str> = m.checks.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "ENV-1", "ENV-2", "ENV-3", "OBS-1", "OBS-2", "OBS-3", "OBS-4", "OBS-5", "OBS-6",
            "MOD-1", "MOD-2", "MOD-3", "AGT-1", "AGT-2", "AGT-3", "AGT-4", "AGT-5"
        ]
    );
}

/// A classic init container that ran to completion (model weights fetched before the app
/// started) has no processes or logs left to measure: the runtime checks do not expect any.
#[test]
fn finished_init_containers_are_not_expected_at_runtime() {
    let mut d = dump::read(DUMP).unwrap();
    let snaps = full_snapshots(&d);
    let pod = &mut d.pods[0];
    let init: k8s_openapi::api::core::v1::Container = serde_json::from_value(json!({
        "name": "fetch-weights", "image": "amazon/aws-cli:2.22.0"
    }))
    .unwrap();
    pod.spec.as_mut().unwrap().init_containers = Some(vec![init]);
    let status = pod.status.get_or_insert_with(Default::default);
    let mut done: k8s_openapi::api::core::v1::ContainerStatus = serde_json::from_value(json!({
        "name": "fetch-weights", "image": "docker.io/amazon/aws-cli:2.22.0",
        "imageID": "docker.io/amazon/aws-cli@sha256:0c7ed5a0d7a1b8a1e2c6f6f3a9d1c9e5b0f4d8a2c7e1b3f5a9d2c4e6b8a0f1d3",
        "ready": false, "restartCount": 0,
        "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}
    }))
    .unwrap();
    status.init_container_statuses = Some(vec![done.clone()]);
    let m = maturity(&d, &snaps);
    for id in ["ENV-2", "OBS-1", "OBS-3"] {
        let c = get(&m, id);
        assert!(c.passed, "{id}: {} / {}", c.evidence, c.next);
    }
    // Still running (a restarting init container): expected like any other.
    done.state = serde_json::from_value(json!({"running": {}})).unwrap();
    d.pods[0].status.as_mut().unwrap().init_container_statuses = Some(vec![done]);
    let m = maturity(&d, &snaps);
    let c = get(&m, "OBS-3");
    assert!(!c.passed && c.next.contains("fetch-weights"), "{c:?}");
}

#[test]
fn with_snapshots_from_every_pod_the_runtime_checks_pass() {
    let d = dump::read(DUMP).unwrap();
    let snaps = full_snapshots(&d);
    let m = maturity(&d, &snaps);
    for id in ["ENV-2", "OBS-1", "OBS-2", "OBS-3", "OBS-5", "OBS-6"] {
        let c = get(&m, id);
        assert!(c.passed, "{id}: {} / {}", c.evidence, c.next);
        assert!(c.next.is_empty());
    }
    assert!(
        get(&m, "OBS-6")
            .evidence
            .starts_with("6/6 sidecars scraped")
    );
    assert!(get(&m, "OBS-5").evidence.contains("9000 requests measured"));
}

type Mutation = fn(&mut Dump, &mut BTreeMap<String, Snapshot>);

/// (check, what changes, applicable, passed, in evidence, in next).
fn cases() -> Vec<(
    &'static str,
    Mutation,
    bool,
    bool,
    &'static str,
    &'static str,
)> {
    vec![
        // ENV-1: the dump has a waiting container (no imageID) and a local sha256 ID.
        (
            "ENV-1",
            |_, _| {},
            true,
            false,
            "4/6 agent containers",
            "sap-writer",
        ),
        (
            "ENV-3",
            |_, _| {},
            true,
            true,
            "2/2 ConfigMaps and Secrets tracked",
            "",
        ),
        (
            "ENV-3",
            |d, _| {
                d.config_maps
                    .retain(|c| c.metadata.name.as_deref() != Some("rpa-settings"))
            },
            true,
            false,
            "1/2",
            "ConfigMap rpa-settings",
        ),
        (
            "OBS-1",
            |_, s| {
                for snap in s.values_mut() {
                    for c in &mut snap.containers {
                        c.logs_unavailable_reason = Some(
                            "pods/log forbidden: the pod's service account needs get on pods/log"
                                .into(),
                        );
                    }
                }
            },
            true,
            false,
            "logs read from 0/6",
            agentlens_operator::sidecar_access::BINDING_PREFIX,
        ),
        (
            // A sidecar of another user than the app's: said by its counts, not its notes.
            "ENV-2",
            |_, s| {
                for snap in s.values_mut() {
                    for i in &mut snap.inventory {
                        i.packages = 0;
                        i.notes.clear();
                        i.process_reads.processes = 1;
                        i.process_reads.denied = 1;
                    }
                }
            },
            true,
            false,
            "an OS and package inventory for 0/",
            "(permission denied): give the pod a non-root runAsUser",
        ),
        (
            "ENV-2",
            |_, s| {
                for snap in s.values_mut() {
                    for i in &mut snap.inventory {
                        i.packages = 0;
                        i.notes = vec!["process 7: permission denied".into()];
                        i.process_reads.processes = 1;
                        i.process_reads.denied = 0;
                    }
                }
            },
            true,
            false,
            "an OS and package inventory for 0/",
            "see the notes in status.inventory",
        ),
        (
            // A denial in a container that has its inventory explains nothing of one that
            // has none: the hint is about the failing containers only.
            "ENV-2",
            |_, s| {
                for (n, snap) in s.values_mut().enumerate() {
                    for i in &mut snap.inventory {
                        i.process_reads.processes = 1;
                        if n == 0 {
                            i.packages = 0;
                            i.process_reads.denied = 0;
                        } else {
                            i.process_reads.denied = 1;
                        }
                    }
                }
            },
            true,
            false,
            "an OS and package inventory for ",
            "see the notes in status.inventory",
        ),
        (
            "OBS-3",
            |_, s| {
                for snap in s.values_mut() {
                    snap.containers.clear();
                }
            },
            true,
            false,
            "0/6",
            "shareProcessNamespace",
        ),
        (
            "OBS-4",
            |_, _| {},
            false,
            false,
            "no matched pod requests a GPU",
            "",
        ),
        (
            "OBS-4",
            |d, _| gpu_pod(d),
            true,
            true,
            "GPU memory measured in 1/1",
            "",
        ),
        (
            "OBS-4",
            |d, s| {
                gpu_pod(d);
                for snap in s.values_mut() {
                    snap.gpu.state = agentlens_crds::snapshot::GpuState::Unavailable;
                    snap.gpu.reason = Some("NVML not found (libnvidia-ml.so.1)".into());
                    snap.gpu.devices.clear();
                }
            },
            true,
            false,
            "0/1",
            "NVML not found",
        ),
        (
            // A newer sidecar's GPU state: not measured, and not said to be unavailable.
            "OBS-4",
            |d, s| {
                gpu_pod(d);
                for snap in s.values_mut() {
                    snap.gpu.state = agentlens_crds::snapshot::GpuState::Unknown;
                }
            },
            true,
            false,
            "0/1",
            "a GPU state this operator does not know",
        ),
        (
            "OBS-5",
            |_, s| {
                for snap in s.values_mut() {
                    snap.latency = None;
                }
            },
            true,
            false,
            "from 0/6 pods",
            "saw no SERVER or CONSUMER span",
        ),
        (
            "OBS-5",
            |d, s| {
                for snap in s.values_mut() {
                    snap.latency = None;
                }
                if let Some(sc) = d.agent_deployments[0].spec.sidecar.as_mut() {
                    sc.otlp = None;
                }
            },
            true,
            false,
            "from 0/6 pods",
            "spec.sidecar.proxy.targetPort",
        ),
        (
            "OBS-6",
            |_, s| {
                for snap in s.values_mut() {
                    snap.metrics_scraped_at = Some(Time("2026-11-27T08:40:00Z".parse().unwrap()));
                }
            },
            true,
            false,
            "0/6 sidecars scraped",
            "PodMonitor",
        ),
        (
            "OBS-6",
            |_, s| {
                for snap in s.values_mut() {
                    snap.metrics_scraped_at = None;
                }
            },
            true,
            false,
            "0/6",
            "port 9477",
        ),
        ("MOD-1", |_, _| {}, true, true, "3/3 models declared", ""),
        (
            "MOD-1",
            |d, _| {
                let n = used_model(d);
                let m = d
                    .models
                    .iter_mut()
                    .find(|m| m.metadata.name.as_deref() == Some(n.as_str()))
                    .unwrap();
                m.spec.artifact.as_mut().unwrap().digest = None;
            },
            true,
            false,
            "2/3",
            "no spec.artifact.digest",
        ),
        (
            "MOD-1",
            |d, _| {
                let n = used_model(d);
                d.models
                    .retain(|m| m.metadata.name.as_deref() != Some(n.as_str()));
            },
            true,
            false,
            "",
            "no Model object",
        ),
        (
            "MOD-2",
            |_, _| {},
            true,
            true,
            "2/2 fine-tuned models have a complete lineage",
            "",
        ),
        (
            "MOD-2",
            |d, _| {
                // The base of the fine-tuned models disappears: lineage incomplete.
                let bases: Vec<String> = d
                    .models
                    .iter()
                    .filter_map(|m| m.spec.base_model.as_ref().map(|b| b.name.clone()))
                    .collect();
                d.models
                    .retain(|m| !bases.contains(m.metadata.name.as_ref().unwrap()));
            },
            true,
            false,
            "0/2",
            "complete the chain",
        ),
        (
            "MOD-2",
            |d, _| {
                for m in &mut d.models {
                    m.spec.base_model = None;
                }
            },
            false,
            false,
            "no model in use is fine-tuned",
            "",
        ),
        ("MOD-3", |_, _| {}, true, true, "0 gaps", ""),
        (
            "MOD-3",
            |d, _| {
                for m in &mut d.models {
                    if let Some(t) = m.spec.training.as_mut() {
                        for ds in &mut t.datasets {
                            ds.digest = None;
                        }
                        t.preprocessing.clear();
                    }
                }
            },
            true,
            false,
            "gaps",
            "datasets without digest",
        ),
        ("AGT-1", |_, _| {}, true, true, "3 prompts tracked", ""),
        (
            "AGT-1",
            |d, _| d.agent_deployments[0].spec.agents[0].prompts.clear(),
            true,
            false,
            "for 2/3 agents",
            "declare the prompts of email-triage",
        ),
        (
            "AGT-2",
            |_, _| {},
            true,
            false,
            "2 talksTo edges declared, 0 of them seen; 0 edges observed",
            "OTLP spans",
        ),
        (
            "AGT-1",
            |d, s| {
                d.agent_deployments[0].spec.agents[0].prompts.clear();
                spans(s);
            },
            true,
            true,
            "for 3/3 agents; 1 prompt templates seen in spans",
            "",
        ),
        (
            "AGT-1",
            |d, s| {
                d.agent_deployments[0].spec.agents.clear();
                spans(s);
            },
            true,
            true,
            "1 prompt templates seen in spans",
            "",
        ),
        (
            "AGT-1",
            |d, _| d.agent_deployments[0].spec.agents.clear(),
            true,
            false,
            "no prompt template was seen in spans",
            "spec.agents",
        ),
        (
            "AGT-2",
            |_, s| spans(s),
            true,
            false,
            "2 talksTo edges declared, 1 of them seen; 1 edges observed in spans (3 calls)",
            "no call seen on pdf-parser → sap-writer",
        ),
        (
            "AGT-2",
            |_, s| {
                spans(s);
                let first = s.values_mut().next().unwrap();
                let mut second = first.agent_graph[0].clone();
                second.from = "pdf-parser".into();
                second.to = "sap-writer".into();
                first.agent_graph.push(second);
            },
            true,
            true,
            "2 talksTo edges declared, 2 of them seen; 2 edges observed in spans (6 calls)",
            "",
        ),
        (
            "AGT-2",
            |d, _| {
                let ad = &mut d.agent_deployments[0];
                ad.spec.agents.truncate(1);
                ad.spec.agents[0].talks_to.clear();
            },
            false,
            false,
            "a single agent",
            "",
        ),
        ("AGT-3", |_, _| {}, false, false, "no RAG declared", ""),
        (
            "AGT-3",
            |_, s| spans(s),
            true,
            false,
            "retrievers seen in spans but no spec.rag: qdrant/invoices",
            "declare spec.rag",
        ),
        (
            "AGT-3",
            |d, _| {
                d.agent_deployments[0].spec.rag = serde_json::from_value(
                    json!({"vectorStore": "qdrant", "collection": "invoices"}),
                )
                .unwrap();
            },
            true,
            false,
            "vector store qdrant, collection invoices",
            "spec.rag.indexVersion",
        ),
        (
            "AGT-4",
            |_, _| {},
            true,
            false,
            "2 guardrails declared, 1 with recorded",
            "amount-limit",
        ),
        (
            "AGT-4",
            |_, s| spans(s),
            true,
            true,
            "2 guardrails declared, 2 with recorded results (Evaluations or guardrail spans; 1 guardrails seen in spans)",
            "",
        ),
        (
            "AGT-4",
            |d, _| d.agent_deployments[0].spec.guardrails.clear(),
            true,
            false,
            "no guardrail declared",
            "spec.guardrails",
        ),
        (
            "AGT-5",
            |_, _| {},
            true,
            false,
            "2 model versions running without one",
            "llama-3.1-8b-instruct",
        ),
        (
            "AGT-5",
            |d, _| {
                d.evaluations
                    .retain(|e| e.spec.phase != agentlens_crds::evaluation::EvaluationPhase::Online)
            },
            true,
            false,
            "0 Online",
            "phase Online",
        ),
        (
            "AGT-5",
            |d, s| {
                d.evaluations.retain(|e| {
                    e.spec.phase != agentlens_crds::evaluation::EvaluationPhase::Online
                });
                spans(s);
            },
            true,
            false,
            "0 Online evaluations, 3 evaluator runs seen in spans",
            "llama-3.1-8b-instruct",
        ),
    ]
}

/// GenAI evidence from OTLP spans on the first pod's snapshot, shaped as the sidecar writes it
/// for the Python SDK's two-agent conversation (sidecar/tests/otlp.rs), named for this system.
fn spans(snaps: &mut BTreeMap<String, Snapshot>) {
    let first = snaps.values_mut().next().unwrap();
    first.genai = Some(
        serde_json::from_value(json!({
            "spans": 81,
            "models": [{"model": "invoice-extractor", "requests": 3, "inputTokens": 2400, "outputTokens": 600}],
            "prompts": [{"hash": "sha256:8d1f4a0c3b2e5f6a7b8c9d0e1f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c",
                         "agent": "email-triage", "model": "triage-classifier", "uses": 3,
                         "firstSeen": "2026-11-27T08:00:00Z", "lastSeen": "2026-11-27T08:59:00Z"}],
            "retrievers": [{"store": "qdrant", "collection": "invoices", "agent": "pdf-parser", "queries": 3,
                            "firstSeen": "2026-11-27T08:00:00Z", "lastSeen": "2026-11-27T08:59:00Z"}],
            "guardrails": [{"name": "amount-limit", "runs": 3, "failures": 1, "lastSeen": "2026-11-27T08:59:00Z"}],
            "evaluators": [{"name": "faithfulness", "runs": 3, "failures": 0, "lastScore": 0.92, "lastSeen": "2026-11-27T08:59:00Z"}]
        }))
        .unwrap(),
    );
    first.agent_graph = serde_json::from_value(json!([
        {"from": "email-triage", "to": "pdf-parser", "calls": 3, "errors": 1,
         "buckets": [{"le": 1.0, "count": 2}, {"le": 5.0, "count": 3}]}
    ]))
    .unwrap();
}

/// The first model the first agent uses.
fn used_model(d: &Dump) -> String {
    d.agent_deployments[0].spec.agents[0].models[0].name.clone()
}

/// Marks the first pod as requesting a GPU.
fn gpu_pod(d: &mut Dump) {
    let c = &mut d.pods[0].spec.as_mut().unwrap().containers[0];
    let r = c.resources.get_or_insert_with(Default::default);
    r.limits.get_or_insert_with(Default::default).insert(
        "nvidia.com/gpu".into(),
        k8s_openapi::apimachinery::pkg::api::resource::Quantity("1".into()),
    );
}

#[test]
fn every_check_passes_and_fails_with_its_evidence_and_next_step() {
    for (i, (id, change, applicable, passed, evidence, next)) in cases().into_iter().enumerate() {
        let mut d = dump::read(DUMP).unwrap();
        let mut snaps = full_snapshots(&d);
        change(&mut d, &mut snaps);
        let m = maturity(&d, &snaps);
        let c = get(&m, id);
        let at = format!("case {i} ({id}): {c:?}");
        assert_eq!(c.applicable, applicable, "{at}");
        assert_eq!(c.passed, passed, "{at}");
        assert!(c.evidence.contains(evidence), "{at}");
        assert!(c.next.contains(next), "{at}");
        if passed || !applicable {
            assert!(c.next.is_empty(), "{at}");
        } else {
            assert!(!c.next.is_empty(), "{at}");
        }
    }
}

#[test]
fn the_score_counts_applicable_checks_and_sets_the_level_and_target_condition() {
    for (score, lvl) in [
        (0, 0),
        (24, 0),
        (25, 1),
        (49, 1),
        (50, 2),
        (74, 2),
        (75, 3),
        (89, 3),
        (90, 4),
        (100, 4),
    ] {
        assert_eq!(level(score), lvl, "score {score}");
    }
    let mut d = dump::read(DUMP).unwrap();
    let snaps = full_snapshots(&d);
    let m = maturity(&d, &snaps);
    let applicable = m.checks.iter().filter(|c| c.applicable).count();
    let passed = m.checks.iter().filter(|c| c.passed).count();
    assert_eq!(usize::from(m.score), passed * 100 / applicable);
    assert_eq!(m.level, level(m.score));
    // Not-applicable checks never count as passed.
    assert!(m.checks.iter().all(|c| c.applicable || !c.passed));

    d.agent_deployments[0].spec.maturity =
        serde_json::from_value(json!({"targetLevel": 1})).unwrap();
    let s = status(&d, &snaps);
    let c = s
        .conditions
        .iter()
        .find(|c| c.type_ == "MaturityTargetMet")
        .unwrap();
    assert_eq!(c.status, "True", "{c:?}");
    d.agent_deployments[0].spec.maturity =
        serde_json::from_value(json!({"targetLevel": 4})).unwrap();
    let s = status(&d, &snaps);
    let c = s
        .conditions
        .iter()
        .find(|c| c.type_ == "MaturityTargetMet")
        .unwrap();
    assert_eq!(c.status, "False");
    assert_eq!(c.reason, "BelowTarget");
    assert!(c.message.contains("against target 4"));
}
