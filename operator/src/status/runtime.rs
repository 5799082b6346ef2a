//! Runtime figures of a system from its sidecars' snapshots and its pods' termination states.

use std::collections::BTreeMap;

use agentlens_crds::Snapshot;
use agentlens_crds::agentdeployment_status::{ModelTokens, RuntimeStatus, TracebackRef};
use agentlens_crds::common::STATUS_LIST_LIMIT;

/// Containers the kernel killed for memory, over `pods`.
pub fn oom_kills(pods: &[&super::PodFacts]) -> u64 {
    pods.iter().map(|p| p.oom_kills).sum()
}

/// Merges the snapshots of the system's pods (pod name → snapshot). GPUs shared by pods on a
/// node are counted once (by UUID).
pub fn merge(snapshots: &BTreeMap<String, Snapshot>, oom_kills: u64) -> RuntimeStatus {
    let mut gpus: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
    let mut rss = 0;
    let mut tracebacks = 0;
    let mut ooms = 0;
    let mut last: Option<TracebackRef> = None;
    for (pod, s) in snapshots {
        for d in &s.gpu.devices {
            let e = gpus.entry(d.uuid.as_str()).or_default();
            e.0 = e.0.max(d.memory_used_bytes);
            e.1 = e.1.max(d.memory_total_bytes);
        }
        for c in &s.containers {
            rss += c.rss_bytes;
            tracebacks += c.tracebacks;
            ooms += c.gpu_oom_events;
        }
        for g in &s.tracebacks {
            if last.as_ref().is_none_or(|l| g.last_at.0 > l.at.0) {
                last = Some(TracebackRef {
                    exception: g.exception.clone(),
                    pod: pod.clone(),
                    container: g.container.clone(),
                    at: g.last_at.clone(),
                });
            }
        }
    }
    let lat: Vec<&agentlens_crds::snapshot::LatencySummary> = snapshots
        .values()
        .filter_map(|s| s.latency.as_ref())
        .collect();
    let (buckets, total) = super::latency::merge(&lat);
    let q = |p| super::latency::quantile(&buckets, total, p);
    let has_gpu = !gpus.is_empty();
    RuntimeStatus {
        gpu_memory_used_bytes: has_gpu.then(|| gpus.values().map(|v| v.0).sum()),
        gpu_memory_total_bytes: has_gpu.then(|| gpus.values().map(|v| v.1).sum()),
        rss_bytes: (!snapshots.is_empty()).then_some(rss),
        latency_p50_seconds: q(0.5),
        latency_p95_seconds: q(0.95),
        latency_p99_seconds: q(0.99),
        tracebacks,
        last_traceback: last,
        gpu_oom_events: ooms,
        oom_kills,
        tokens: Vec::new(),
        updated_at: None,
    }
}

/// Requests and tokens per model over the snapshots' GenAI sections, most tokens first (then by
/// name), cut at [`STATUS_LIST_LIMIT`]; the number left out.
pub fn tokens(snapshots: &BTreeMap<String, Snapshot>) -> (Vec<ModelTokens>, usize) {
    let mut by_model: BTreeMap<&str, ModelTokens> = BTreeMap::new();
    for u in snapshots
        .values()
        .filter_map(|s| s.genai.as_ref())
        .flat_map(|g| &g.models)
    {
        let t = by_model
            .entry(u.model.as_str())
            .or_insert_with(|| ModelTokens {
                model: u.model.clone(),
                ..ModelTokens::default()
            });
        // Counts come from what any process in the pod posted: saturate, never wrap or panic.
        t.requests = t.requests.saturating_add(u.requests);
        t.input_tokens = t.input_tokens.saturating_add(u.input_tokens);
        t.output_tokens = t.output_tokens.saturating_add(u.output_tokens);
    }
    let mut out: Vec<ModelTokens> = by_model.into_values().collect();
    // BTreeMap order is by name, and the sort is stable: equal totals stay by name.
    out.sort_by_key(|t| std::cmp::Reverse(t.input_tokens.saturating_add(t.output_tokens)));
    let omitted = out.len().saturating_sub(STATUS_LIST_LIMIT);
    out.truncate(STATUS_LIST_LIMIT);
    (out, omitted)
}

#[cfg(test)]
mod tests {
    use agentlens_crds::snapshot::{GenAiSnapshot, ModelUsage};

    use super::*;

    fn snap(models: &[(&str, u64, u64, u64)]) -> Snapshot {
        let mut s: Snapshot = serde_json::from_value(serde_json::json!({
            "schemaVersion": 1, "sidecarVersion": "0.1.0", "mode": "serve",
            "collectedAt": "2026-12-05T09:00:00Z", "gpu": {"state": "disabled"}
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        s.genai = Some(GenAiSnapshot {
            models: models
                .iter()
                .map(|&(m, r, i, o)| ModelUsage {
                    model: m.into(),
                    requests: r,
                    input_tokens: i,
                    output_tokens: o,
                })
                .collect(),
            ..GenAiSnapshot::default()
        });
        s
    }

    fn row(model: &str, requests: u64, input: u64, output: u64) -> ModelTokens {
        ModelTokens {
            model: model.into(),
            requests,
            input_tokens: input,
            output_tokens: output,
        }
    }

    #[test]
    fn tokens_are_summed_per_model_over_pods() {
        // (case, snapshots by pod, rows, omitted)
        let many: Vec<(String, u64, u64, u64)> = (0..STATUS_LIST_LIMIT + 3)
            .map(|i| (format!("m{i:02}"), 1, i as u64, 0))
            .collect();
        let many: Vec<(&str, u64, u64, u64)> = many
            .iter()
            .map(|(m, r, i, o)| (m.as_str(), *r, *i, *o))
            .collect();
        let cases: Vec<(&str, Vec<Snapshot>, Vec<ModelTokens>, usize)> = vec![
            ("no_snapshots", vec![], vec![], 0),
            (
                "two_pods_one_model_summed_busiest_first",
                vec![
                    snap(&[("gpt-4o", 2, 62, 14), ("demo-llm", 1, 12, 9)]),
                    snap(&[("demo-llm", 3, 36, 27)]),
                ],
                vec![row("demo-llm", 4, 48, 36), row("gpt-4o", 2, 62, 14)],
                0,
            ),
            (
                "equal_totals_by_name",
                vec![snap(&[("b", 1, 5, 5), ("a", 1, 10, 0)])],
                vec![row("a", 1, 10, 0), row("b", 1, 5, 5)],
                0,
            ),
            ("cut_at_the_limit", vec![snap(&many)], vec![], 3),
        ];
        for (case, snaps, want, omitted) in cases {
            let by_pod: BTreeMap<String, Snapshot> = snaps
                .into_iter()
                .enumerate()
                .map(|(i, s)| (format!("pod-{i}"), s))
                .collect();
            let (got, left) = tokens(&by_pod);
            assert_eq!(left, omitted, "{case}");
            if case == "cut_at_the_limit" {
                assert_eq!(got.len(), STATUS_LIST_LIMIT, "{case}");
                assert_eq!(got[0].model, format!("m{:02}", STATUS_LIST_LIMIT + 2));
            } else {
                assert_eq!(got, want, "{case}");
            }
        }
    }
}
