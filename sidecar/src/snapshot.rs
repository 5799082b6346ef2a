//! Assembling the `/v1/snapshot` document from the latest sample and the observations.

use agentlens_crds::snapshot::{
    ContainerSnapshot, GpuOomEvent, InventoryDigest, ModelArtifactSeen, OomSource,
    SNAPSHOT_SCHEMA_VERSION, Snapshot, TracebackGroup,
};

pub use crate::clock::time;
use crate::shared::Shared;

/// Most traceback groups and OOM events in one snapshot (the rest stay available through
/// `/v1/tracebacks`).
pub const SNAPSHOT_LIST_LIMIT: usize = 50;

/// Digest, counts and models of each container's latest inventory.
fn inventory_digests(shared: &Shared) -> Vec<InventoryDigest> {
    shared
        .inventories()
        .values()
        .map(|inv| InventoryDigest {
            container: inv.container.clone(),
            os: inv
                .os
                .as_ref()
                .map(|o| o.pretty_name.clone().unwrap_or_else(|| o.id.clone())),
            packages: u32::try_from(inv.package_count()).unwrap_or(u32::MAX),
            digest: inv.digest().to_string(),
            counts: inv.counts(),
            models: inv
                .models
                .iter()
                .map(|m| ModelArtifactSeen {
                    path: m.path.clone(),
                    fingerprint: m.fingerprint.clone(),
                    name: m.name.clone(),
                    format: m.format.clone(),
                    bytes: m.bytes,
                })
                .collect(),
            collected_at: Some(time(inv.collected_ms)),
            notes: inv.notes.iter().take(10).cloned().collect(),
            process_reads: inv.process_reads,
            auto_instrument: inv.auto_instrument.clone(),
        })
        .collect()
}

/// The snapshot as of now.
pub fn build(shared: &Shared) -> Snapshot {
    let sample = shared.sample();
    let mut containers: Vec<ContainerSnapshot> = Vec::new();
    let obs = shared.observations();
    {
        let mut names: std::collections::BTreeSet<&String> = sample.containers.keys().collect();
        names.extend(obs.containers().keys());
        for name in names {
            let p = sample.containers.get(name).cloned().unwrap_or_default();
            let l = obs.containers().get(name).cloned().unwrap_or_default();
            containers.push(ContainerSnapshot {
                name: name.clone(),
                processes: p.processes,
                rss_bytes: p.rss_bytes,
                cpu_seconds: p.cpu_seconds,
                stdout_lines: l.stdout_lines,
                stderr_lines: l.stderr_lines + l.file_lines,
                tracebacks: l.tracebacks,
                gpu_oom_events: l.gpu_oom_events,
                logs_unavailable_reason: l.unavailable_reason.clone(),
            });
        }
    }
    let tracebacks = obs
        .groups()
        .into_iter()
        .take(SNAPSHOT_LIST_LIMIT)
        .map(|g| TracebackGroup {
            fingerprint: g.fingerprint.clone(),
            language: g.language.to_string(),
            exception: g.exception.clone(),
            message: g.message.clone(),
            container: g.container.clone(),
            count: g.count,
            first_at: time(g.first_ms),
            last_at: time(g.last_ms),
        })
        .collect();
    let ooms: Vec<_> = obs.ooms().collect();
    let gpu_oom_events = ooms
        .iter()
        .skip(ooms.len().saturating_sub(SNAPSHOT_LIST_LIMIT))
        .map(|o| GpuOomEvent {
            container: o.container.clone(),
            source: if o.source == "otlp" {
                OomSource::Otlp
            } else {
                OomSource::Log
            },
            at: time(o.at_ms),
            message: o.message.clone(),
            requested_bytes: o.requested_bytes,
            gpu_index: o.gpu_index,
            framework: Some(o.framework.to_string()),
        })
        .collect();
    let mut dropped: std::collections::BTreeMap<String, u64> = obs
        .dropped()
        .iter()
        .map(|(k, v)| ((*k).to_string(), *v))
        .collect();
    let (genai, agent_graph) = match shared.genai.get().map(|g| g.view()) {
        Some(view) => {
            for (k, v) in &view.dropped {
                dropped.insert((*k).to_string(), *v);
            }
            (Some(view.genai.clone()), view.agent_graph.clone())
        }
        None => (None, Vec::new()),
    };
    Snapshot {
        schema_version: SNAPSHOT_SCHEMA_VERSION,
        sidecar_version: crate::VERSION.to_string(),
        mode: shared.mode,
        pod: shared.pod.clone(),
        collected_at: time(if sample.at_ms > 0 {
            sample.at_ms
        } else {
            crate::clock::now_ms()
        }),
        metrics_scraped_at: match shared
            .last_scrape_ms
            .load(std::sync::atomic::Ordering::Relaxed)
        {
            0 => None,
            ms => Some(time(ms)),
        },
        gpu: sample.gpu.clone(),
        containers,
        gpu_oom_events,
        tracebacks,
        latency: shared.latency.summary(),
        agent_graph,
        genai,
        inventory: inventory_digests(shared),
        dropped,
    }
}
