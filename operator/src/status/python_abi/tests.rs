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
/// or, with `note`, as a sidecar of another user than the app's sees it.
fn without_layout(note: Option<&str>) -> Snapshot {
    let mut s = snap(MATCH);
    for i in &mut s.inventory {
        i.auto_instrument = None;
        i.notes.extend(note.map(String::from));
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
                ("researcher-0", without_layout(None)),
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
    // The note the inventory writes when the app's processes are another user's.
    let denied = without_layout(Some("process 7: permission denied"));
    assert_eq!(
        message(vec![("planner-0", snap(MATCH)), ("researcher-0", denied)]),
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
