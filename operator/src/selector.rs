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
}
