//! The invoice-rpa dump and the three example systems as observed running, each written as a
//! `v1 List` file (AgentDeployments with the status the operator computes from the objects and
//! the sidecars' snapshots, and the Models as applied): the input of `kubectl agentlens
//! inspect -f` and `console -f`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use agentlens_crds::{AgentDeployment, Snapshot};
use agentlens_operator::dump;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serde_json::Value;

use super::NOW;

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The objects of a dump or an example directory, with the AgentDeployment's status as the
/// operator computes it from them and the sidecars' snapshots, written as a `v1 List` file.
fn with_status(
    name: &str,
    text: &str,
    snapshots: &BTreeMap<String, Snapshot>,
    dir: &Path,
) -> PathBuf {
    let d = dump::read(text).unwrap();
    let list = dump::statuses(&d, snapshots, Some(&[7; 32]), &Time(NOW.parse().unwrap())).unwrap();
    let mut items: Vec<Value> = list["items"].as_array().unwrap().clone();
    // The Models as applied (for `lineage -f`), besides the computed ones.
    items.retain(|i| i["kind"] == "AgentDeployment");
    for m in &d.models {
        items.push(serde_json::to_value(m).unwrap());
    }
    // The Evaluations (guardrail results and metrics for `console -f`).
    for e in &d.evaluations {
        items.push(serde_json::to_value(e).unwrap());
    }
    let file = dir.join(format!("{name}.json"));
    std::fs::write(
        &file,
        serde_json::to_string(
            &serde_json::json!({"apiVersion": "v1", "kind": "List", "items": items}),
        )
        .unwrap(),
    )
    .unwrap();
    file
}

/// The example systems (directories of `examples/`).
pub const EXAMPLES: [&str; 3] = ["invoice-rpa", "consumer-rag", "finetuned-gpu"];

/// An example's objects as applied, plus its running pods (a document stream), and its pods'
/// sidecar snapshots.
pub fn example_observed(example: &str) -> (String, BTreeMap<String, Snapshot>) {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join("examples").join(example))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    let mut docs: Vec<Value> = Vec::new();
    for f in &files {
        docs.extend(
            serde_saphyr::from_multiple::<Value>(&std::fs::read_to_string(f).unwrap()).unwrap(),
        );
    }
    // As applied, plus the running pods and their sidecars' snapshots.
    let ads: Vec<AgentDeployment> = docs
        .iter()
        .filter(|d| d["kind"] == "AgentDeployment")
        .map(|d| serde_json::from_value(d.clone()).unwrap())
        .collect();
    super::as_stored(&mut docs);
    let pods = super::pods(&docs, &ads);
    let snapshots = super::snapshots(&docs, &pods, &ads);
    docs.extend(pods);
    let text = docs
        .iter()
        .map(|d| serde_json::to_string(d).unwrap())
        .collect::<Vec<_>>()
        .join("\n---\n");
    (text, snapshots)
}

pub fn systems(dir: &Path) -> Vec<(String, PathBuf)> {
    let mut out = vec![(
        "invoice-rpa-dump".to_string(),
        with_status(
            "invoice-rpa-dump",
            include_str!("../data/dumps/invoice-rpa.yaml"),
            &BTreeMap::new(),
            dir,
        ),
    )];
    for example in EXAMPLES {
        let (text, snapshots) = example_observed(example);
        out.push((
            format!("example-{example}"),
            with_status(example, &text, &snapshots, dir),
        ));
    }
    out
}
