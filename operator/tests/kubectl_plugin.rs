//! `kubectl-agentlens` on dumped objects: golden outputs of `inspect -f` (table and JSON),
//! `maturity -f` and `lineage -f` for the invoice-rpa dump and the three example systems (their
//! statuses computed with the `status --from` code), and clear errors. Regenerate the golden
//! files with `AGENTLENS_UPDATE_GOLDEN=1 cargo test -p agentlens-operator --test kubectl_plugin`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use agentlens_operator::dump;
use serde_json::Value;

mod observed;
use observed::systems::systems;

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/inspect")
}

fn plugin(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_kubectl-agentlens"))
        .args(args)
        .env("KUBECONFIG", "/nonexistent/agentlens-test-kubeconfig")
        .env_remove("KUBERNETES_SERVICE_HOST")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn golden(name: &str, actual: &str) {
    let path = golden_dir().join(name);
    if std::env::var_os("AGENTLENS_UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(golden_dir()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|_| {
        panic!(
            "{} missing: AGENTLENS_UPDATE_GOLDEN=1 creates it",
            path.display()
        )
    });
    assert_eq!(
        actual,
        expected,
        "{} differs (AGENTLENS_UPDATE_GOLDEN=1 to accept)",
        path.display()
    );
}

#[test]
fn inspect_and_maturity_from_files_match_the_golden_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let mut levels = BTreeMap::new();
    for (name, file) in systems(dir.path()) {
        let f = file.to_str().unwrap();
        let (ok, table, err) = plugin(&["inspect", "-f", f]);
        assert!(ok, "{name}: {err}");
        assert!(!table.contains('\x1b'), "no colour when not on a terminal");
        golden(&format!("{name}.txt"), &table);
        let (ok, json, err) = plugin(&["inspect", "-f", f, "-o", "json"]);
        assert!(ok, "{name}: {err}");
        golden(&format!("{name}.json"), &json);
        // Runtime: a row per model of `runtime.tokens` (model, requests, input, output), and
        // no table when there are none.
        let ad: Value = serde_json::from_str(&json).unwrap();
        let tokens = ad["status"]["runtime"]["tokens"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert_eq!(
            table.contains("INPUT-TOKENS"),
            !tokens.is_empty(),
            "{name}: token table"
        );
        for t in &tokens {
            let want: Vec<String> = ["model", "requests", "inputTokens", "outputTokens"]
                .iter()
                .map(|k| match &t[k] {
                    Value::String(s) => s.clone(),
                    v => v.to_string(),
                })
                .collect();
            assert!(
                table
                    .lines()
                    .any(|l| l.split_whitespace().collect::<Vec<_>>() == want),
                "{name}: no token row {want:?}"
            );
        }
        let (ok, checklist, err) = plugin(&["maturity", "-f", f, "-o", "json"]);
        assert!(ok, "{name}: {err}");
        let m: Value = serde_json::from_str(&checklist).unwrap();
        assert_eq!(m["checks"].as_array().unwrap().len(), 17);
        levels.insert(name.clone(), m["level"].as_u64().unwrap());
        // The page answers each question of the design's first table.
        for section in [
            "Images",
            "Models",
            "Configs",
            "Prompts",
            "Runtime",
            "Evaluations",
            "Maturity (next steps first)",
        ] {
            assert!(table.contains(section), "{name}: no {section}");
        }
    }
    eprintln!("levels: {levels:?}");
}

/// A check's verdict, as the rubric defines it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Pass,
    Fail,
    /// `applicable: false`: left out of the score.
    NotApplicable,
}
use Verdict::{Fail, NotApplicable as Na, Pass};

/// One check's expected verdict and the reason for it.
type Expectation = (&'static str, Verdict, &'static str);

/// What the rubric (`docs/maturity.md`) says of each example system observed running, worked
/// out by hand from the rubric's text and the example's own objects (`examples/*`, and the
/// observation rules of `observed/mod.rs`), not from the operator's output: the check, the
/// verdict and why.
const EXPECTED: [(&str, [Expectation; 17]); 3] = [
    (
        "invoice-rpa",
        [
            (
                "ENV-1",
                Pass,
                "every pod's images were pulled from ghcr.io: repo@sha256 IDs",
            ),
            (
                "ENV-2",
                Pass,
                "every Deployment sets runAsUser 10001: the sidecar reads the roots",
            ),
            (
                "ENV-3",
                Pass,
                "rpa-settings, sap-credentials and the three prompt ConfigMaps exist",
            ),
            ("OBS-1", Pass, "no snapshot reports logs unavailable"),
            (
                "OBS-2",
                Pass,
                "every pod's logs are analysed (no traceback seen is no gap)",
            ),
            (
                "OBS-3",
                Pass,
                "every snapshot has processes and RSS per container",
            ),
            ("OBS-4", Na, "no pod requests nvidia.com/gpu"),
            (
                "OBS-5",
                Fail,
                "no proxy, and no Service calls the agents: no SERVER spans",
            ),
            ("OBS-6", Pass, "scraped 30 s before the snapshots"),
            (
                "MOD-1",
                Pass,
                "triage-classifier, invoice-extractor, llama: versions and digests",
            ),
            (
                "MOD-2",
                Pass,
                "both fine-tunes resolve to declared bases with digests",
            ),
            (
                "MOD-3",
                Pass,
                "both fine-tunes list datasets with digests and preprocessing",
            ),
            ("AGT-1", Pass, "every agent declares its prompts ConfigMap"),
            (
                "AGT-2",
                Fail,
                "talksTo pdf-parser -> sap-writer is never seen in spans",
            ),
            ("AGT-3", Na, "no spec.rag and no retriever spans"),
            (
                "AGT-4",
                Fail,
                "amount-limit has neither an Evaluation nor spans",
            ),
            (
                "AGT-5",
                Fail,
                "the passed PreDeployment names invoice-extractor only",
            ),
        ],
    ),
    (
        "consumer-rag",
        [
            (
                "ENV-1",
                Pass,
                "every pod's images were pulled from ghcr.io: repo@sha256 IDs",
            ),
            ("ENV-2", Pass, "every Deployment sets runAsUser 10001"),
            (
                "ENV-3",
                Pass,
                "retrieval-settings and the two prompt ConfigMaps exist",
            ),
            ("OBS-1", Pass, "no snapshot reports logs unavailable"),
            ("OBS-2", Pass, "every pod's logs are analysed"),
            (
                "OBS-3",
                Pass,
                "every snapshot has processes and RSS per container",
            ),
            ("OBS-4", Na, "no pod requests nvidia.com/gpu"),
            (
                "OBS-5",
                Pass,
                "the router's Service targets agentlens-proxy: the proxy measures",
            ),
            ("OBS-6", Pass, "scraped 30 s before the snapshots"),
            (
                "MOD-1",
                Pass,
                "both assistants and bge-small (also the RAG embedder) declared",
            ),
            (
                "MOD-2",
                Pass,
                "both assistants resolve to mistral-7b-instruct with a digest",
            ),
            (
                "MOD-3",
                Pass,
                "both assistants list a dataset with digest and preprocessing",
            ),
            ("AGT-1", Pass, "every agent declares its prompt key"),
            (
                "AGT-2",
                Fail,
                "talksTo router -> assistant-business is never seen in spans",
            ),
            (
                "AGT-3",
                Pass,
                "collection, index version, bge-small declared with a digest",
            ),
            (
                "AGT-4",
                Fail,
                "grounding-check has neither an Evaluation nor spans",
            ),
            (
                "AGT-5",
                Pass,
                "the passed PreDeployment names all three running versions; Online",
            ),
        ],
    ),
    (
        "finetuned-gpu",
        [
            (
                "ENV-1",
                Pass,
                "vLLM and the aws-cli init image from docker.io by digest",
            ),
            ("ENV-2", Pass, "the pod sets runAsUser 1000"),
            ("ENV-3", Pass, "vllm-settings and summarizer-prompts exist"),
            ("OBS-1", Pass, "no snapshot reports logs unavailable"),
            ("OBS-2", Pass, "the pod's logs are analysed"),
            (
                "OBS-3",
                Pass,
                "the snapshot has processes and RSS per container",
            ),
            (
                "OBS-4",
                Pass,
                "the pod requests a GPU and the sidecar reads it through NVML",
            ),
            (
                "OBS-5",
                Pass,
                "the Service targets agentlens-proxy: the proxy measures",
            ),
            ("OBS-6", Pass, "scraped 30 s before the snapshot"),
            (
                "MOD-1",
                Pass,
                "clinical-notes-dpo has a version and a digest",
            ),
            (
                "MOD-2",
                Pass,
                "dpo -> sft -> llama-3.1-8b, every link with a digest",
            ),
            (
                "MOD-3",
                Pass,
                "dpo and sft list datasets with digests and preprocessing",
            ),
            (
                "AGT-1",
                Pass,
                "the one agent declares its prompts ConfigMap",
            ),
            ("AGT-2", Na, "one agent, no talksTo, no spans"),
            ("AGT-3", Na, "no spec.rag and no retriever spans"),
            (
                "AGT-4",
                Pass,
                "phi-leak-check has an Online guardrail Evaluation",
            ),
            (
                "AGT-5",
                Pass,
                "the gate names clinical-notes-dpo 1.3.0; an Online Evaluation",
            ),
        ],
    ),
];

/// The rubric's score (share of applicable checks passing, rounded down) and level table.
fn rubric_level(verdicts: &[Verdict]) -> (u64, u64) {
    let applicable = verdicts.iter().filter(|v| **v != Na).count() as u64;
    let passed = verdicts.iter().filter(|v| **v == Pass).count() as u64;
    let score = (100 * passed).checked_div(applicable).unwrap_or(0);
    let level = match score {
        0..=24 => 0,
        25..=49 => 1,
        50..=74 => 2,
        75..=89 => 3,
        _ => 4,
    };
    (score, level)
}

#[test]
fn each_examples_checks_are_what_the_rubric_says() {
    let dir = tempfile::tempdir().unwrap();
    let systems: BTreeMap<String, PathBuf> = systems(dir.path()).into_iter().collect();
    let mut levels = std::collections::BTreeSet::new();
    for (example, expected) in EXPECTED {
        let file = &systems[&format!("example-{example}")];
        let (ok, json, err) = plugin(&["maturity", "-f", file.to_str().unwrap(), "-o", "json"]);
        assert!(ok, "{example}: {err}");
        let m: Value = serde_json::from_str(&json).unwrap();
        let got: BTreeMap<&str, Verdict> = m["checks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                let verdict = if c["applicable"] == false {
                    Na
                } else if c["passed"] == true {
                    Pass
                } else {
                    Fail
                };
                (c["id"].as_str().unwrap(), verdict)
            })
            .collect();
        assert_eq!(got.len(), expected.len(), "{example}: {got:?}");
        let wrong: Vec<String> = expected
            .iter()
            .filter(|(id, want, _)| got.get(id) != Some(want))
            .map(|(id, want, why)| format!("{id}: want {want:?} ({why}), got {:?}", got.get(id)))
            .collect();
        assert!(wrong.is_empty(), "{example}:\n{}", wrong.join("\n"));
        let verdicts: Vec<Verdict> = expected.iter().map(|(_, v, _)| *v).collect();
        let (score, level) = rubric_level(&verdicts);
        assert_eq!(m["score"].as_u64(), Some(score), "{example}");
        assert_eq!(m["level"].as_u64(), Some(level), "{example}");
        levels.insert(level);
    }
    // The three reference systems, judged by the rubric's text, sit at three different levels.
    assert_eq!(levels.len(), 3, "{levels:?}");
}

/// The chat histogram's quantiles in `observed/mod.rs` were worked out by hand; Prometheus's
/// own `histogram_quantile` (promtool's PromQL engine) must agree, to 1e-9 (the order of the
/// floating-point operations differs by an ulp).
#[test]
fn the_hand_worked_latency_quantiles_are_prometheus_histogram_quantile() {
    let Some(promtool) = agentlens_tests::tools::system_tool("promtool").or_skip() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let series: String = observed::CHAT_BUCKETS
        .iter()
        .map(|(le, count)| {
            format!("      - series: 'request_duration_seconds_bucket{{le=\"{le}\"}}'\n        values: '0 {count}'\n")
        })
        .chain(std::iter::once(
            "      - series: 'request_duration_seconds_bucket{le=\"+Inf\"}'\n        values: '0 1800'\n"
                .to_string(),
        ))
        .collect();
    let tests: String = observed::CHAT_QUANTILES
        .iter()
        .map(|(q, v)| {
            format!(
                "      - expr: abs(histogram_quantile({q}, request_duration_seconds_bucket) - {v:.17}) < bool 1e-9\n        eval_time: 1m\n        exp_samples:\n          - labels: '{{}}'\n            value: 1\n"
            )
        })
        .collect();
    let file = dir.path().join("quantiles.test.yaml");
    std::fs::write(
        &file,
        format!(
            "rule_files: []\ntests:\n  - interval: 1m\n    input_series:\n{series}    promql_expr_test:\n{tests}"
        ),
    )
    .unwrap();
    let out = Command::new(promtool)
        .args(["test", "rules"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn lineage_shows_the_chain_with_datasets_and_preprocessing() {
    let dir = tempfile::tempdir().unwrap();
    let file = systems(dir.path())
        .into_iter()
        .find(|(n, _)| n == "example-finetuned-gpu")
        .unwrap()
        .1;
    let d = dump::read(&std::fs::read_to_string(&file).unwrap()).unwrap();
    // The model at the end of the longest chain.
    let leaf = d
        .models
        .iter()
        .find(|m| {
            !d.models
                .iter()
                .any(|o| o.spec.base_model.as_ref().map(|b| &b.name) == m.metadata.name.as_ref())
        })
        .unwrap()
        .metadata
        .name
        .clone()
        .unwrap();
    let (ok, out, err) = plugin(&["lineage", &leaf, "-f", file.to_str().unwrap()]);
    assert!(ok, "{err}");
    golden("example-finetuned-gpu-lineage.txt", &out);
    assert!(out.contains("dataset:"), "{out}");
    assert!(out.contains("preprocessing:"), "{out}");
    // Root, then two fine-tuning steps.
    assert!(out.starts_with("llama-3.1-8b@"), "{out}");
    assert_eq!(
        out.lines().filter(|l| l.contains("└─ ")).count(),
        2,
        "{out}"
    );
}

#[test]
fn errors_are_clear() {
    let dir = tempfile::tempdir().unwrap();
    let file = systems(dir.path()).remove(0).1;
    let f = file.to_str().unwrap();
    let (ok, _, err) = plugin(&["inspect", "-f", f, "nope"]);
    assert!(
        !ok && err.contains("no AgentDeployment named nope"),
        "{err}"
    );
    let (ok, _, err) = plugin(&["inspect", "-f", "/nonexistent.yaml"]);
    assert!(!ok && err.contains("reading /nonexistent.yaml"), "{err}");
    let (ok, _, err) = plugin(&["lineage", "nope", "-f", f]);
    assert!(
        !ok && err.contains("models.agentlens.dev \"nope\" not found"),
        "{err}"
    );
    // No cluster configured: says so instead of a stack of errors.
    let (ok, _, err) = plugin(&["inspect", "invoice-rpa", "-n", "invoice-rpa"]);
    assert!(!ok && err.contains("no usable kubeconfig"), "{err}");
    let (ok, _, err) = plugin(&["inspect"]);
    assert!(!ok && err.contains("name an AgentDeployment"), "{err}");
}

/// The plugin against a fake API server through a kubeconfig, like kubectl: the namespace from
/// the context, `-n`, and the errors for a missing object, a missing CRD and a forbidden read.
#[test]
fn inspect_from_a_cluster_honours_kubeconfig_and_explains_errors() {
    use agentlens_tests::fake_api::{self, Answer};
    let dir = tempfile::tempdir().unwrap();
    let file = systems(dir.path()).remove(0).1;
    let list: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    let ad = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["kind"] == "AgentDeployment")
        .unwrap()
        .clone();
    let base = "/apis/agentlens.dev/v1alpha1/namespaces";
    let mut routes = BTreeMap::new();
    routes.insert(
        format!("{base}/invoice-rpa/agentdeployments/invoice-rpa"),
        Answer::ok(ad),
    );
    routes.insert(
        format!("{base}/locked/agentdeployments/invoice-rpa"),
        Answer::status(
            403,
            "Forbidden",
            "agentdeployments.agentlens.dev \"invoice-rpa\" is forbidden",
        ),
    );
    routes.insert(
        format!("{base}/empty/agentdeployments/invoice-rpa"),
        Answer::status(
            404,
            "NotFound",
            "agentdeployments.agentlens.dev \"invoice-rpa\" not found",
        ),
    );
    let server = fake_api::start(routes).unwrap();
    let kubeconfig = fake_api::kubeconfig(dir.path(), &server, Some("invoice-rpa")).unwrap();
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_kubectl-agentlens"))
            .args(args)
            .env("KUBECONFIG", &kubeconfig)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    // The context's namespace, then -n.
    let (ok, page, err) = run(&["inspect", "invoice-rpa"]);
    assert!(ok, "{err}");
    let expected = std::fs::read_to_string(golden_dir().join("invoice-rpa-dump.txt")).unwrap();
    assert_eq!(page, expected);
    let (ok, _, err) = run(&[
        "maturity",
        "invoice-rpa",
        "-n",
        "invoice-rpa",
        "--context",
        "fake",
    ]);
    assert!(ok, "{err}");
    let (ok, _, err) = run(&["inspect", "invoice-rpa", "-n", "empty"]);
    assert!(
        !ok && err.contains("agentdeployments \"invoice-rpa\" not found in namespace empty"),
        "{err}"
    );
    let (ok, _, err) = run(&["inspect", "invoice-rpa", "-n", "locked"]);
    assert!(
        !ok && err.contains("kubectl auth can-i get agentdeployments -n locked"),
        "{err}"
    );
    // No route at all for the namespace: the API server's answer when the CRD is not installed.
    let (ok, _, err) = run(&["inspect", "invoice-rpa", "-n", "other"]);
    assert!(!ok && err.contains("CRD is not installed"), "{err}");
    let (ok, _, err) = run(&["inspect", "invoice-rpa", "--context", "nope"]);
    assert!(!ok && err.contains("kubeconfig context nope"), "{err}");
}
