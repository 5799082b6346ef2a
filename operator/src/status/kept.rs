//! What the status computation reads of a sidecar snapshot. The controller keeps each system's
//! last snapshots between pulls (`controller::live`); it keeps them reduced by [`reduce`], which
//! empties what no status field, condition or maturity check reads (prompt texts, OOM reports,
//! traceback messages, GPU process lists, pod identity, …), so a kept snapshot is a fraction of
//! the pulled one and its size no longer grows with the texts the sidecars capture. The status
//! computed from the reduced snapshots is the one computed from the full ones
//! (`tests/kept_snapshots.rs` checks it on every fixture and the bench's real sidecars).

use agentlens_crds::Snapshot;
use agentlens_crds::snapshot::{GenAiSnapshot, InventoryDigest};
use agentlens_crds::text;

/// Inventory notes the status shows per row ([`super::inventory::rows`]), and their length.
const NOTES: usize = 5;
const NOTE_BYTES: usize = 1024;
/// Served model artifacts the status lists per row.
const SERVED: usize = 20;

/// `s` without what the status does not read. Every field of [`Snapshot`], of its GenAI
/// section and of an inventory digest is named below, kept (`_`) or emptied: a field added to
/// those types does not compile here until someone decides whether the status reads it.
pub fn reduce(mut s: Snapshot) -> Snapshot {
    let Snapshot {
        schema_version: _,
        sidecar_version,
        mode: _,
        pod,
        collected_at: _,
        metrics_scraped_at: _,
        gpu,
        containers: _,
        gpu_oom_events,
        tracebacks,
        latency: _,
        agent_graph: _,
        genai,
        inventory,
        dropped,
    } = &mut s;
    sidecar_version.clear();
    *pod = None;
    // GPU: the state and its reason (OBS-4), the devices' memory by UUID (runtime).
    gpu.driver_version = None;
    gpu.attribution = None;
    gpu.processes = Vec::new();
    gpu.xid_errors = Vec::new();
    for d in &mut gpu.devices {
        d.name = String::new();
    }
    // The OOM events are counted per container (`containers[].gpuOomEvents`); the reports are
    // not shown.
    *gpu_oom_events = Vec::new();
    // Tracebacks: counted, and the newest one named by exception, container and time.
    for t in tracebacks.iter_mut() {
        t.fingerprint = String::new();
        t.language = String::new();
        t.message = String::new();
    }
    if let Some(GenAiSnapshot {
        spans: _,
        models: _,
        prompts,
        retrievers,
        guardrails: _,
        evaluators,
    }) = genai
    {
        // Prompt templates: by agent and hash (AGT-1); never their text.
        for p in prompts.iter_mut() {
            p.version = None;
            p.model = None;
            p.text = None;
        }
        for r in retrievers.iter_mut() {
            r.agent = None;
        }
        // Evaluators: their runs are summed (AGT-5).
        for e in evaluators.iter_mut() {
            e.name = String::new();
        }
    }
    for InventoryDigest {
        container: _,
        os: _,
        packages: _,
        digest: _,
        counts: _,
        models,
        collected_at: _,
        notes,
        process_reads: _,
        auto_instrument,
    } in inventory.iter_mut()
    {
        models.truncate(SERVED);
        for m in models.iter_mut() {
            m.format = None;
        }
        *notes = kept_notes(std::mem::take(notes));
        if let Some(a) = auto_instrument {
            a.path = String::new();
        }
    }
    // Only the traceback buffers' drops are reported (OBS-2).
    dropped.retain(|k, _| k.contains("traceback"));
    s
}

/// The notes a row shows: the first [`NOTES`], cut as the row cuts them. (Whether the sidecar
/// may read the app's processes is `processReads`, which is kept whole; no status reads the
/// notes' wording.)
fn kept_notes(notes: Vec<String>) -> Vec<String> {
    notes
        .into_iter()
        .take(NOTES)
        .map(|n| text::truncate(&n, NOTE_BYTES))
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use agentlens_crds::snapshot::ProcessReads;

    #[test]
    fn notes_keep_what_the_rows_show() {
        // (case, notes, kept)
        let cases: Vec<(&str, Vec<String>, Vec<String>)> = vec![
            ("none", vec![], vec![]),
            (
                "short ones stay",
                vec!["a".into(), "b".into()],
                vec!["a".into(), "b".into()],
            ),
            (
                "cut as the row cuts",
                vec!["y".repeat(3000)],
                vec!["y".repeat(NOTE_BYTES)],
            ),
            (
                "later notes go",
                (0..8).map(|i| format!("n{i}")).collect(),
                (0..5).map(|i| format!("n{i}")).collect(),
            ),
        ];
        for (case, notes, want) in cases {
            assert_eq!(kept_notes(notes), want, "{case}");
        }
    }

    #[test]
    fn whether_the_sidecar_may_read_the_processes_is_kept_whatever_the_notes_say() {
        let reads = ProcessReads {
            processes: 3,
            denied: 2,
            gone: 1,
            failed: 0,
        };
        let mut s: Snapshot = serde_json::from_str(include_str!(
            "../../../crds/tests/fixtures/snapshot-autoinstrument-match.json"
        ))
        .unwrap();
        s.inventory = vec![InventoryDigest {
            notes: (0..8).map(|i| format!("note {i}")).collect(),
            process_reads: reads,
            ..InventoryDigest::default()
        }];
        let kept = reduce(s);
        assert_eq!(kept.inventory[0].process_reads, reads);
        assert_eq!(kept.inventory[0].notes.len(), NOTES);
    }
}
