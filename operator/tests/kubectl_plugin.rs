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
    // Observed running, the three reference systems show three different levels of maturity.
    let examples: std::collections::BTreeSet<u64> = levels
        .iter()
        .filter(|(n, _)| n.starts_with("example-"))
        .map(|(_, l)| *l)
        .collect();
    assert_eq!(examples.len(), 3, "{levels:?}");
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
