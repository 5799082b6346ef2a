//! The system's agent-to-agent call graph from its pods' snapshots: calls and errors summed,
//! latency histograms merged bucket by bucket (never averaged percentiles), busiest edges first.

use std::collections::BTreeMap;

use agentlens_crds::common::AgentEdge;
use agentlens_crds::snapshot::{LatencySummary, Snapshot};

use super::latency;

/// Merges the edges of `snapshots`; without any snapshot the previous graph stays (the operator
/// has not heard from the sidecars, which says nothing about the traffic).
pub fn merge<'a>(
    snapshots: impl IntoIterator<Item = &'a Snapshot>,
    previous: Option<&[AgentEdge]>,
    limit: usize,
) -> (Vec<AgentEdge>, usize) {
    let mut any = false;
    let mut edges: BTreeMap<(String, String), Vec<LatencySummary>> = BTreeMap::new();
    let mut counts: BTreeMap<(String, String), (u64, u64)> = BTreeMap::new();
    for s in snapshots {
        any = true;
        for e in &s.agent_graph {
            let key = (e.from.clone(), e.to.clone());
            let c = counts.entry(key.clone()).or_default();
            c.0 += e.calls;
            c.1 += e.errors;
            edges.entry(key).or_default().push(LatencySummary {
                requests: e.calls,
                buckets: e.buckets.clone(),
                ..LatencySummary::default()
            });
        }
    }
    if !any {
        return (previous.map(<[AgentEdge]>::to_vec).unwrap_or_default(), 0);
    }
    let mut out: Vec<AgentEdge> = counts
        .into_iter()
        .map(|(key, (calls, errors))| {
            let hists: Vec<&LatencySummary> = edges
                .get(&key)
                .map(|v| v.iter().collect())
                .unwrap_or_default();
            let (buckets, total) = latency::merge(&hists);
            AgentEdge {
                from: key.0,
                to: key.1,
                calls,
                errors,
                // Milliseconds are plenty and keep status stable across equal histograms.
                latency_p95_seconds: latency::quantile(&buckets, total, 0.95)
                    .map(|q| (q * 1000.0).round() / 1000.0),
            }
        })
        .collect();
    out.sort_by(|a, b| {
        b.calls
            .cmp(&a.calls)
            .then_with(|| (&a.from, &a.to).cmp(&(&b.from, &b.to)))
    });
    let omitted = out.len().saturating_sub(limit);
    out.truncate(limit);
    (out, omitted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use agentlens_crds::snapshot::{LatencyBucket, SnapshotAgentEdge};

    fn snap(edges: Vec<SnapshotAgentEdge>) -> Snapshot {
        let mut s: Snapshot = serde_json::from_value(serde_json::json!({
            "schemaVersion": 1, "sidecarVersion": "0.1.0", "mode": "serve",
            "collectedAt": "2026-11-27T09:00:00Z", "gpu": {"state": "disabled"}
        }))
        .unwrap();
        s.agent_graph = edges;
        s
    }

    fn edge(from: &str, to: &str, calls: u64, errors: u64, b: &[(f64, u64)]) -> SnapshotAgentEdge {
        SnapshotAgentEdge {
            from: from.into(),
            to: to.into(),
            calls,
            errors,
            buckets: b
                .iter()
                .map(|&(le, count)| LatencyBucket { le, count })
                .collect(),
        }
    }

    #[test]
    fn pods_are_summed_and_latency_merged_from_buckets() {
        let a = snap(vec![
            edge("triage", "researcher", 90, 1, &[(1.0, 90), (5.0, 90)]),
            edge("triage", "billing", 5, 0, &[(1.0, 5), (5.0, 5)]),
        ]);
        let b = snap(vec![edge(
            "triage",
            "researcher",
            10,
            2,
            &[(1.0, 0), (5.0, 10)],
        )]);
        let (g, omitted) = merge([&a, &b], None, 50);
        assert_eq!(omitted, 0);
        assert_eq!(g.len(), 2);
        assert_eq!(
            (g[0].to.as_str(), g[0].calls, g[0].errors),
            ("researcher", 100, 3)
        );
        // 95th of 100: 90 under 1 s, 10 in (1, 5] → 1 + 4 * 5/10 = 3 s.
        assert_eq!(g[0].latency_p95_seconds, Some(3.0));
        assert_eq!(g[1].calls, 5);
        let (g, omitted) = merge([&a, &b], None, 1);
        assert_eq!((g.len(), omitted), (1, 1));
    }

    #[test]
    fn without_snapshots_the_previous_graph_stays() {
        let prev = vec![AgentEdge {
            from: "a".into(),
            to: "b".into(),
            calls: 3,
            errors: 0,
            latency_p95_seconds: None,
        }];
        assert_eq!(merge([], Some(&prev), 50).0, prev);
        assert!(merge([&snap(vec![])], Some(&prev), 50).0.is_empty());
    }
}
