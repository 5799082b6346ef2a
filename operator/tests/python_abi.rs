//! From the built sidecar's snapshots to `AutoInstrumentationMismatch` on the AgentDeployment
//! and in `kubectl agentlens inspect`: two agents' pods admitted by the real webhook
//! (`otlp.autoInstrument`), each paired with what the sidecar served for a real interpreter
//! over the real cp311 layout (`crds/tests/fixtures/snapshot-autoinstrument-*.json`, written by
//! `sidecar/tests/autoinstrument_abi.rs`; their one container renamed from `run` mode's `main`
//! to the pod's), through `dump::statuses`, the code path of `agentlens-operator status --from`
//! and of the controller.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use agentlens_crds::{AgentDeployment, Snapshot};
use agentlens_operator::dump;
use agentlens_operator::inject::{Decision, InjectConfig, decide};
use agentlens_operator::inspect::{self, Style};
use agentlens_operator::status::conditions::types::AUTO_INSTRUMENTATION_MISMATCH;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serde_json::{Value, json};

const NAMESPACE: &str = "agents";
const CONTAINER: &str = "agent";
const MATCH: &str = include_str!("../../crds/tests/fixtures/snapshot-autoinstrument-match.json");
const PYTHON_312: &str =
    include_str!("../../crds/tests/fixtures/snapshot-autoinstrument-other-python.json");

fn agentdeployment() -> Value {
    json!({
        "apiVersion": "agentlens.dev/v1alpha1", "kind": "AgentDeployment",
        "metadata": {"name": "research-desk", "namespace": NAMESPACE, "generation": 1},
        "spec": {
            "selector": {"matchLabels": {"app.kubernetes.io/part-of": "research-desk"}},
            "sidecar": {"otlp": {"enabled": true, "autoInstrument": {"provider": "opentelemetry"}}},
            "agents": [
                {"name": "planner", "selector": {"matchLabels": {"app.kubernetes.io/name": "planner"}}},
                {"name": "researcher", "selector": {"matchLabels": {"app.kubernetes.io/name": "researcher"}}}
            ]
        }
    })
}

/// A pod of `agent` as its Deployment creates it, admitted by the webhook, then running.
fn admitted_pod(agent: &str, image: &str) -> Value {
    let pod = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {
            "name": format!("{agent}-6d4b9c7f5-x2k8q"), "namespace": NAMESPACE,
            "labels": {"app.kubernetes.io/name": agent, "app.kubernetes.io/part-of": "research-desk"}
        },
        "spec": {"containers": [{"name": CONTAINER, "image": image, "command": ["python", "/app/agent.py"]}]}
    });
    let ad: AgentDeployment = serde_json::from_value(agentdeployment()).unwrap();
    let Decision::Inject { patch, .. } =
        decide(&pod, NAMESPACE, &[ad], &InjectConfig::default()).unwrap()
    else {
        panic!("{agent} not injected");
    };
    let patch: json_patch::Patch = serde_json::from_value(patch).unwrap();
    let mut pod = pod;
    json_patch::patch(&mut pod, &patch).unwrap();
    pod["status"] =
        json!({"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]});
    pod
}

/// A fixture snapshot as the sidecar of `pod` would serve it.
fn snapshot(text: &str) -> Snapshot {
    let mut s: Snapshot = serde_json::from_str(text).unwrap();
    for c in &mut s.containers {
        c.name = CONTAINER.into();
    }
    for i in &mut s.inventory {
        i.container = CONTAINER.into();
    }
    s
}

#[test]
fn a_cp311_layout_under_python_3_12_is_a_condition_not_a_silent_no_op() {
    let list = json!({"apiVersion": "v1", "kind": "List", "items": [
        agentdeployment(),
        admitted_pod("planner", "python:3.12-slim"),
        admitted_pod("researcher", "python:3.11-slim"),
    ]});
    let d = dump::read(&list.to_string()).unwrap();
    let now = Time("2026-12-05T23:30:00Z".parse().unwrap());
    // (case, planner's snapshot, status, reason, what the message names)
    let cases = [
        (
            "planner_on_python_3_12",
            PYTHON_312,
            "True",
            "PythonABIMismatch",
            "planner (pod planner-6d4b9c7f5-x2k8q, container agent: interpreter cp312, layout cp311)",
        ),
        (
            "both_on_python_3_11",
            MATCH,
            "False",
            "PythonABIMatches",
            "planner (cp311, instrumentation loaded in 1 of 1 processes)",
        ),
    ];
    for (case, planner, status, reason, names) in cases {
        let snapshots = BTreeMap::from([
            ("planner-6d4b9c7f5-x2k8q".to_string(), snapshot(planner)),
            ("researcher-6d4b9c7f5-x2k8q".to_string(), snapshot(MATCH)),
        ]);
        let out = dump::statuses(&d, &snapshots, None, &now).unwrap();
        let ad = agentlens_tests::agent_deployments(out["items"].as_array().unwrap())
            .unwrap()
            .remove(0);
        let s = ad.status.as_ref().unwrap();
        let c = s
            .conditions
            .iter()
            .find(|c| c.type_ == AUTO_INSTRUMENTATION_MISMATCH)
            .unwrap_or_else(|| panic!("{case}: no {AUTO_INSTRUMENTATION_MISMATCH}"));
        assert_eq!(
            (c.status.as_str(), c.reason.as_str()),
            (status, reason),
            "{case}"
        );
        assert!(c.message.contains(names), "{case}: {}", c.message);
        assert!(
            c.message.contains("researcher (cp311"),
            "{case}: {}",
            c.message
        );

        // `kubectl agentlens inspect` lists it with the other conditions.
        let page = inspect::page(&ad, Style::Plain);
        let row = page
            .lines()
            .find(|l| l.trim_start().starts_with(AUTO_INSTRUMENTATION_MISMATCH))
            .unwrap_or_else(|| panic!("{case}: not in inspect:\n{page}"));
        assert!(row.contains(reason), "{case}: {row}");
    }
}
