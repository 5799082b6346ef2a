//! Injection over 31 hand-written pod shapes modelled on real tools (`tests/data/pods/`, see
//! `tests/data/README.md`): the decision, the patch applied with the `json-patch` crate,
//! nothing of the pod overwritten, idempotence, and every patched pod valid for Kubernetes 1.29
//! and 1.32 (`kubernetes-validate --strict`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::Path;

use agentlens_crds::AgentDeployment;
use agentlens_operator::admission::{Outcome, review};
use agentlens_operator::inject::{
    AGENT_LABEL, Decision, InjectConfig, SCRAPE_ANNOTATIONS, SCRAPE_LABEL, SCRAPE_LABEL_VALUE,
    decide,
};
use agentlens_tests::pods::container_declaring;
use agentlens_tests::tools::{kubernetes_validate, python_tool};
use base64::Engine;
use serde_json::{Value, json};

fn data() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data"))
}

fn ads() -> Vec<AgentDeployment> {
    agentlens_operator::agentdeployments::load_dir(data()).unwrap()
}

fn fixture(name: &str) -> Value {
    let text = std::fs::read_to_string(data().join("pods").join(format!("{name}.json"))).unwrap();
    let mut v: Value = serde_json::from_str(&text).unwrap();
    v.as_object_mut().unwrap().remove("_comment");
    v
}

fn admission_review(pod: &Value, dry_run: bool) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "705ab4f5-6393-11e8-b7cc-42010a800002",
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "requestKind": {"group": "", "version": "v1", "kind": "Pod"},
            "requestResource": {"group": "", "version": "v1", "resource": "pods"},
            "name": pod["metadata"]["name"],
            "namespace": "agents",
            "operation": "CREATE",
            "userInfo": {"username": "system:serviceaccount:kube-system:replicaset-controller", "groups": ["system:serviceaccounts"]},
            "object": pod,
            "oldObject": null,
            "dryRun": dry_run,
            "options": {"apiVersion": "meta.k8s.io/v1", "kind": "CreateOptions"}
        }
    }))
    .unwrap()
}

/// Sends the pod through the AdmissionReview exchange and applies the returned patch.
fn admit(pod: &Value, cfg: &InjectConfig) -> (Value, Option<Value>) {
    let answer = review(&admission_review(pod, false), &ads(), cfg);
    assert_eq!(answer.status, 200);
    let resp: Value = serde_json::from_slice(&answer.body).unwrap();
    let r = &resp["response"];
    assert_eq!(r["uid"], "705ab4f5-6393-11e8-b7cc-42010a800002");
    assert_eq!(r["allowed"], true);
    let patched = r["patch"].as_str().map(|b64| {
        assert_eq!(r["patchType"], "JSONPatch");
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap();
        let patch: json_patch::Patch = serde_json::from_slice(&bytes).unwrap();
        let mut doc = pod.clone();
        json_patch::patch(&mut doc, &patch).unwrap();
        doc
    });
    (resp, patched)
}

#[derive(Debug)]
enum Expect {
    Skip(&'static str),
    Inject {
        agent: Option<&'static str>,
        gpu: bool,
        uid: i64,
        warning: Option<&'static str>,
    },
}

use Expect::{Inject, Skip};

const fn inj(agent: &'static str) -> Expect {
    Inject {
        agent: Some(agent),
        gpu: false,
        uid: 65532,
        warning: None,
    }
}

fn table() -> Vec<(&'static str, Expect)> {
    vec![
        (
            "deployment-generatename",
            Inject {
                agent: Some("invoice-rpa"),
                gpu: false,
                uid: 10001,
                warning: None,
            },
        ),
        (
            "bare-pod-no-labels-no-annotations",
            Skip("no AgentDeployment selects"),
        ),
        (
            "forced-no-labels",
            Inject {
                agent: None,
                gpu: false,
                uid: 65532,
                warning: None,
            },
        ),
        ("istio-classic-sidecar", inj("invoice-rpa")),
        ("istio-native-sidecar", inj("invoice-rpa")),
        ("linkerd-classic-sidecar", inj("invoice-rpa")),
        ("linkerd-native-sidecar", inj("invoice-rpa")),
        (
            "gpu-vllm-runtimeclass",
            Inject {
                agent: Some("discharge-summarizer"),
                gpu: true,
                uid: 1000,
                warning: None,
            },
        ),
        (
            "gpu-pytorchjob-master",
            Inject {
                agent: Some("discharge-summarizer"),
                gpu: true,
                uid: 65532,
                warning: None,
            },
        ),
        ("job-pod-never-restart", inj("invoice-rpa")),
        ("statefulset-pod-hostname", inj("invoice-rpa")),
        (
            "restricted-pss",
            Inject {
                agent: Some("invoice-rpa"),
                gpu: false,
                uid: 10001,
                warning: None,
            },
        ),
        ("hostnetwork-selected", Skip("hostNetwork")),
        ("hostnetwork-forced", inj("invoice-rpa")),
        (
            "share-process-namespace-false",
            Inject {
                agent: Some("invoice-rpa"),
                gpu: false,
                uid: 65532,
                warning: Some("shareProcessNamespace is off"),
            },
        ),
        (
            "share-process-namespace-opt-out",
            Inject {
                agent: Some("invoice-rpa"),
                gpu: false,
                uid: 65532,
                warning: Some("shareProcessNamespace is off"),
            },
        ),
        ("selected-but-opted-out", Skip("is \"false\"")),
        ("opted-out-by-label", Skip("is \"false\"")),
        (
            "agentdeployment-inject-false",
            Skip("spec.sidecar.inject: false"),
        ),
        (
            "resource-annotations",
            Inject {
                agent: Some("invoice-rpa"),
                gpu: false,
                uid: 65532,
                warning: Some("\"lots\" is not a quantity"),
            },
        ),
        ("own-prometheus-annotations", inj("invoice-rpa")),
        ("operator-own-pod", Skip("operator")),
        ("knative-revision-pod", Skip("no AgentDeployment selects")),
        ("argo-workflow-pod", inj("invoice-rpa")),
        (
            "kserve-predictor",
            Inject {
                agent: Some("invoice-rpa"),
                gpu: true,
                uid: 65532,
                warning: None,
            },
        ),
        (
            "ray-worker-gpu",
            Inject {
                agent: Some("invoice-rpa"),
                gpu: true,
                uid: 65532,
                warning: None,
            },
        ),
        (
            "app-runs-as-root",
            Inject {
                agent: Some("invoice-rpa"),
                gpu: false,
                uid: 65532,
                warning: Some("runs as root"),
            },
        ),
        (
            "no-service-account-token",
            Inject {
                agent: Some("invoice-rpa"),
                gpu: false,
                uid: 65532,
                warning: Some("automountServiceAccountToken"),
            },
        ),
        ("already-injected", Skip("already injected")),
        ("sidecar-added-by-hand", Skip("already injected")),
        (
            "gpu-requests-only",
            Inject {
                agent: Some("discharge-summarizer"),
                gpu: true,
                uid: 65532,
                warning: None,
            },
        ),
    ]
}

fn sidecar_of(pod: &Value) -> &Value {
    pod["spec"]["initContainers"]
        .as_array()
        .into_iter()
        .chain(pod["spec"]["containers"].as_array())
        .flatten()
        .find(|c| c["name"] == "agentlens-sidecar")
        .expect("sidecar present")
}

fn env_of<'a>(c: &'a Value, name: &str) -> Option<&'a Value> {
    c["env"].as_array()?.iter().find(|e| e["name"] == name)
}

#[test]
fn every_pod_shape_is_decided_and_patched_correctly() {
    let files: Vec<String> = std::fs::read_dir(data().join("pods"))
        .unwrap()
        .map(|e| {
            e.unwrap()
                .path()
                .file_stem()
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    let table = table();
    assert!(table.len() >= 20);
    let mut names: Vec<&str> = table.iter().map(|(n, _)| *n).collect();
    names.sort();
    let mut on_disk: Vec<&str> = files.iter().map(String::as_str).collect();
    on_disk.sort();
    assert_eq!(
        names, on_disk,
        "every fixture has a row and every row a fixture"
    );

    let cfg = InjectConfig::default();
    let out_dir = std::env::temp_dir().join(format!("agentlens-patched-{}", std::process::id()));
    std::fs::create_dir_all(&out_dir).unwrap();
    let mut patched_count = 0;
    for (name, expect) in &table {
        let pod = fixture(name);
        let (resp, patched) = admit(&pod, &cfg);
        let warnings: Vec<String> = resp["response"]["warnings"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|w| w.as_str().unwrap().to_string())
            .collect();
        match expect {
            Skip(reason) => {
                assert!(patched.is_none(), "{name}: patched but should skip");
                let why = resp["response"]["auditAnnotations"]["agentlens.dev/decision"]
                    .as_str()
                    .unwrap_or_default();
                assert!(
                    why.contains(reason),
                    "{name}: skipped because {why:?}, want {reason:?}"
                );
            }
            Inject {
                agent,
                gpu,
                uid,
                warning,
            } => {
                let p = patched.unwrap_or_else(|| panic!("{name}: not patched: {resp}"));
                check_preserved(name, &pod, &p);
                let ann = &p["metadata"]["annotations"];
                assert_eq!(
                    ann["agentlens.dev/injected"],
                    env!("CARGO_PKG_VERSION"),
                    "{name}"
                );
                assert_eq!(
                    p["metadata"]["labels"]["agentlens.dev/agent"].as_str(),
                    *agent,
                    "{name}"
                );
                let sc = sidecar_of(&p);
                assert_eq!(sc["restartPolicy"], "Always", "{name}: native sidecar");
                assert_eq!(sc["securityContext"]["runAsUser"], *uid, "{name}");
                assert_eq!(sc["securityContext"]["runAsNonRoot"], true, "{name}");
                assert_eq!(
                    sc["securityContext"]["readOnlyRootFilesystem"], true,
                    "{name}"
                );
                assert_eq!(
                    sc["securityContext"]["capabilities"]["drop"],
                    json!(["ALL"]),
                    "{name}"
                );
                assert_eq!(
                    sc["securityContext"]["seccompProfile"]["type"], "RuntimeDefault",
                    "{name}"
                );
                assert_eq!(
                    env_of(sc, "NVIDIA_VISIBLE_DEVICES").is_some(),
                    *gpu,
                    "{name}: GPU env"
                );
                assert_eq!(
                    env_of(sc, "POD_NAME").unwrap()["valueFrom"]["fieldRef"]["fieldPath"],
                    "metadata.name"
                );
                assert_eq!(
                    env_of(sc, "AGENTLENS_AGENT").unwrap()["value"],
                    agent.unwrap_or("")
                );
                assert_eq!(sc["ports"][0]["containerPort"], 9477);
                // The proxy and OTLP receiver only where the AgentDeployment asks for them.
                let proxied = *agent == Some("discharge-summarizer");
                let value = |n: &str| env_of(sc, n).map(|e| e["value"].clone());
                if proxied {
                    assert_eq!(value("AGENTLENS_PROXY_LISTEN").unwrap(), "0.0.0.0:15080");
                    assert_eq!(value("AGENTLENS_PROXY_UPSTREAM").unwrap(), "127.0.0.1:8000");
                    assert_eq!(
                        value("AGENTLENS_PROXY_ROUTES").unwrap(),
                        "/v1/chat/*,/v1/completions"
                    );
                    // The container declaring the target port, when one does.
                    let declared = container_declaring(&pod, &json!(8000)).map(|c| json!(c));
                    assert_eq!(value("AGENTLENS_PROXY_CONTAINER"), declared, "{name}");
                    assert_eq!(value("AGENTLENS_OTLP_LISTEN").unwrap(), "0.0.0.0:4318");
                    assert_eq!(value("AGENTLENS_CAPTURE_CONTENT").unwrap(), "true");
                    assert_eq!(
                        value("AGENTLENS_MODEL_PATHS").unwrap(),
                        "/models/discharge-summarizer,/models/extra.gguf"
                    );
                    assert_eq!(
                        sc["ports"],
                        json!([
                            {"name": "agentlens", "containerPort": 9477, "protocol": "TCP"},
                            {"name": "agentlens-proxy", "containerPort": 15080, "protocol": "TCP"},
                            {"name": "otlp-http", "containerPort": 4318, "protocol": "TCP"}
                        ]),
                        "{name}"
                    );
                } else {
                    assert!(value("AGENTLENS_PROXY_LISTEN").is_none(), "{name}");
                    assert!(value("AGENTLENS_OTLP_LISTEN").is_none(), "{name}");
                    assert!(value("AGENTLENS_MODEL_PATHS").is_none(), "{name}");
                    assert_eq!(sc["ports"].as_array().unwrap().len(), 1, "{name}");
                }
                // The sidecar never gates the pod: no readiness probe of its own.
                assert!(sc.get("readinessProbe").is_none(), "{name}");
                if let Some(w) = warning {
                    assert!(
                        warnings.iter().any(|x| x.contains(w)),
                        "{name}: warnings {warnings:?} lack {w:?}"
                    );
                }
                // Re-submitting the patched pod (reinvocation) changes nothing.
                let (_, again) = admit(&p, &cfg);
                assert!(again.is_none(), "{name}: patched twice");
                // The API server names generateName pods after admission; kubernetes-validate
                // needs a name, so give it the one the server would (with a fixed suffix).
                let mut stored = p.clone();
                if stored["metadata"].get("name").is_none() {
                    let g = stored["metadata"]["generateName"]
                        .as_str()
                        .unwrap()
                        .to_string();
                    stored["metadata"]["name"] = json!(format!("{g}x7k2p"));
                }
                std::fs::write(
                    out_dir.join(format!("{name}.json")),
                    serde_json::to_vec_pretty(&stored).unwrap(),
                )
                .unwrap();
                patched_count += 1;
            }
        }
    }
    assert!(patched_count >= 20, "{patched_count} patched pods");
    validate_with_kubernetes(&out_dir, patched_count);
    let _ = std::fs::remove_dir_all(&out_dir);
}

/// Nothing the pod had is changed: labels, annotations, containers, and init containers keep
/// their values and order; the sidecar comes after all existing init containers.
fn check_preserved(name: &str, before: &Value, after: &Value) {
    for map in ["labels", "annotations"] {
        let b: BTreeMap<String, Value> =
            serde_json::from_value(before["metadata"][map].clone()).unwrap_or_default();
        for (k, v) in b {
            assert_eq!(after["metadata"][map][&k], v, "{name}: {map} {k} changed");
        }
    }
    assert_eq!(
        before["spec"]["containers"], after["spec"]["containers"],
        "{name}: containers changed"
    );
    let before_init = before["spec"]["initContainers"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let after_init = after["spec"]["initContainers"].as_array().cloned().unwrap();
    assert_eq!(
        &after_init[..before_init.len()],
        &before_init[..],
        "{name}: init containers reordered"
    );
    assert_eq!(
        after_init.last().unwrap()["name"],
        "agentlens-sidecar",
        "{name}: sidecar last"
    );
    for field in [
        "volumes",
        "tolerations",
        "securityContext",
        "runtimeClassName",
        "hostNetwork",
        "restartPolicy",
    ] {
        assert_eq!(
            before["spec"][field], after["spec"][field],
            "{name}: {field} changed"
        );
    }
    let had_share = before["spec"].get("shareProcessNamespace").cloned();
    let opted_out =
        before["metadata"]["annotations"]["agentlens.dev/share-process-namespace"] == "false";
    match (had_share, opted_out) {
        (Some(v), _) => assert_eq!(after["spec"]["shareProcessNamespace"], v, "{name}"),
        (None, true) => assert!(
            after["spec"].get("shareProcessNamespace").is_none(),
            "{name}"
        ),
        (None, false) => assert_eq!(after["spec"]["shareProcessNamespace"], true, "{name}"),
    }
    let prom_before = before["metadata"]["annotations"]
        .as_object()
        .is_some_and(|a| a.keys().any(|k| k.starts_with("prometheus.io/")));
    if !prom_before {
        assert_eq!(
            after["metadata"]["annotations"]["prometheus.io/port"], "9477",
            "{name}"
        );
    }
}

fn validate_with_kubernetes(dir: &Path, expected: usize) {
    let Some(bin) = python_tool("kubernetes-validate").or_skip() else {
        return;
    };
    let files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    for version in ["1.29.0", "1.32.0"] {
        let v = kubernetes_validate(&bin, version, &files);
        let text = v.report;
        assert!(v.ok, "kubernetes-validate {version}:\n{text}");
        // Only patched pods are in the directory: every pass is a pod.
        let pods = text
            .lines()
            .filter(|l| l.contains(" passed for resource pod/"))
            .count();
        assert_eq!(pods, v.passed, "{version}:\n{text}");
        assert_eq!(pods, expected, "{version}:\n{text}");
    }
}

#[test]
fn without_native_sidecars_the_container_is_appended() {
    let cfg = InjectConfig {
        native_sidecars: false,
        ..InjectConfig::default()
    };
    let pod = fixture("istio-classic-sidecar");
    let (_, patched) = admit(&pod, &cfg);
    let p = patched.unwrap();
    let containers = p["spec"]["containers"].as_array().unwrap();
    assert_eq!(containers.last().unwrap()["name"], "agentlens-sidecar");
    assert!(containers.last().unwrap().get("restartPolicy").is_none());
    assert_eq!(p["spec"]["initContainers"], pod["spec"]["initContainers"]);
}

#[test]
fn dry_run_is_answered_the_same() {
    let pod = fixture("deployment-generatename");
    let cfg = InjectConfig::default();
    let a = review(&admission_review(&pod, false), &ads(), &cfg);
    let b = review(&admission_review(&pod, true), &ads(), &cfg);
    assert_eq!(a, b);
    assert_eq!(a.outcome, Outcome::Injected);
}

#[test]
fn resources_come_from_the_agentdeployment_then_the_annotations() {
    let cfg = InjectConfig::default();
    let (_, p) = admit(&fixture("gpu-vllm-runtimeclass"), &cfg);
    let sc = sidecar_of(p.as_ref().unwrap()).clone();
    assert_eq!(sc["resources"]["requests"]["cpu"], "20m");
    assert_eq!(sc["resources"]["limits"]["memory"], "128Mi");
    assert_eq!(
        env_of(&sc, "AGENTLENS_LOG_FILES").unwrap()["value"],
        "/shared-logs/vllm.log"
    );
    let (_, p) = admit(&fixture("resource-annotations"), &cfg);
    let sc = sidecar_of(p.as_ref().unwrap()).clone();
    assert_eq!(sc["resources"]["requests"]["cpu"], "50m");
    assert_eq!(sc["resources"]["requests"]["memory"], "32Mi");
    assert_eq!(sc["resources"]["limits"]["memory"], "256Mi");
    assert_eq!(
        sc["resources"]["limits"]["cpu"], "200m",
        "the malformed override is ignored"
    );
}

#[test]
fn the_decision_is_a_pure_function() {
    let pod = fixture("deployment-generatename");
    let cfg = InjectConfig::default();
    let a = decide(&pod, "agents", &ads(), &cfg).unwrap();
    let b = decide(&pod, "agents", &ads(), &cfg).unwrap();
    assert_eq!(a, b);
    assert!(matches!(a, Decision::Inject { .. }));
    // The same pod in a namespace without AgentDeployments is left alone.
    assert!(matches!(
        decide(&pod, "other", &ads(), &cfg).unwrap(),
        Decision::Skip(_)
    ));
}

/// How traffic reaches the proxy in a pod: every example Service's named `targetPort` resolves
/// on the pods of the Deployments it selects once the webhook has injected them, and where it
/// names `agentlens-proxy` the proxy forwards to a port the app container really has.
#[test]
fn example_services_reach_their_pods_after_injection() {
    use agentlens_operator::inject::{Decision, decide};
    let root = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../examples"));
    let mut proxied = 0;
    for dir in std::fs::read_dir(root).unwrap() {
        let dir = dir.unwrap().path();
        let mut docs: Vec<Value> = Vec::new();
        for f in std::fs::read_dir(&dir).unwrap() {
            let f = f.unwrap().path();
            if f.extension().is_some_and(|e| e == "yaml") {
                let text = std::fs::read_to_string(&f).unwrap();
                docs.extend(serde_saphyr::from_multiple::<Value>(&text).unwrap());
            }
        }
        let ads = agentlens_tests::agent_deployments(&docs).unwrap();
        for svc in docs.iter().filter(|d| d["kind"] == "Service") {
            let sel = svc["spec"]["selector"].as_object().unwrap();
            let ns = svc["metadata"]["namespace"].as_str().unwrap();
            for dep in docs.iter().filter(|d| d["kind"] == "Deployment") {
                let tpl = &dep["spec"]["template"];
                let labels = &tpl["metadata"]["labels"];
                if !sel.iter().all(|(k, v)| &labels[k] == v) {
                    continue;
                }
                let mut pod = json!({"apiVersion": "v1", "kind": "Pod",
                    "metadata": tpl["metadata"].clone(), "spec": tpl["spec"].clone()});
                pod["metadata"]["namespace"] = json!(ns);
                let Decision::Inject { patch, .. } =
                    decide(&pod, ns, &ads, &InjectConfig::default()).unwrap()
                else {
                    panic!("{}: not injected", dep["metadata"]["name"]);
                };
                let patch: json_patch::Patch = serde_json::from_value(patch).unwrap();
                json_patch::patch(&mut pod, &patch).unwrap();
                let containers: Vec<&Value> = ["containers", "initContainers"]
                    .iter()
                    .flat_map(|k| pod["spec"][k].as_array().into_iter().flatten())
                    .collect();
                let named = |c: &Value, n: &Value| {
                    c["ports"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .any(|p| &p["name"] == n || &p["containerPort"] == n)
                };
                for port in svc["spec"]["ports"].as_array().unwrap() {
                    let target = &port["targetPort"];
                    assert!(
                        containers.iter().any(|c| named(c, target)),
                        "{}: Service {} targetPort {target} not on the injected pod",
                        dir.display(),
                        svc["metadata"]["name"]
                    );
                    if target == "agentlens-proxy" {
                        proxied += 1;
                        let sc = sidecar_of(&pod);
                        let upstream = env_of(sc, "AGENTLENS_PROXY_UPSTREAM").unwrap()["value"]
                            .as_str()
                            .unwrap();
                        let up_port: i64 = upstream.rsplit(':').next().unwrap().parse().unwrap();
                        assert!(
                            containers
                                .iter()
                                .filter(|c| c["name"] != "agentlens-sidecar")
                                .any(|c| named(c, &json!(up_port))),
                            "{upstream} is not a port of the app"
                        );
                    }
                }
            }
        }
    }
    assert!(
        proxied >= 1,
        "an example routes its Service through the proxy"
    );
}

/// Every injected pod carries the label the chart's PodMonitor selects (also a pod forced in
/// without an AgentDeployment); with a PodMonitor in use (`scrape_annotations: false`) no
/// `prometheus.io/*` annotation is added, so the pod is scraped once.
#[test]
fn injected_pods_carry_the_scrape_label_and_annotations_only_without_a_pod_monitor() {
    for (name, agent) in [
        ("deployment-generatename", true),
        ("forced-no-labels", false),
        ("gpu-vllm-runtimeclass", true),
    ] {
        let pod = fixture(name);
        for scrape_annotations in [true, false] {
            let cfg = InjectConfig {
                scrape_annotations,
                ..InjectConfig::default()
            };
            let (_, patched) = admit(&pod, &cfg);
            let p = patched.unwrap_or_else(|| panic!("{name} is injected"));
            let meta = &p["metadata"];
            assert_eq!(meta["labels"][SCRAPE_LABEL], SCRAPE_LABEL_VALUE, "{name}");
            assert_eq!(meta["labels"][AGENT_LABEL].is_string(), agent, "{name}");
            for a in SCRAPE_ANNOTATIONS {
                assert_eq!(
                    meta["annotations"][a].is_string(),
                    scrape_annotations,
                    "{name}: {a} with scrape_annotations={scrape_annotations}"
                );
            }
        }
    }
}
