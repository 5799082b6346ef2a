//! Runtime figures of a system from its sidecars' snapshots and its pods' termination states.

use std::collections::BTreeMap;

use agentlens_crds::Snapshot;
use agentlens_crds::agentdeployment_status::{RuntimeStatus, TracebackRef};

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
        updated_at: None,
    }
}
