//! Label selector matching, as the API server does it (`matchLabels` and `matchExpressions`
//! with `In`, `NotIn`, `Exists`, `DoesNotExist`; all ANDed; an empty selector matches all).

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

/// Whether `selector` selects an object with `labels`. An operator the API does not define
/// matches nothing (never select by accident).
pub fn matches(selector: &LabelSelector, labels: &BTreeMap<String, String>) -> bool {
    let by_labels = selector
        .match_labels
        .iter()
        .flatten()
        .all(|(k, v)| labels.get(k) == Some(v));
    let by_expressions = selector.match_expressions.iter().flatten().all(|e| {
        let values = e.values.as_deref().unwrap_or_default();
        match e.operator.as_str() {
            "In" => labels.get(&e.key).is_some_and(|v| values.contains(v)),
            "NotIn" => labels.get(&e.key).is_none_or(|v| !values.contains(v)),
            "Exists" => labels.contains_key(&e.key),
            "DoesNotExist" => !labels.contains_key(&e.key),
            _ => false,
        }
    });
    by_labels && by_expressions
}

/// The agent of an AgentDeployment a pod with `labels` belongs to: the first in `agents` whose
/// (non-empty) selector matches.
pub fn agent_of<'a>(
    ad: &'a agentlens_crds::AgentDeployment,
    labels: &BTreeMap<String, String>,
) -> Option<&'a agentlens_crds::agentdeployment::AgentSpec> {
    ad.spec.agents.iter().find(|a| {
        a.selector
            .as_ref()
            .is_some_and(|s| !is_empty(s) && matches(s, labels))
    })
}

/// The agent that container `container` of a pod with `labels` runs: the first agent naming
/// that container (`agents[].container`) whose selector, when set, matches the pod; else the
/// pod's agent ([`agent_of`]). The webhook's `OTEL_SERVICE_NAME` and the status's pod→agent
/// mapping both come from here, so the names the sidecars report are the ones the status uses.
pub fn agent_of_container<'a>(
    ad: &'a agentlens_crds::AgentDeployment,
    labels: &BTreeMap<String, String>,
    container: &str,
) -> Option<&'a agentlens_crds::agentdeployment::AgentSpec> {
    ad.spec
        .agents
        .iter()
        .find(|a| {
            a.container.as_deref() == Some(container)
                && a.selector
                    .as_ref()
                    .is_none_or(|s| is_empty(s) || matches(s, labels))
        })
        .or_else(|| pod_agent(ad, labels))
}

/// The agent of a pod's containers that no agent names: the first whose selector matches and
/// that names no container of its own.
fn pod_agent<'a>(
    ad: &'a agentlens_crds::AgentDeployment,
    labels: &BTreeMap<String, String>,
) -> Option<&'a agentlens_crds::agentdeployment::AgentSpec> {
    ad.spec.agents.iter().find(|a| {
        a.container.is_none()
            && a.selector
                .as_ref()
                .is_some_and(|s| !is_empty(s) && matches(s, labels))
    })
}

/// The name of [`agent_of_container`] (without a container: the agent of the pod's containers
/// that no agent names), else the AgentDeployment's: what telemetry and conditions call the
/// agent.
pub fn agent_name(
    ad: &agentlens_crds::AgentDeployment,
    labels: &BTreeMap<String, String>,
    container: Option<&str>,
) -> String {
    match container {
        Some(c) => agent_of_container(ad, labels, c),
        None => pod_agent(ad, labels),
    }
    .map(|a| a.name.clone())
    .or_else(|| ad.metadata.name.clone())
    .unwrap_or_default()
}

/// Whether the selector is empty (selects everything): an AgentDeployment with an empty
/// selector would inject into every pod of its namespace, so injection ignores it.
pub fn is_empty(selector: &LabelSelector) -> bool {
    selector
        .match_labels
        .as_ref()
        .is_none_or(BTreeMap::is_empty)
        && selector
            .match_expressions
            .as_ref()
            .is_none_or(Vec::is_empty)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn req(key: &str, op: &str, values: &[&str]) -> LabelSelectorRequirement {
        LabelSelectorRequirement {
            key: key.into(),
            operator: op.into(),
            values: Some(values.iter().map(|v| v.to_string()).collect()),
        }
    }

    #[test]
    fn table() {
        let pod = labels(&[
            ("app.kubernetes.io/part-of", "invoice-rpa"),
            ("tier", "gpu"),
        ]);
        let cases: &[(&str, LabelSelector, bool)] = &[
            ("empty selects all", LabelSelector::default(), true),
            (
                "matchLabels equal",
                LabelSelector {
                    match_labels: Some(labels(&[("tier", "gpu")])),
                    ..Default::default()
                },
                true,
            ),
            (
                "matchLabels differ",
                LabelSelector {
                    match_labels: Some(labels(&[("tier", "cpu")])),
                    ..Default::default()
                },
                false,
            ),
            (
                "In",
                LabelSelector {
                    match_expressions: Some(vec![req("tier", "In", &["gpu", "tpu"])]),
                    ..Default::default()
                },
                true,
            ),
            (
                "NotIn missing key",
                LabelSelector {
                    match_expressions: Some(vec![req("zone", "NotIn", &["a"])]),
                    ..Default::default()
                },
                true,
            ),
            (
                "NotIn value",
                LabelSelector {
                    match_expressions: Some(vec![req("tier", "NotIn", &["gpu"])]),
                    ..Default::default()
                },
                false,
            ),
            (
                "Exists",
                LabelSelector {
                    match_expressions: Some(vec![req("tier", "Exists", &[])]),
                    ..Default::default()
                },
                true,
            ),
            (
                "DoesNotExist",
                LabelSelector {
                    match_expressions: Some(vec![req("tier", "DoesNotExist", &[])]),
                    ..Default::default()
                },
                false,
            ),
            (
                "unknown operator",
                LabelSelector {
                    match_expressions: Some(vec![req("tier", "Gt", &["1"])]),
                    ..Default::default()
                },
                false,
            ),
            (
                "labels and expressions ANDed",
                LabelSelector {
                    match_labels: Some(labels(&[("app.kubernetes.io/part-of", "invoice-rpa")])),
                    match_expressions: Some(vec![req("tier", "In", &["cpu"])]),
                },
                false,
            ),
        ];
        for (name, sel, want) in cases {
            assert_eq!(matches(sel, &pod), *want, "{name}");
        }
        assert!(is_empty(&LabelSelector::default()));
    }

    #[test]
    fn a_container_named_by_an_agent_is_that_agent() {
        let ad: agentlens_crds::AgentDeployment = serde_json::from_value(serde_json::json!({
            "apiVersion": "agentlens.dev/v1alpha1", "kind": "AgentDeployment",
            "metadata": {"name": "demo", "namespace": "agents"},
            "spec": {
                "selector": {"matchLabels": {"app": "demo"}},
                "agents": [
                    {"name": "planner", "container": "planner"},
                    {"name": "critic", "container": "critic", "selector": {"matchLabels": {"tier": "review"}}},
                    {"name": "reviewer", "selector": {"matchLabels": {"tier": "review"}}}
                ]
            }
        }))
        .unwrap();
        let demo = labels(&[("app", "demo")]);
        let review = labels(&[("app", "demo"), ("tier", "review")]);
        // (pod labels, container, the agent)
        let cases = [
            (&demo, Some("planner"), "planner"),
            (&review, Some("planner"), "planner"),
            (&demo, Some("model-server"), "demo"),
            (&demo, None, "demo"),
            // The critic's container only in the critic's pods.
            (&demo, Some("critic"), "demo"),
            (&review, Some("critic"), "critic"),
            // The other containers of those pods: the agent naming no container.
            (&review, Some("sidecar-helper"), "reviewer"),
            (&review, None, "reviewer"),
        ];
        for (pod, container, want) in cases {
            assert_eq!(
                agent_name(&ad, pod, container),
                want,
                "{pod:?} {container:?}"
            );
        }
    }
}
