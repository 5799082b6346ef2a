//! The three example systems as the operator would observe them a day after `kubectl apply`:
//! the pods their Deployments create, injected as DESIGN.md's contract says a pod is injected
//! (written here, not by the webhook code: these inputs judge the status code, and the webhook
//! has its own tests), running and ready, with registry digests; and each pod's sidecar snapshot built from the snapshot fixtures:
//! `crds/tests/fixtures/snapshot-h200-torch-oom.json` (constructed by hand with some figures of
//! a real H200 probe, see `crds/tests/fixtures/README.md`) for GPU pods and the process
//! figures, `crds/tests/fixtures/snapshot-otlp-two-agents.json` (the built sidecar fed
//! the OpenTelemetry Python SDK's two-agent conversation) for GenAI evidence, renamed to the
//! system's own agents, guardrails and RAG collection.
//!
//! What each sidecar reports follows from the example's own objects, nothing is tuned per
//! example:
//! - request latency only for pods a Service sends traffic to: through the proxy when the
//!   Service targets `agentlens-proxy` (a chat endpoint's histogram), else from SERVER spans
//!   when OTLP is on; a pod nobody calls over HTTP has none;
//! - GenAI spans and the call graph when `spec.sidecar.otlp.enabled`, on the first agent's pods
//!   (its client spans show its first `talksTo` edge; other agents are not instrumented);
//! - GPU measurements when the pod requests a GPU;
//! - an inventory (`crds/tests/fixtures/inventory-debian12-python.json`, what the built sidecar
//!   reported for a Python process on Debian 12) when the pod sets `runAsUser`: the webhook runs
//!   the sidecar as that user, so it may read the app's files. Without it the sidecar runs as
//!   65532 beside an app of unknown (often root) user and reads nothing: permission denied;
//! - served model artifacts under `spec.sidecar.modelPaths`, fingerprinted as the Model whose
//!   artifact URI ends with the path's last segment declares (the release pipeline recorded it).
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

pub mod systems;

use std::collections::BTreeMap;

use agentlens_crds::{AgentDeployment, Snapshot};
use agentlens_operator::inject::sidecar::{CONTAINER_NAME, PORT};
use agentlens_operator::inject::{AGENT_LABEL, INJECTED, InjectConfig};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// When the snapshots were taken (the tests' "now").
pub const NOW: &str = "2026-11-27T09:00:00Z";
const STARTED: &str = "2026-11-26T10:00:05Z";

fn hex(s: &str) -> String {
    format!("{:x}", Sha256::digest(s.as_bytes()))
}

/// `repo@sha256:…` as containerd reports a pulled image (docker.io spelled out).
fn image_id(image: &str) -> String {
    let repo = image.rsplit_once(':').map_or(image, |(r, _)| r);
    let repo = if repo.split('/').next().is_some_and(|h| h.contains('.')) {
        repo.to_string()
    } else {
        format!("docker.io/{repo}")
    };
    format!("{repo}@sha256:{}", hex(image))
}

fn container_status(c: &Value, init: bool) -> Value {
    let image = c["image"].as_str().unwrap();
    // A classic init container ran to completion before the app started; a native sidecar
    // (restartPolicy Always) keeps running.
    if init && c["restartPolicy"] != "Always" {
        return json!({
            "name": c["name"], "image": image, "imageID": image_id(image),
            "ready": false, "started": false, "restartCount": 0,
            "state": {"terminated": {"exitCode": 0, "reason": "Completed",
                "startedAt": "2026-11-26T10:00:02Z", "finishedAt": "2026-11-26T10:00:04Z"}}
        });
    }
    json!({
        "name": c["name"], "image": image, "imageID": image_id(image),
        "ready": true, "started": true, "restartCount": 0,
        "state": {"running": {"startedAt": STARTED}}
    })
}

/// The example's objects as the API server returns them: everything was applied an hour
/// before the Deployments rolled out.
pub fn as_stored(docs: &mut [Value]) {
    for d in docs.iter_mut() {
        if d["metadata"].is_object() && d["metadata"]["creationTimestamp"].is_null() {
            d["metadata"]["creationTimestamp"] = json!("2026-11-26T09:00:00Z");
        }
    }
}

/// The pods of the example's Deployments, injected and running.
pub fn pods(docs: &[Value], ads: &[AgentDeployment]) -> Vec<Value> {
    let suffixes = ["x7k2p", "m4q9z", "c8w3n", "t2v6r", "h5j1d"];
    let mut out = Vec::new();
    for dep in docs.iter().filter(|d| d["kind"] == "Deployment") {
        let name = dep["metadata"]["name"].as_str().unwrap();
        let ns = dep["metadata"]["namespace"].as_str().unwrap();
        let hash = &hex(name)[..9];
        let tpl = &dep["spec"]["template"];
        for suffix in suffixes
            .iter()
            .take(dep["spec"]["replicas"].as_u64().unwrap_or(1) as usize)
        {
            let mut meta = tpl["metadata"].clone();
            meta["name"] = json!(format!("{name}-{hash}-{suffix}"));
            meta["namespace"] = json!(ns);
            meta["labels"]["pod-template-hash"] = json!(hash);
            meta["creationTimestamp"] = json!("2026-11-26T10:00:00Z");
            let mut pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": meta,
                "spec": tpl["spec"].clone()});
            if let Some(ad) = ads.iter().find(|ad| {
                ad.metadata.namespace.as_deref() == Some(ns)
                    && matches(
                        &pod["metadata"]["labels"],
                        &serde_json::to_value(&ad.spec.selector).unwrap(),
                    )
            }) {
                inject_as_designed(&mut pod, ad.metadata.name.as_deref().unwrap());
            }
            let statuses = |key: &str| -> Vec<Value> {
                pod["spec"][key]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|c| container_status(c, key == "initContainers"))
                    .collect()
            };
            pod["status"] = json!({
                "phase": "Running", "startTime": STARTED,
                "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": STARTED}],
                "containerStatuses": statuses("containers"),
                "initContainerStatuses": statuses("initContainers"),
            });
            out.push(pod);
        }
    }
    out
}

/// Whether `labels` match a label selector's `matchLabels` (the examples use no expressions).
fn matches(labels: &Value, selector: &Value) -> bool {
    selector["matchLabels"]
        .as_object()
        .is_some_and(|m| m.iter().all(|(k, v)| &labels[k] == v))
}

/// A pod as DESIGN.md's contract describes an injected one: the idempotency annotation, the
/// agent label, a shared process namespace and the sidecar as a native sidecar (an init
/// container that keeps running) named `agentlens-sidecar`, serving port 9477.
fn inject_as_designed(pod: &mut Value, agent: &str) {
    let version = env!("CARGO_PKG_VERSION");
    pod["metadata"]["annotations"][INJECTED] = json!(version);
    pod["metadata"]["labels"][AGENT_LABEL] = json!(agent);
    pod["spec"]["shareProcessNamespace"] = json!(true);
    let sidecar = json!({
        "name": CONTAINER_NAME,
        "image": InjectConfig::default().image,
        "restartPolicy": "Always",
        "args": ["serve"],
        "ports": [{"name": "agentlens", "containerPort": PORT}],
    });
    match pod["spec"]["initContainers"].as_array_mut() {
        Some(init) => init.push(sidecar),
        None => pod["spec"]["initContainers"] = json!([sidecar]),
    }
}

fn runs_as_user(pod: &Value) -> bool {
    pod["spec"]["securityContext"]["runAsUser"].is_number()
        || pod["spec"]["containers"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["name"] != "agentlens-sidecar")
            .all(|c| c["securityContext"]["runAsUser"].is_number())
}

/// The Services that send traffic to `pod`, and whether one targets the proxy port.
fn served(pod: &Value, services: &[&Value]) -> (bool, bool) {
    let labels = &pod["metadata"]["labels"];
    let mine: Vec<&&Value> = services
        .iter()
        .filter(|s| {
            s["metadata"]["namespace"] == pod["metadata"]["namespace"]
                && s["spec"]["selector"]
                    .as_object()
                    .is_some_and(|sel| sel.iter().all(|(k, v)| &labels[k] == v))
        })
        .collect();
    let proxied = mine.iter().any(|s| {
        s["spec"]["ports"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|p| p["targetPort"] == "agentlens-proxy")
    });
    (!mine.is_empty(), proxied)
}

fn requests_gpu(pod: &Value) -> bool {
    pod["spec"]["containers"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["resources"]["limits"]["nvidia.com/gpu"].is_string())
}

/// A chat endpoint's histogram through the proxy: 1,800 requests, most answered in 0.5-2.5 s
/// (cumulative counts per upper bound, as Prometheus buckets).
pub const CHAT_BUCKETS: [(f64, u64); 7] = [
    (0.25, 40),
    (0.5, 180),
    (1.0, 760),
    (2.5, 1610),
    (5.0, 1770),
    (10.0, 1796),
    (20.0, 1800),
];

/// Its quantiles by Prometheus's `histogram_quantile` bucket math, worked by hand (not by
/// `agentlens_crds::latency`, whose output they feed): rank = q × 1800; in the bucket whose
/// cumulative count first reaches the rank, interpolate linearly between its bounds.
/// `kubectl_plugin.rs` checks the three against `promtool`'s PromQL engine.
/// - p50: rank 900, bucket (1, 2.5] holds 760..1610: 1 + 1.5 × 140/850
/// - p95: rank 1710, bucket (2.5, 5] holds 1610..1770: 2.5 + 2.5 × 100/160
/// - p99: rank 1782, bucket (5, 10] holds 1770..1796: 5 + 5 × 12/26
pub const CHAT_QUANTILES: [(f64, f64); 3] = [
    (0.5, 1.0 + 1.5 * 140.0 / 850.0),
    (0.95, 2.5 + 2.5 * 100.0 / 160.0),
    (0.99, 5.0 + 5.0 * 12.0 / 26.0),
];

/// The latency summary a proxying sidecar reports for [`CHAT_BUCKETS`].
fn chat_latency() -> Value {
    let cumulative = CHAT_BUCKETS;
    let [(_, p50), (_, p95), (_, p99)] = CHAT_QUANTILES;
    json!({
        "requests": 1800, "errors": 4,
        "p50Seconds": p50, "p95Seconds": p95, "p99Seconds": p99,
        "buckets": cumulative.iter().map(|(le, count)| json!({"le": le, "count": count})).collect::<Vec<_>>()
    })
}

/// Renames in a JSON tree: every string equal to a key becomes its value.
fn rename(v: &mut Value, names: &BTreeMap<&str, String>) {
    match v {
        Value::String(s) => {
            if let Some(n) = names.get(s.as_str()) {
                *s = n.clone();
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| rename(x, names)),
        Value::Object(o) => o.values_mut().for_each(|x| rename(x, names)),
        _ => {}
    }
}

/// Each pod's snapshot; `docs` are the example's objects (Services, Models).
pub fn snapshots(
    docs: &[Value],
    pods: &[Value],
    ads: &[AgentDeployment],
) -> BTreeMap<String, Snapshot> {
    let services: Vec<&Value> = docs.iter().filter(|d| d["kind"] == "Service").collect();
    let inventory: Value = serde_json::from_str(include_str!(
        "../../../crds/tests/fixtures/inventory-debian12-python.json"
    ))
    .unwrap();
    let h200: Value = serde_json::from_str(include_str!(
        "../../../crds/tests/fixtures/snapshot-h200-torch-oom.json"
    ))
    .unwrap();
    let otlp: Value = serde_json::from_str(include_str!(
        "../../../crds/tests/fixtures/snapshot-otlp-two-agents.json"
    ))
    .unwrap();
    let selects = |labels: &Value, sel: &Value| {
        sel["matchLabels"]
            .as_object()
            .is_some_and(|m| m.iter().all(|(k, v)| &labels[k] == v))
    };
    let mut out = BTreeMap::new();
    for pod in pods {
        let name = pod["metadata"]["name"].as_str().unwrap().to_string();
        let labels = &pod["metadata"]["labels"];
        let Some(ad) = ads
            .iter()
            .find(|ad| selects(labels, &serde_json::to_value(&ad.spec.selector).unwrap()))
        else {
            continue;
        };
        let app: Vec<&Value> = pod["spec"]["containers"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["name"] != "agentlens-sidecar")
            .collect();
        let mut s = json!({
            "schemaVersion": 1, "sidecarVersion": env!("CARGO_PKG_VERSION"), "mode": "serve",
            "pod": {"namespace": pod["metadata"]["namespace"], "name": name,
                    "node": "node-a1", "agent": ad.metadata.name},
            "collectedAt": NOW, "metricsScrapedAt": "2026-11-27T08:59:30Z",
            "gpu": {"state": "unavailable",
                    "reason": "NVML: libnvidia-ml.so.1: cannot open shared object file: No such file or directory"},
            "containers": app.iter().map(|c| json!({
                "name": c["name"], "processes": 4, "rssBytes": 612_368_384u64, "cpuSeconds": 1843.2,
                "stdoutLines": 18_240, "stderrLines": 312, "tracebacks": 0, "gpuOomEvents": 0
            })).collect::<Vec<_>>(),
            "gpuOomEvents": [], "tracebacks": [], "agentGraph": [], "inventory": [], "dropped": {}
        });
        if requests_gpu(pod) {
            let mut gpu = h200["gpu"].clone();
            gpu["processes"][0]["container"] = app[0]["name"].clone();
            s["gpu"] = gpu;
        }
        let sidecar = ad.spec.sidecar.clone().unwrap_or_default();
        let (called, proxied) = served(pod, &services);
        if sidecar.proxy.is_some() && proxied {
            s["latency"] = chat_latency();
        }
        s["inventory"] = json!(app.iter().map(|c| {
            if runs_as_user(pod) {
                let mut i = inventory.clone();
                i["container"] = c["name"].clone();
                i["collectedAt"] = json!("2026-11-26T10:00:07Z");
                let models: Vec<Value> = sidecar.model_paths.iter().filter_map(|path| {
                    let last = path.trim_end_matches('/').rsplit('/').next()?;
                    let model = docs.iter().find(|d| d["kind"] == "Model"
                        && d["spec"]["artifact"]["uri"].as_str()
                            .is_some_and(|u| u.trim_end_matches('/').split('/').any(|seg| seg == last)))?;
                    Some(json!({"path": path, "fingerprint": model["spec"]["artifact"]["digest"],
                        "name": model["metadata"]["name"], "format": "safetensors",
                        "bytes": 16_060_522_496u64}))
                }).collect();
                if !models.is_empty() {
                    i["models"] = json!(models);
                }
                i
            } else {
                json!({"container": c["name"], "packages": 0,
                    "digest": "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
                    "collectedAt": "2026-11-26T10:00:07Z",
                    "notes": ["process 7: permission denied", "no readable process"],
                    "processReads": {"processes": 1, "denied": 1}})
            }
        }).collect::<Vec<_>>());
        if sidecar.otlp.as_ref().is_some_and(|o| o.enabled) {
            // The calling agent's pods carry the conversation's spans and the edge.
            let first = ad.spec.agents.first();
            let first_selects =
                first.is_some_and(|a| selects(labels, &serde_json::to_value(&a.selector).unwrap()));
            if first_selects && ad.spec.agents.len() >= 2 {
                let mut names: BTreeMap<&str, String> = BTreeMap::new();
                names.insert("triage", ad.spec.agents[0].name.clone());
                names.insert("researcher", ad.spec.agents[1].name.clone());
                // The conversation's guardrail is a PII filter: the system's own, else its first.
                if let Some(g) = ad
                    .spec
                    .guardrails
                    .iter()
                    .find(|g| g.name == "pii-filter")
                    .or(ad.spec.guardrails.first())
                {
                    names.insert("pii-filter", g.name.clone());
                }
                if let Some(c) = ad.spec.rag.as_ref().and_then(|r| r.collection.clone()) {
                    names.insert("kb-articles", c);
                }
                let mut genai = otlp["genai"].clone();
                let mut graph = otlp["agentGraph"].clone();
                rename(&mut genai, &names);
                rename(&mut graph, &names);
                if ad.spec.rag.is_none() {
                    genai["retrievers"] = json!([]);
                }
                s["genai"] = genai;
                s["agentGraph"] = graph;
                if sidecar.proxy.is_none() && called {
                    s["latency"] = otlp["latency"].clone();
                }
            } else {
                s["genai"] = json!({"spans": 0});
            }
        }
        out.insert(name, serde_json::from_value(s).unwrap());
    }
    out
}
