//! The reference systems under `examples/`: every agentlens object validates against the CRDs
//! the types generate, deserialises into the types, and every reference between objects
//! resolves, so each directory works when applied as it is.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use agentlens_crds::{AgentDeployment, Evaluation, Model};
use agentlens_tests::crd_schema::CrdValidators;
use agentlens_tests::{Document, read_documents, workspace_root, yaml_files};
use serde_json::Value;

const SYSTEMS: [&str; 3] = ["invoice-rpa", "consumer-rag", "finetuned-gpu"];

fn example_dir(name: &str) -> PathBuf {
    workspace_root().join("examples").join(name)
}

fn documents(dir: &Path) -> Vec<Document> {
    yaml_files(dir)
        .unwrap()
        .iter()
        .flat_map(|f| read_documents(f).unwrap())
        .collect()
}

/// The objects of one example directory, by kind and name.
struct System {
    docs: Vec<Document>,
}

impl System {
    fn load(name: &str) -> Self {
        let docs = documents(&example_dir(name));
        assert!(!docs.is_empty(), "examples/{name} has no objects");
        Self { docs }
    }
    fn of_kind(&self, kind: &str) -> Vec<&Document> {
        self.docs.iter().filter(|d| d.kind() == kind).collect()
    }
    fn names(&self, kind: &str) -> BTreeSet<String> {
        self.of_kind(kind)
            .iter()
            .map(|d| d.name().to_string())
            .collect()
    }
    fn typed<T: serde::de::DeserializeOwned>(&self, kind: &str) -> Vec<T> {
        self.of_kind(kind)
            .iter()
            .map(|d| {
                serde_json::from_value(d.value.clone())
                    .unwrap_or_else(|e| panic!("{}: {e}", d.label()))
            })
            .collect()
    }
    fn configmap_keys(&self, name: &str) -> Option<BTreeMap<String, String>> {
        self.of_kind("ConfigMap")
            .into_iter()
            .find(|d| d.name() == name)
            .map(|d| serde_json::from_value(d.value["data"].clone()).unwrap_or_default())
    }
    /// Pod template labels of every workload.
    fn pod_templates(&self) -> Vec<(String, BTreeMap<String, String>, &Value)> {
        self.docs
            .iter()
            .filter(|d| matches!(d.kind(), "Deployment" | "StatefulSet" | "DaemonSet" | "Job"))
            .map(|d| {
                let t = &d.value["spec"]["template"];
                let labels = serde_json::from_value(t["metadata"]["labels"].clone()).unwrap();
                (d.name().to_string(), labels, &t["spec"])
            })
            .collect()
    }
}

/// matchLabels semantics (the examples use no matchExpressions; a selector that does fails
/// here so this helper is extended rather than silently ignoring them).
fn selects(selector: &Value, labels: &BTreeMap<String, String>) -> bool {
    assert!(
        selector.get("matchExpressions").is_none(),
        "extend the test's selector matcher for matchExpressions"
    );
    let want: BTreeMap<String, String> =
        serde_json::from_value(selector["matchLabels"].clone()).unwrap_or_default();
    !want.is_empty() && want.iter().all(|(k, v)| labels.get(k) == Some(v))
}

#[test]
fn every_agentlens_object_matches_the_generated_crds() {
    let validators = CrdValidators::generate().unwrap();
    let docs = documents(&workspace_root().join("examples"));
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut failures = Vec::new();
    for doc in docs.iter().filter(|d| d.is_agentlens()) {
        *seen.entry(doc.kind().to_string()).or_default() += 1;
        assert_eq!(
            doc.api_version(),
            "agentlens.dev/v1alpha1",
            "{}",
            doc.label()
        );
        for v in validators.violations(&doc.value) {
            failures.push(format!("{}: {v}", doc.label()));
        }
        let typed = match doc.kind() {
            "AgentDeployment" => {
                serde_json::from_value::<AgentDeployment>(doc.value.clone()).map(drop)
            }
            "Model" => serde_json::from_value::<Model>(doc.value.clone()).map(drop),
            "Evaluation" => serde_json::from_value::<Evaluation>(doc.value.clone()).map(drop),
            other => panic!("{}: unknown agentlens kind {other}", doc.label()),
        };
        if let Err(e) = typed {
            failures.push(format!("{}: does not deserialise: {e}", doc.label()));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    for kind in validators.kinds() {
        assert!(
            seen.get(kind).copied().unwrap_or(0) >= 3,
            "fewer than 3 {kind} examples: {seen:?}"
        );
    }
}

#[test]
fn every_reference_in_each_system_resolves() {
    for name in SYSTEMS {
        let sys = System::load(name);
        let ctx = format!("examples/{name}");

        // One namespace, opted in to injection, holding everything.
        let namespaces = sys.of_kind("Namespace");
        assert_eq!(namespaces.len(), 1, "{ctx}: one Namespace");
        let ns = namespaces[0];
        assert_eq!(
            ns.value["metadata"]["labels"]["agentlens.dev/injection"], "enabled",
            "{ctx}: namespace not opted in"
        );
        for d in sys.docs.iter().filter(|d| d.kind() != "Namespace") {
            assert_eq!(d.namespace(), ns.name(), "{}: namespace", d.label());
        }

        let ads: Vec<AgentDeployment> = sys.typed("AgentDeployment");
        let models: Vec<Model> = sys.typed("Model");
        let evals: Vec<Evaluation> = sys.typed("Evaluation");
        assert_eq!(ads.len(), 1, "{ctx}: one AgentDeployment");
        assert!(
            !models.is_empty() && !evals.is_empty(),
            "{ctx}: Models and Evaluations"
        );
        let ad = &ads[0];
        let model_names = sys.names("Model");
        let templates = sys.pod_templates();
        assert!(!templates.is_empty(), "{ctx}: no workloads");

        // The selector picks every workload of the system, and each agent's selector some.
        let selector = serde_json::to_value(&ad.spec.selector).unwrap();
        for (workload, labels, _) in &templates {
            assert!(selects(&selector, labels), "{ctx}: {workload} not selected");
        }
        let agent_names: BTreeSet<&str> = ad.spec.agents.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(
            agent_names.len(),
            ad.spec.agents.len(),
            "{ctx}: agent names unique"
        );
        for agent in &ad.spec.agents {
            if let Some(sel) = &agent.selector {
                let sel = serde_json::to_value(sel).unwrap();
                assert!(
                    templates.iter().any(|(_, l, _)| selects(&sel, l)),
                    "{ctx}: agent {} selects no workload",
                    agent.name
                );
            }
            for m in &agent.models {
                assert!(
                    model_names.contains(&m.name),
                    "{ctx}: agent {} model {}",
                    agent.name,
                    m.name
                );
            }
            for p in &agent.prompts {
                let keys = sys
                    .configmap_keys(&p.config_map)
                    .unwrap_or_else(|| panic!("{ctx}: prompt ConfigMap {} missing", p.config_map));
                if let Some(k) = &p.key {
                    assert!(
                        keys.contains_key(k),
                        "{ctx}: {} has no key {k}",
                        p.config_map
                    );
                }
            }
            for to in &agent.talks_to {
                assert!(agent_names.contains(to.as_str()), "{ctx}: talksTo {to}");
            }
        }
        for c in &ad.spec.configs {
            let (kind, n) = match (&c.config_map, &c.secret) {
                (Some(n), None) => ("ConfigMap", n),
                (None, Some(n)) => ("Secret", n),
                _ => panic!("{ctx}: a config names exactly one of configMap and secret"),
            };
            assert!(sys.names(kind).contains(n), "{ctx}: {kind} {n} missing");
        }
        if let Some(rag) = &ad.spec.rag
            && let Some(m) = &rag.embedding_model
        {
            assert!(
                model_names.contains(&m.name),
                "{ctx}: embedding model {}",
                m.name
            );
        }

        // ConfigMaps and Secrets the pods consume exist too.
        for (workload, _, pod) in &templates {
            for (kind, n) in consumed_configs(pod) {
                assert!(
                    sys.names(kind).contains(&n),
                    "{ctx}: {workload} consumes missing {kind} {n}"
                );
            }
        }

        // Lineage parents exist; fine-tunes list datasets with digests and preprocessing.
        for m in &models {
            if let Some(base) = &m.spec.base_model {
                assert!(
                    model_names.contains(&base.name),
                    "{ctx}: base model {}",
                    base.name
                );
                let t = m
                    .spec
                    .training
                    .as_ref()
                    .expect("a fine-tune declares its training");
                assert!(
                    !t.datasets.is_empty() && !t.preprocessing.is_empty(),
                    "{ctx}: training"
                );
                assert!(
                    t.datasets.iter().all(|d| d.digest.is_some()),
                    "{ctx}: dataset digests"
                );
            }
            assert!(
                m.spec.artifact.as_ref().is_some_and(|a| a.digest.is_some()),
                "{ctx}: artifact digest"
            );
        }

        // Evaluations point at this system, at models in the versions declared, at its
        // guardrails, and at prompts by the hash of their current content.
        let guardrails: BTreeSet<&str> =
            ad.spec.guardrails.iter().map(|g| g.name.as_str()).collect();
        let ad_name = sys.of_kind("AgentDeployment")[0].name().to_string();
        for e in &evals {
            assert_eq!(e.spec.agent_deployment, ad_name, "{ctx}: evaluation target");
            if let Some(g) = &e.spec.guardrail {
                assert!(guardrails.contains(g.as_str()), "{ctx}: guardrail {g}");
            }
            for mv in e.spec.subject.iter().flat_map(|s| &s.models) {
                let m = models
                    .iter()
                    .find(|m| m.metadata.name.as_deref() == Some(&mv.name));
                let m = m.unwrap_or_else(|| panic!("{ctx}: evaluated model {}", mv.name));
                assert_eq!(
                    m.spec.version, mv.version,
                    "{ctx}: evaluated version of {}",
                    mv.name
                );
            }
            for pv in e.spec.subject.iter().flat_map(|s| &s.prompts) {
                let keys = sys.configmap_keys(&pv.config_map).unwrap();
                let key = pv.key.as_deref().expect("evaluated prompt names its key");
                let text = keys.get(key).unwrap();
                assert_eq!(pv.hash, sha256_hex(text.as_bytes()), "{ctx}: prompt hash");
            }
        }
    }
}

#[test]
fn each_system_shows_what_it_is_the_reference_for() {
    let rpa = System::load("invoice-rpa");
    let ad: AgentDeployment = rpa.typed("AgentDeployment").remove(0);
    let agents: Vec<&str> = ad.spec.agents.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(agents, ["email-triage", "pdf-parser", "sap-writer"]);
    assert!(
        ad.spec.agents.iter().all(|a| !a.prompts.is_empty()),
        "prompts per agent"
    );
    assert!(
        ad.spec.agents.iter().map(|a| a.tools.len()).sum::<usize>() >= 4,
        "tools"
    );
    assert!(rpa.names("Model").len() >= 3, "several models");

    let rag = System::load("consumer-rag");
    let ad: AgentDeployment = rag.typed("AgentDeployment").remove(0);
    let r = ad.spec.rag.as_ref().expect("RAG declared");
    assert!(r.collection.is_some() && r.embedding_model.is_some() && r.index_version.is_some());
    let segment_models: BTreeSet<&str> = ad
        .spec
        .agents
        .iter()
        .filter(|a| a.name.starts_with("assistant-"))
        .flat_map(|a| a.models.first().map(|m| m.name.as_str()))
        .collect();
    assert!(
        segment_models.len() >= 2,
        "segment-specific models: {segment_models:?}"
    );

    let gpu = System::load("finetuned-gpu");
    let requests_gpu = gpu.pod_templates().iter().any(|(_, _, pod)| {
        pod["containers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| !c["resources"]["limits"]["nvidia.com/gpu"].is_null())
    });
    assert!(requests_gpu, "a container requests nvidia.com/gpu");
    let models: Vec<Model> = gpu.typed("Model");
    let depth = |start: &str| {
        let mut n = 1;
        let mut cur = start.to_string();
        while let Some(base) = models
            .iter()
            .find(|m| m.metadata.name.as_deref() == Some(&cur))
            .and_then(|m| m.spec.base_model.as_ref())
        {
            cur = base.name.clone();
            n += 1;
            assert!(n < 10, "lineage cycle");
        }
        n
    };
    let served = &ad_of(&gpu).spec.agents[0].models[0].name;
    assert_eq!(depth(served), 3, "base -> fine-tune -> fine-tune");
}

fn ad_of(sys: &System) -> AgentDeployment {
    sys.typed("AgentDeployment").remove(0)
}

/// ConfigMaps and Secrets a pod spec consumes: volumes (also projected), envFrom, env.valueFrom.
fn consumed_configs(pod: &Value) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    let mut push = |kind: &'static str, v: &Value| {
        if let Some(n) = v.as_str() {
            out.push((kind, n.to_string()));
        }
    };
    for vol in pod["volumes"].as_array().into_iter().flatten() {
        push("ConfigMap", &vol["configMap"]["name"]);
        push("Secret", &vol["secret"]["secretName"]);
        for src in vol["projected"]["sources"].as_array().into_iter().flatten() {
            push("ConfigMap", &src["configMap"]["name"]);
            push("Secret", &src["secret"]["name"]);
        }
    }
    let containers = ["initContainers", "containers"]
        .iter()
        .flat_map(|k| pod[*k].as_array().into_iter().flatten());
    for c in containers {
        for ef in c["envFrom"].as_array().into_iter().flatten() {
            push("ConfigMap", &ef["configMapRef"]["name"]);
            push("Secret", &ef["secretRef"]["name"]);
        }
        for e in c["env"].as_array().into_iter().flatten() {
            push("ConfigMap", &e["valueFrom"]["configMapKeyRef"]["name"]);
            push("Secret", &e["valueFrom"]["secretKeyRef"]["name"]);
        }
    }
    out
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    format!("sha256:{:x}", sha2::Sha256::digest(bytes))
}

/// The demo (`examples/demo/`) runs the image `make images` builds (its reference derived from
/// the chart by `scripts/images.sh demo-ref`, so a new appVersion fails here until the example
/// follows), is selected by its AgentDeployment, opted in to injection and instrumented with
/// the provider whose image `scripts/images.sh build base` builds too. Its pod running for real
/// is `operator/tests/real_pods.rs`.
#[test]
fn the_demo_runs_the_image_make_images_builds() {
    let out = std::process::Command::new(workspace_root().join("scripts/images.sh"))
        .arg("demo-ref")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let image = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let demo = System::load("demo");
    let ns = demo.of_kind("Namespace");
    assert_eq!(ns.len(), 1);
    assert_eq!(
        ns[0].value["metadata"]["labels"]["agentlens.dev/injection"],
        "enabled"
    );
    let ad = ad_of(&demo);
    let auto = ad
        .spec
        .sidecar
        .as_ref()
        .and_then(|s| s.otlp.as_ref())
        .and_then(|o| o.auto_instrument.as_ref())
        .expect("the demo's agents are instrumented by the webhook");
    assert!(auto.is_enabled());
    assert_eq!(
        (auto.language.as_str(), auto.provider.as_str()),
        ("python", "opentelemetry")
    );
    assert_eq!(
        auto.image, None,
        "the image images.sh builds beside the sidecar's"
    );
    let selector = serde_json::to_value(&ad.spec.selector).unwrap();
    let templates = demo.pod_templates();
    assert!(!templates.is_empty());
    for (workload, labels, spec) in templates {
        assert!(selects(&selector, &labels), "{workload} not selected");
        for c in spec["containers"].as_array().unwrap() {
            assert_eq!(c["image"], image.as_str(), "{workload}/{}", c["name"]);
            assert_eq!(
                c["imagePullPolicy"], "IfNotPresent",
                "kind load, no registry"
            );
        }
    }
}
