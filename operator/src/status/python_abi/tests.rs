use agentlens_crds::snapshot::ProcessReads;

use super::*;
use crate::status::telemetry::tests::{ad, pod, pods};

/// What the built sidecar served (`sidecar/tests/autoinstrument_abi.rs`, see
/// `crds/tests/fixtures/README.md`): the agent venv's CPython 3.11 over the cp311 layout; over
/// the same layout whose `.python-abi` alone says cp312; pyenv's CPython 3.12.1 over the cp311
/// layout.
const MATCH: &str =
    include_str!("../../../../crds/tests/fixtures/snapshot-autoinstrument-match.json");
const LAYOUT_SAYS_CP312: &str =
    include_str!("../../../../crds/tests/fixtures/snapshot-autoinstrument-abi-mismatch.json");
const PYTHON_312: &str =
    include_str!("../../../../crds/tests/fixtures/snapshot-autoinstrument-other-python.json");
/// A sidecar without an inventory yet (hand-made, see the README).
const NO_INVENTORY: &str =
    include_str!("../../../../crds/tests/fixtures/snapshot-h200-torch-oom.json");

fn snap(text: &str) -> Snapshot {
    serde_json::from_str(text).unwrap()
}

/// The match fixture with no process running the layout (a launcher that resets `PYTHONPATH`),
/// or, with `denied` of `processes`, as a sidecar of another user than the app's sees it; the
/// notes are empty: the verdict must come from `processReads`, not from their wording.
fn without_layout(processes: u32, denied: u32) -> Snapshot {
    let mut s = snap(MATCH);
    for i in &mut s.inventory {
        i.auto_instrument = None;
        i.notes.clear();
        i.process_reads = ProcessReads {
            processes,
            denied,
            ..ProcessReads::default()
        };
    }
    s
}

#[test]
fn instrumented_agents_and_their_interpreters_abi() {
    let pods = pods();
    let refs: Vec<&PodFacts> = pods.iter().collect();
    // (case, snapshots by pod, status, reason)
    type Case<'a> = (&'a str, Vec<(&'a str, Snapshot)>, bool, &'a str);
    let cases: Vec<Case> = vec![
        ("no_snapshot_yet", vec![], false, "NotYetObserved"),
        (
            "every_agent_matches",
            vec![("planner-0", snap(MATCH)), ("researcher-0", snap(MATCH))],
            false,
            "PythonABIMatches",
        ),
        (
            "python_3_12_under_the_cp311_layout",
            vec![
                ("planner-0", snap(MATCH)),
                ("researcher-0", snap(PYTHON_312)),
            ],
            true,
            "PythonABIMismatch",
        ),
        (
            "layout_says_cp312_on_one_replica",
            vec![
                ("planner-0", snap(MATCH)),
                ("planner-1", snap(LAYOUT_SAYS_CP312)),
                ("researcher-0", snap(MATCH)),
            ],
            true,
            "PythonABIMismatch",
        ),
        (
            "researcher_not_inventoried_yet",
            vec![
                ("planner-0", snap(MATCH)),
                ("researcher-0", snap(NO_INVENTORY)),
            ],
            false,
            "NotYetObserved",
        ),
        (
            "researcher_runs_no_python_with_the_layout",
            vec![
                ("planner-0", snap(MATCH)),
                ("researcher-0", without_layout(1, 0)),
            ],
            false,
            "NotYetObserved",
        ),
    ];
    for (case, snaps, status, reason) in cases {
        let snaps: BTreeMap<String, Snapshot> =
            snaps.into_iter().map(|(p, s)| (p.to_string(), s)).collect();
        let got = condition(&ad(), &refs, &snaps).map(|c| (c.status, c.reason));
        assert_eq!(got, Some((status, reason)), "{case}");
    }
    // A system whose pods are not instrumented has no such condition.
    assert_eq!(condition(&ad(), &[&pods[3]], &BTreeMap::new()), None);
}

#[test]
fn the_message_names_each_agent_and_what_was_seen() {
    let pods = [
        pod("planner-0", "planner", true),
        pod("planner-1", "planner", true),
        pod("researcher-0", "researcher", true),
    ];
    let refs: Vec<&PodFacts> = pods.iter().collect();
    let message = |snaps: Vec<(&str, Snapshot)>| {
        let snaps: BTreeMap<String, Snapshot> =
            snaps.into_iter().map(|(p, s)| (p.to_string(), s)).collect();
        condition(&ad(), &refs, &snaps).unwrap().message
    };
    assert_eq!(
        message(vec![
            ("planner-1", snap(PYTHON_312)),
            ("researcher-0", snap(MATCH))
        ]),
        "instrumentation built for another CPython (its version-specific compiled modules are not imported): \
         planner (pod planner-1, container main: interpreter cp312, layout cp311); \
         other instrumented agents: researcher (cp311, instrumentation loaded in 1 of 1 processes)"
    );
    assert_eq!(
        message(vec![
            ("planner-0", snap(MATCH)),
            ("planner-1", snap(MATCH)),
            ("researcher-0", snap(MATCH))
        ]),
        "every instrumented agent's interpreter matches its layout's ABI: \
         planner (cp311, instrumentation loaded in 2 of 2 processes), \
         researcher (cp311, instrumentation loaded in 1 of 1 processes)"
    );
    // A sidecar of another user than the app's: said by `processReads`, its notes empty.
    assert_eq!(
        message(vec![
            ("planner-0", snap(MATCH)),
            ("researcher-0", without_layout(1, 1))
        ]),
        "no ABI mismatch seen; instrumented agents not identified yet: \
         researcher (its sidecar may not read the app's processes: permission denied); \
         matching: planner (cp311, instrumentation loaded in 1 of 1 processes)"
    );
    assert_eq!(
        message(vec![("planner-0", snap(MATCH))]),
        "no ABI mismatch seen; instrumented agents not identified yet: \
         researcher (no snapshot from its sidecars yet); \
         matching: planner (cp311, instrumentation loaded in 1 of 1 processes)"
    );
}

#[test]
fn a_denied_read_comes_from_the_structured_field_not_the_notes() {
    let pods = [pod("researcher-0", "researcher", true)];
    let refs: Vec<&PodFacts> = pods.iter().collect();
    let denied = "researcher (its sidecar may not read the app's processes: permission denied)";
    let no_layout = "researcher (no Python process runs with the layout on PYTHONPATH)";
    let not_identified = "researcher (the interpreter or the layout's ABI is not identified yet)";
    let twelve_notes: Vec<String> = (0..12).map(|n| format!("/srv/{n}: unreadable")).collect();
    // (case, processReads (processes, denied, gone, failed), notes, whether the layout was
    // seen (without an identified interpreter), the researcher's verdict)
    type Case<'a> = (&'a str, (u32, u32, u32, u32), Vec<String>, bool, &'a str);
    let cases: Vec<Case> = vec![
        ("denied_notes_empty", (2, 2, 0, 0), vec![], false, denied),
        ("one_of_three_denied", (3, 1, 0, 0), vec![], false, denied),
        // The notes are bounded (10) and worded for people: the field alone decides.
        (
            "denied_notes_cut_off",
            (1, 1, 0, 0),
            twelve_notes,
            false,
            denied,
        ),
        (
            "denied_notes_reworded",
            (1, 1, 0, 0),
            vec!["process 7: EACCES".into()],
            false,
            denied,
        ),
        (
            "a_note_that_says_it_but_every_read_worked",
            (1, 0, 0, 0),
            vec!["process 7: permission denied".into()],
            false,
            no_layout,
        ),
        ("gone_is_not_denied", (1, 0, 1, 0), vec![], false, no_layout),
        (
            // Not denied, and not "no layout" either: an unreadable environment hides it.
            "failed_is_not_denied",
            (1, 0, 0, 1),
            vec![],
            false,
            not_identified,
        ),
        ("an_older_sidecar", (0, 0, 0, 0), vec![], false, no_layout),
        (
            "layout_seen_maps_denied",
            (1, 1, 0, 0),
            vec![],
            true,
            denied,
        ),
        (
            "layout_seen_all_read",
            (1, 0, 0, 0),
            vec![],
            true,
            not_identified,
        ),
    ];
    for (case, (processes, denied, gone, failed), notes, layout, want) in cases {
        let mut s = snap(MATCH);
        for i in &mut s.inventory {
            i.notes = notes.clone();
            i.process_reads = ProcessReads {
                processes,
                denied,
                gone,
                failed,
            };
            if layout {
                // The layout on PYTHONPATH, the interpreter not identified.
                let a = i.auto_instrument.as_mut().unwrap();
                a.unidentified = a.processes();
                a.interpreters.clear();
            } else {
                i.auto_instrument = None;
            }
        }
        let snaps = BTreeMap::from([("researcher-0".to_string(), s)]);
        let c = condition(&ad(), &refs, &snaps).unwrap();
        assert_eq!((c.status, c.reason), (false, "NotYetObserved"), "{case}");
        assert!(c.message.ends_with(want), "{case}: {}", c.message);
    }
}

/// Two agents sharing a pod as containers (`agents[].container`): each container's verdict is
/// its agent's, named once, never repeated for the pod's other agent.
#[test]
fn each_pod_and_container_verdict_is_named_once() {
    // The two-agent system, its second agent a container of the planner's pods.
    let mut shared = ad();
    let tools = &mut shared.spec.agents[1];
    tools.name = "tools".into();
    tools.selector = None;
    tools.container = Some("tools".into());
    let mut p = pod("planner-0", "planner", true);
    p.images = vec![
        ("main".into(), "agent:1".into(), None),
        ("tools".into(), "tools:1".into(), None),
    ];
    let refs = [&p];
    /// The pod's snapshot: containers `main` and `tools` as in the fixtures (`None`: no Python
    /// process with the layout), `tools` unreadable to the sidecar when `tools_denied`.
    fn two(main: Option<&str>, tools: Option<&str>, tools_denied: bool) -> Snapshot {
        let digest = |text: Option<&str>, name: &str| {
            let mut i = snap(text.unwrap_or(MATCH)).inventory.remove(0);
            i.container = name.into();
            if text.is_none() {
                i.auto_instrument = None;
            }
            i.process_reads.processes = 1;
            i
        };
        let mut s = snap(MATCH);
        let mut t = digest(tools, "tools");
        if tools_denied {
            t.process_reads.denied = 1;
        }
        s.inventory = vec![digest(main, "main"), t];
        s
    }
    let mismatch =
        |c: &str| format!("pod planner-0, container {c}: interpreter cp312, layout cp311");
    // (case, snapshot, status, message)
    let cases: Vec<(&str, Option<Snapshot>, bool, String)> = vec![
        (
            "mismatch_in_main_is_the_planners_alone",
            Some(two(Some(PYTHON_312), None, false)),
            true,
            format!(
                "instrumentation built for another CPython (its version-specific compiled modules are not imported): \
                 planner ({}); other instrumented agents: \
                 tools (no Python process runs with the layout on PYTHONPATH)",
                mismatch("main")
            ),
        ),
        (
            "both_containers_mismatched",
            Some(two(Some(PYTHON_312), Some(PYTHON_312), false)),
            true,
            format!(
                "instrumentation built for another CPython (its version-specific compiled modules are not imported): \
                 planner ({}), tools ({})",
                mismatch("main"),
                mismatch("tools")
            ),
        ),
        (
            "each_its_own_match",
            Some(two(Some(MATCH), Some(MATCH), false)),
            false,
            "every instrumented agent's interpreter matches its layout's ABI: \
             planner (cp311, instrumentation loaded in 1 of 1 processes), \
             tools (cp311, instrumentation loaded in 1 of 1 processes)"
                .into(),
        ),
        (
            "no_snapshot_names_the_pods_agents_together",
            None,
            false,
            "no ABI mismatch seen; instrumented agents not identified yet: \
             planner and tools (no snapshot from its sidecars yet)"
                .into(),
        ),
        (
            "tools_denied_planner_matches",
            Some(two(Some(MATCH), None, true)),
            false,
            "no ABI mismatch seen; instrumented agents not identified yet: \
             tools (its sidecar may not read the app's processes: permission denied); \
             matching: planner (cp311, instrumentation loaded in 1 of 1 processes)"
                .into(),
        ),
    ];
    for (case, s, status, want) in cases {
        let snaps: BTreeMap<String, Snapshot> = s
            .into_iter()
            .map(|s| ("planner-0".to_string(), s))
            .collect();
        let c = condition(&shared, &refs, &snaps).unwrap();
        assert_eq!(c.status, status, "{case}");
        assert_eq!(c.message, want, "{case}");
        for container in ["main", "tools"] {
            assert!(
                c.message
                    .matches(&format!("container {container}:"))
                    .count()
                    <= 1,
                "{case}: {}",
                c.message
            );
        }
    }

    // A match with processes its sidecar could not read says so.
    let mut s = snap(MATCH);
    s.inventory[0].process_reads = ProcessReads {
        processes: 3,
        denied: 1,
        gone: 1,
        failed: 1,
    };
    let pods = [pod("researcher-0", "researcher", true)];
    let refs: Vec<&PodFacts> = pods.iter().collect();
    let snaps = BTreeMap::from([("researcher-0".to_string(), s)]);
    assert_eq!(
        condition(&ad(), &refs, &snaps).unwrap().message,
        "every instrumented agent's interpreter matches its layout's ABI: \
         researcher (cp311, instrumentation loaded in 1 of 1 processes; \
         2 of its processes not fully readable by its sidecars)"
    );
}
