//! Runtime figures of a system from its sidecars' snapshots and its pods' termination states.

use std::collections::BTreeMap;

use agentlens_crds::Snapshot;
use agentlens_crds::agentdeployment_status::{RuntimeStatus, TracebackRef};
use k8s_openapi::api::core::v1::Pod;

/// Containers the kernel killed for memory, counted from each container's last termination
/// (and the current one of a terminated container).
pub fn oom_kills(pods: &[&Pod]) -> u64 {
    pods.iter()
        .flat_map(|p| {
            p.status
                .iter()
                .flat_map(|s| s.container_statuses.iter().flatten())
        })
        .map(|cs| {
            let last = cs.last_state.as_ref().and_then(|s| s.terminated.as_ref());
            let now = cs.state.as_ref().and_then(|s| s.terminated.as_ref());
            [last, now]
                .into_iter()
                .flatten()
                .filter(|t| t.reason.as_deref() == Some("OOMKilled"))
                .count() as u64
        })
        .sum()
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
    let has_gpu = !gpus.is_empty();
    RuntimeStatus {
        gpu_memory_used_bytes: has_gpu.then(|| gpus.values().map(|v| v.0).sum()),
        gpu_memory_total_bytes: has_gpu.then(|| gpus.values().map(|v| v.1).sum()),
        rss_bytes: (!snapshots.is_empty()).then_some(rss),
        latency_p50_seconds: None,
        latency_p95_seconds: None,
        latency_p99_seconds: None,
        tracebacks,
        last_traceback: last,
        gpu_oom_events: ooms,
        oom_kills,
        updated_at: None,
    }
}
