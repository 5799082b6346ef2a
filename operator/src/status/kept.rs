//! What the status computation reads of a sidecar snapshot. The controller keeps each system's
//! last snapshots between pulls (`controller::live`); it keeps them reduced by [`reduce`], which
//! empties what no status field, condition or maturity check reads (prompt texts, OOM reports,
//! traceback messages, GPU process lists, pod identity, …), so a kept snapshot is a fraction of
//! the pulled one and its size no longer grows with the texts the sidecars capture. The status
//! computed from the reduced snapshots is the one computed from the full ones
//! (`tests/kept_snapshots.rs` checks it on every fixture and the bench's real sidecars).

use agentlens_crds::Snapshot;
use agentlens_crds::text;

/// Inventory notes the status shows per row ([`super::inventory::rows`]), and their length.
const NOTES: usize = 5;
const NOTE_BYTES: usize = 1024;
/// Served model artifacts the status lists per row.
const SERVED: usize = 20;
/// What [`super::python_abi`] looks for in any inventory note.
const DENIED: &str = "permission denied";

/// `s` without what the status does not read. Fields are emptied in place, so a field added
/// to [`Snapshot`] later is kept until it is listed here.
pub fn reduce(mut s: Snapshot) -> Snapshot {
    s.sidecar_version = String::new();
    s.pod = None;
    // GPU: the state and its reason (OBS-4), the devices' memory by UUID (runtime).
    s.gpu.driver_version = None;
    s.gpu.attribution = None;
    s.gpu.processes = Vec::new();
    s.gpu.xid_errors = Vec::new();
    for d in &mut s.gpu.devices {
        d.name = String::new();
    }
    // The OOM events are counted per container (`containers[].gpuOomEvents`); the reports are
    // not shown.
    s.gpu_oom_events = Vec::new();
    // Tracebacks: counted, and the newest one named by exception, container and time.
    for t in &mut s.tracebacks {
        t.fingerprint = String::new();
        t.language = String::new();
        t.message = String::new();
    }
    if let Some(g) = &mut s.genai {
        // Prompt templates: by agent and hash (AGT-1); never their text.
        for p in &mut g.prompts {
            p.version = None;
            p.model = None;
            p.text = None;
        }
        for r in &mut g.retrievers {
            r.agent = None;
        }
        // Evaluators: their runs are summed (AGT-5).
        for e in &mut g.evaluators {
            e.name = String::new();
        }
    }
    for i in &mut s.inventory {
        i.models.truncate(SERVED);
        for m in &mut i.models {
            m.format = None;
        }
        i.notes = kept_notes(std::mem::take(&mut i.notes));
        if let Some(a) = &mut i.auto_instrument {
            a.path = String::new();
        }
    }
    // Only the traceback buffers' drops are reported (OBS-2).
    s.dropped.retain(|k, _| k.contains("traceback"));
    s
}

/// The notes a row shows (the first [`NOTES`], cut as the row cuts them), and whether any note
/// says [`DENIED`]: a note cut before those words is kept whole, and a later note that has them
/// leaves the words alone past the shown ones.
fn kept_notes(notes: Vec<String>) -> Vec<String> {
    let denied = notes.iter().any(|n| n.contains(DENIED));
    let mut out: Vec<String> = notes
        .into_iter()
        .take(NOTES)
        .map(|n| {
            let cut = text::truncate(&n, NOTE_BYTES);
            if n.contains(DENIED) && !cut.contains(DENIED) {
                n
            } else {
                cut
            }
        })
        .collect();
    if denied && !out.iter().any(|n| n.contains(DENIED)) {
        out.push(DENIED.to_string());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_keep_what_the_rows_show_and_the_permission_verdict() {
        let long = format!("{} permission denied", "x".repeat(2000));
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
                "the words past the cut keep the note whole",
                vec![long.clone()],
                vec![long.clone()],
            ),
            (
                "a sixth note's words stay as the words",
                (0..6)
                    .map(|i| {
                        if i == 5 {
                            "process 7: permission denied".to_string()
                        } else {
                            format!("n{i}")
                        }
                    })
                    .collect(),
                ["n0", "n1", "n2", "n3", "n4", DENIED]
                    .map(String::from)
                    .to_vec(),
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
}
