//! `TelemetryFlowing`: whether the agents the webhook instrumented (`otlp.autoInstrument`) send
//! spans to their sidecars, so an instrumentation that silently does nothing (an interpreter
//! it does not load into, a client it does not patch) shows instead of an empty dashboard.

use std::collections::{BTreeMap, BTreeSet};

use agentlens_crds::{AgentDeployment, Snapshot};

use super::PodFacts;
use super::conditions::Computed;

/// The condition's type (one definition, in [`super::conditions::types`]).
pub use super::conditions::types::TELEMETRY_FLOWING;

/// The agents a pod runs: per app container the agent naming it (`agents[].container`), else
/// the pod's (`agents[].name` whose selector matches), else the AgentDeployment's name: what the
/// instrumentation conditions name.
pub fn agent_names(ad: &AgentDeployment, pod: &PodFacts) -> BTreeSet<String> {
    let mut out: BTreeSet<String> = pod
        .images
        .iter()
        .map(|(container, _, _)| crate::selector::agent_name(ad, &pod.labels, Some(container)))
        .collect();
    if out.is_empty() {
        out.insert(crate::selector::agent_name(ad, &pod.labels, None));
    }
    out
}

/// The condition, when a pod of the system is instrumented: `True` when every instrumented
/// agent's sidecars have received spans, `False` (`NoSpans`) naming the agents whose have not
/// (yet) or whose sidecars have not reported.
pub fn condition(
    ad: &AgentDeployment,
    pods: &[&PodFacts],
    snapshots: &BTreeMap<String, Snapshot>,
) -> Option<Computed> {
    // agent → whether any of its instrumented pods' sidecars saw spans
    let mut agents: BTreeMap<String, bool> = BTreeMap::new();
    for p in pods.iter().filter(|p| p.auto_instrumented) {
        let spans = snapshots
            .get(&p.name)
            .and_then(|s| s.genai.as_ref())
            .is_some_and(|g| g.spans > 0);
        for agent in agent_names(ad, p) {
            *agents.entry(agent).or_default() |= spans;
        }
    }
    if agents.is_empty() {
        return None;
    }
    let silent: BTreeSet<&str> = agents
        .iter()
        .filter(|(_, spans)| !**spans)
        .map(|(a, _)| a.as_str())
        .collect();
    let all: Vec<&str> = agents.keys().map(String::as_str).collect();
    Some(Computed {
        type_: TELEMETRY_FLOWING,
        status: silent.is_empty(),
        reason: if silent.is_empty() {
            "SpansArriving"
        } else {
            "NoSpans"
        },
        message: if silent.is_empty() {
            format!(
                "spans arrive from every instrumented agent: {}",
                all.join(", ")
            )
        } else {
            format!(
                "instrumented agents whose sidecars received no spans: {} (of {})",
                silent.into_iter().collect::<Vec<_>>().join(", "),
                all.join(", ")
            )
        },
    })
}

#[cfg(test)]
pub(super) mod tests {
    use agentlens_crds::snapshot::GenAiSnapshot;

    use super::*;

    /// A two-agent system (also the ABI condition's tests').
    pub(in crate::status) fn ad() -> AgentDeployment {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "agentlens.dev/v1alpha1", "kind": "AgentDeployment",
            "metadata": {"name": "research-desk", "namespace": "agents"},
            "spec": {
                "selector": {"matchLabels": {"app.kubernetes.io/part-of": "research-desk"}},
                "agents": [
                    {"name": "planner", "selector": {"matchLabels": {"app.kubernetes.io/name": "planner"}}},
                    {"name": "researcher", "selector": {"matchLabels": {"app.kubernetes.io/name": "researcher"}}}
                ]
            }
        }))
        .unwrap()
    }

    /// A pod of `agent`, carrying the instrumentation or not.
    pub(in crate::status) fn pod(name: &str, agent: &str, instrumented: bool) -> PodFacts {
        PodFacts {
            name: name.into(),
            labels: BTreeMap::from([("app.kubernetes.io/name".into(), agent.into())]),
            auto_instrumented: instrumented,
            ..PodFacts::default()
        }
    }

    fn snap(spans: u64) -> Snapshot {
        let mut s: Snapshot = serde_json::from_value(serde_json::json!({
            "schemaVersion": 1, "sidecarVersion": "0.1.0", "mode": "serve",
            "collectedAt": "2026-12-05T09:00:00Z", "gpu": {"state": "disabled"}
        }))
        .unwrap();
        s.genai = Some(GenAiSnapshot {
            spans,
            ..GenAiSnapshot::default()
        });
        s
    }

    /// Two planner replicas and a researcher, instrumented, and an uninstrumented batch pod.
    pub(in crate::status) fn pods() -> [PodFacts; 4] {
        [
            pod("planner-0", "planner", true),
            pod("planner-1", "planner", true),
            pod("researcher-0", "researcher", true),
            pod("batch-0", "batch", false),
        ]
    }

    #[test]
    fn instrumented_agents_with_and_without_spans() {
        let pods = pods();
        let refs: Vec<&PodFacts> = pods.iter().collect();
        // (case, snapshots, status, reason)
        let cases = [
            ("no_snapshot_yet", vec![], Some((false, "NoSpans"))),
            (
                "one_planner_replica_is_enough",
                vec![("planner-1", 3), ("researcher-0", 1)],
                Some((true, "SpansArriving")),
            ),
            (
                "researcher_silent",
                vec![("planner-0", 2), ("researcher-0", 0)],
                Some((false, "NoSpans")),
            ),
        ];
        for (case, snaps, want) in cases {
            let snaps: BTreeMap<String, Snapshot> = snaps
                .into_iter()
                .map(|(p, n)| (p.to_string(), snap(n)))
                .collect();
            let got = condition(&ad(), &refs, &snaps).map(|c| (c.status, c.reason));
            assert_eq!(got, want, "{case}");
        }
        let c = condition(
            &ad(),
            &refs,
            &BTreeMap::from([("planner-0".into(), snap(1))]),
        )
        .unwrap();
        assert_eq!(
            c.message,
            "instrumented agents whose sidecars received no spans: researcher (of planner, researcher)"
        );
        let none = [pod("batch-0", "batch", false)];
        assert_eq!(condition(&ad(), &[&none[0]], &BTreeMap::new()), None);
    }
}
