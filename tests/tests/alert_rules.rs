//! The alert rules file against the contract: the alert names of the design, the annotations
//! every alert carries, runbook links that resolve to a section of `docs/runbooks.md`, and (under
//! `make test`) `promtool check rules` plus the `promtool test rules` unit tests.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use agentlens_operator::controller::keys::{SIDECAR_TOKEN_KEY, SIDECAR_TOKEN_SECRET};
use agentlens_operator::inject::autoinstrument::INIT_CONTAINER_NAME;
use agentlens_operator::inject::sidecar::{CONTAINER_NAME, PORT};
use serde_json::Value;

/// The alert names users and dashboards rely on (`../shared/DESIGN.md`, contracts), and the
/// platform team's self-alerts on the operator, the webhook and the sidecars.
const ALERTS: [&str; 13] = [
    "AgentLensGpuOutOfMemory",
    "AgentLensGpuMemoryPressure",
    "AgentLensContainerOOMKilled",
    "AgentLensGpuXidError",
    "AgentLensHighLatency",
    "AgentLensTracebackSurge",
    "AgentLensSidecarMissing",
    "AgentLensOperatorDown",
    "AgentLensSidecarNotRunning",
    "AgentLensWebhookErrors",
    "AgentLensWebhookSlow",
    "AgentLensReconcileErrors",
    "AgentLensSnapshotPullFailing",
];

/// Alerts about one agent: Alertmanager routes them to the owning team by these labels (the
/// per-AgentDeployment ones carry namespace and agentdeployment only).
const ROUTING: [&str; 4] = ["namespace", "agentdeployment", "pod", "container"];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn rules() -> Vec<Value> {
    let text = std::fs::read_to_string(root().join("rules/agentlens.rules.yaml")).unwrap();
    let doc: Value = serde_saphyr::from_str(&text).unwrap();
    doc["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["rules"].as_array().unwrap().clone())
        .collect()
}

/// GitHub's anchor for a Markdown heading: lower case, spaces to dashes, punctuation dropped.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

#[test]
fn every_contract_alert_is_defined_with_its_annotations_and_nothing_else() {
    let rules = rules();
    for name in ALERTS {
        assert!(
            rules.iter().any(|r| r["alert"] == name),
            "{name} is missing from rules/agentlens.rules.yaml"
        );
    }
    for r in &rules {
        let name = r["alert"].as_str().expect("only alerting rules");
        assert!(ALERTS.contains(&name), "{name} is not in the design's list");
        let severity = r["labels"]["severity"].as_str().unwrap_or_default();
        assert!(
            ["critical", "warning", "info"].contains(&severity),
            "{name}: severity {severity:?}"
        );
        if name.starts_with("AgentLensGpuOutOfMemory")
            || name == "AgentLensTracebackSurge"
            || name == "AgentLensContainerOOMKilled"
            || name == "AgentLensGpuXidError"
            || name == "AgentLensHighLatency"
        {
            let expr = r["expr"].as_str().unwrap();
            for l in ROUTING {
                assert!(expr.contains(l), "{name} does not keep {l}: {expr}");
            }
        }
        for key in ["summary", "description", "runbook_url"] {
            assert!(
                r["annotations"][key]
                    .as_str()
                    .is_some_and(|s| !s.is_empty()),
                "{name} has no {key}"
            );
        }
    }
}

#[test]
fn runbook_links_point_at_a_section_of_docs_runbooks() {
    let doc = std::fs::read_to_string(root().join("docs/runbooks.md")).unwrap();
    let anchors: Vec<String> = doc
        .lines()
        .filter_map(|l| l.strip_prefix("## "))
        .map(anchor)
        .collect();
    for r in rules() {
        let url = r["annotations"]["runbook_url"].as_str().unwrap();
        let (page, frag) = url.split_once('#').expect("a runbook_url with an anchor");
        assert!(page.ends_with("/docs/runbooks.md"), "{url}");
        assert!(
            anchors.iter().any(|a| a == frag),
            "{url}: no section #{frag} in docs/runbooks.md"
        );
        assert_eq!(
            frag,
            r["alert"].as_str().unwrap().to_lowercase(),
            "one section per alert, named after it"
        );
    }
}

/// The values of every `container="…"` and `container=~"a|b"` matcher in an expression.
fn container_matchers(expr: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (i, _) in expr.match_indices("container") {
        let rest = &expr[i + "container".len()..];
        let Some(value) = rest
            .strip_prefix("=~\"")
            .or_else(|| rest.strip_prefix("=\""))
        else {
            continue;
        };
        let value = &value[..value.find('"').unwrap()];
        out.extend(value.split('|').map(str::to_string));
    }
    out
}

/// The containers an alert matches by name are the ones the webhook injects, by the names the
/// operator gives them: a renamed container would otherwise silently never match again.
#[test]
fn the_container_names_the_rules_match_are_the_injected_containers() {
    let named: BTreeSet<String> = rules()
        .iter()
        .flat_map(|r| container_matchers(r["expr"].as_str().unwrap()))
        .collect();
    let injected: BTreeSet<String> = [CONTAINER_NAME, INIT_CONTAINER_NAME]
        .map(str::to_string)
        .into();
    assert_eq!(named, injected);
}

/// `/v1/*` needs the bearer token: the runbooks' command reads it from the operator's Secret
/// (its name and key as the operator defines them) and every `curl` of `/v1/` in the runbooks
/// and in the alerts' annotations sends it.
#[test]
fn runbook_commands_for_v1_send_the_token_from_the_operators_secret() {
    let doc = std::fs::read_to_string(root().join("docs/runbooks.md")).unwrap();
    let block = doc
        .split("```sh\n")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("an sh block in docs/runbooks.md");
    for want in [
        format!("get secret {SIDECAR_TOKEN_SECRET} -o jsonpath='{{.data.{SIDECAR_TOKEN_KEY}}}'"),
        format!("port-forward pod/POD {PORT} &"),
        format!("curl -s -H \"Authorization: Bearer $TOKEN\" localhost:{PORT}/v1/tracebacks"),
    ] {
        assert!(block.contains(&want), "{want:?} not in:\n{block}");
    }
    let rules = std::fs::read_to_string(root().join("rules/agentlens.rules.yaml")).unwrap();
    for line in doc.lines().chain(rules.lines()) {
        if line.contains("curl") && line.contains("/v1/") {
            assert!(line.contains("Authorization: Bearer"), "no token: {line}");
        }
    }
}

/// promtool from Debian's `prometheus` package; missing means skipped, or failed under `make test`.
fn promtool() -> Option<PathBuf> {
    agentlens_tests::tools::system_tool("promtool").or_skip()
}

#[test]
fn promtool_checks_the_rules_and_passes_their_unit_tests() {
    let Some(promtool) = promtool() else {
        return;
    };
    for args in [
        ["check", "rules", "rules/agentlens.rules.yaml"],
        ["test", "rules", "rules/tests/agentlens.test.yaml"],
    ] {
        let out = Command::new(&promtool)
            .args(args)
            .current_dir(root())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "promtool {}:\n{}{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
