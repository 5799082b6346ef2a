//! The controller keeps each system's sidecar snapshots between pulls reduced to what the status
//! reads (`status::kept::reduce`) and encoded (`controller::live`). The statuses computed from
//! the kept snapshots must be the ones computed from the snapshots as pulled: checked here
//! through `dump::statuses` (the status code path of the controller and of `status --from`) for
//! every observed system — the three examples with their observed snapshots
//! (`observed/mod.rs`), the invoice-rpa dump and an auto-instrumented two-agent system with
//! every snapshot fixture on every pod (`crds/tests/fixtures`, and what `make bench`'s three real
//! sidecars served, `data/snapshots`) — each as pulled and with the texts the status never shows
//! made large, on a first reconcile and on one after an inventory change.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod observed;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use agentlens_crds::snapshot::GpuOomEvent;
use agentlens_crds::{AgentDeployment, Snapshot};
use agentlens_operator::controller::live::{Kept, LiveFigures};
use agentlens_operator::dump::{self, Dump};
use agentlens_operator::inject::{Decision, InjectConfig, decide};
use agentlens_operator::status::kept::reduce;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serde_json::{Value, json};

const FIXTURES: &[(&str, &str)] = &[
    (
        "snapshot-h200-torch-oom",
        include_str!("../../crds/tests/fixtures/snapshot-h200-torch-oom.json"),
    ),
    (
        "snapshot-otlp-two-agents",
        include_str!("../../crds/tests/fixtures/snapshot-otlp-two-agents.json"),
    ),
    (
        "snapshot-autoinstrument-match",
        include_str!("../../crds/tests/fixtures/snapshot-autoinstrument-match.json"),
    ),
    (
        "snapshot-autoinstrument-abi-mismatch",
        include_str!("../../crds/tests/fixtures/snapshot-autoinstrument-abi-mismatch.json"),
    ),
    (
        "snapshot-autoinstrument-other-python",
        include_str!("../../crds/tests/fixtures/snapshot-autoinstrument-other-python.json"),
    ),
    (
        "bench-sidecar-venv",
        include_str!("data/snapshots/bench-sidecar-venv.json"),
    ),
    (
        "bench-sidecar-openlit",
        include_str!("data/snapshots/bench-sidecar-openlit.json"),
    ),
    (
        "bench-sidecar-openinference",
        include_str!("data/snapshots/bench-sidecar-openinference.json"),
    ),
];

fn now() -> Time {
    Time(observed::NOW.parse().unwrap())
}

/// The snapshots as the controller hands them to the status after a reuse: reduced when
/// pulled, kept, decoded.
fn kept(snaps: &BTreeMap<String, Snapshot>) -> BTreeMap<String, Snapshot> {
    let live = LiveFigures::default();
    let (key, at, interval) = (
        ("ns".to_string(), "system".to_string()),
        Instant::now(),
        Duration::from_secs(60),
    );
    let reduced = snaps
        .iter()
        .map(|(p, s)| (p.clone(), reduce(s.clone())))
        .collect();
    live.put(key.clone(), at, &reduced, interval);
    let out = live.fresh(&key, at, interval).unwrap();
    assert_eq!(out, reduced, "kept as put");
    out
}

/// What the status never shows, made large: prompt texts, OOM reports, traceback messages,
/// inventory notes past the shown ones, served artifacts past the listed ones.
fn bulky(mut s: Snapshot) -> Snapshot {
    let text = "x".repeat(16 * 1024);
    for t in &mut s.tracebacks {
        t.message = format!("{}{text}", t.message);
    }
    let report: GpuOomEvent = serde_json::from_value(json!({
        "container": "main", "source": "log", "at": s.collected_at, "message": text,
        "requestedBytes": 1u64 << 30, "gpuIndex": 0, "framework": "pytorch"
    }))
    .unwrap();
    s.gpu_oom_events.extend(std::iter::repeat_n(report, 50));
    if let Some(g) = s.genai.as_mut() {
        for p in &mut g.prompts {
            p.text = Some(text.clone());
        }
    }
    for i in &mut s.inventory {
        i.notes.extend((0..6).map(|n| format!("note {n}: {text}")));
        i.notes.push("process 4711: permission denied".into());
        if let Some(m) = i.models.first().cloned() {
            i.models.extend((0..30).map(|n| {
                let mut m = m.clone();
                m.path = format!("{}/{n}", m.path);
                m
            }));
        }
    }
    s.dropped.insert("logLines".into(), 12);
    s.dropped.insert("tracebackLines".into(), 3);
    s
}

/// Where two documents first differ, and how (statuses are long: the whole of both would
/// bury it).
fn first_difference(at: &str, kept: &Value, full: &Value) -> String {
    match (kept, full) {
        (Value::Object(a), Value::Object(b)) => a
            .keys()
            .chain(b.keys())
            .find_map(|k| {
                let (x, y) = (
                    a.get(k).unwrap_or(&Value::Null),
                    b.get(k).unwrap_or(&Value::Null),
                );
                (x != y).then(|| first_difference(&format!("{at}/{k}"), x, y))
            })
            .unwrap_or_default(),
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => a
            .iter()
            .zip(b)
            .enumerate()
            .find_map(|(i, (x, y))| (x != y).then(|| first_difference(&format!("{at}/{i}"), x, y)))
            .unwrap_or_default(),
        _ => {
            let cut = |v: &Value| v.to_string().chars().take(300).collect::<String>();
            format!(
                "{at}: from the kept snapshots {}, from the pulled ones {}",
                cut(kept),
                cut(full)
            )
        }
    }
}

/// Every AgentDeployment's status from `snaps` and from their kept form; equal, on a first
/// reconcile and on one whose previous statuses record another inventory (so the rows date a
/// change and list what the counts say).
fn assert_same(case: &str, d: &mut Dump, snaps: &BTreeMap<String, Snapshot>) {
    let key = Some(&[7u8; 32][..]);
    let kept = kept(snaps);
    let full = dump::statuses(d, snaps, key, &now()).unwrap();
    let from_kept = dump::statuses(d, &kept, key, &now()).unwrap();
    assert!(
        from_kept == full,
        "{case}: first reconcile: {}",
        first_difference("", &from_kept, &full)
    );
    let previous = agentlens_tests::agent_deployments(full["items"].as_array().unwrap()).unwrap();
    let saved = std::mem::replace(&mut d.agent_deployments, previous);
    for ad in &mut d.agent_deployments {
        for row in &mut ad.status.as_mut().unwrap().inventory {
            row.digest = Some("sha256:an-earlier-image".into());
            row.counts.insert("deb".into(), 1);
        }
    }
    let later = Time("2026-11-27T10:00:00Z".parse().unwrap());
    let full = dump::statuses(d, snaps, key, &later).unwrap();
    let from_kept = dump::statuses(d, &kept, key, &later).unwrap();
    assert!(
        from_kept == full,
        "{case}: after an inventory change: {}",
        first_difference("", &from_kept, &full)
    );
    d.agent_deployments = saved;
}

/// `s` on every pod of `d`, its containers and inventories renamed to the pod's first one.
fn on_every_pod(d: &Dump, s: &Snapshot) -> BTreeMap<String, Snapshot> {
    d.pods
        .iter()
        .map(|p| {
            let container = p.spec.as_ref().unwrap().containers[0].name.clone();
            let mut s = s.clone();
            for c in &mut s.containers {
                c.name.clone_from(&container);
            }
            for i in &mut s.inventory {
                i.container.clone_from(&container);
            }
            (p.metadata.name.clone().unwrap(), s)
        })
        .collect()
}

/// The example systems as observed running: their objects, pods and sidecar snapshots.
fn examples() -> Vec<(String, Dump, BTreeMap<String, Snapshot>)> {
    observed::systems::EXAMPLES
        .into_iter()
        .map(|example| {
            let (text, snaps) = observed::systems::example_observed(example);
            (example.to_string(), dump::read(&text).unwrap(), snaps)
        })
        .collect()
}

/// Two agents' pods admitted by the webhook with the zero-code instrumentation on, so the
/// telemetry and Python ABI conditions read their snapshots.
fn instrumented() -> Dump {
    let ad = json!({
        "apiVersion": "agentlens.dev/v1alpha1", "kind": "AgentDeployment",
        "metadata": {"name": "research-desk", "namespace": "agents", "generation": 1},
        "spec": {
            "selector": {"matchLabels": {"app.kubernetes.io/part-of": "research-desk"}},
            "sidecar": {"otlp": {"enabled": true, "autoInstrument": {"provider": "opentelemetry"}}},
            "agents": [
                {"name": "planner", "selector": {"matchLabels": {"app.kubernetes.io/name": "planner"}}},
                {"name": "researcher", "selector": {"matchLabels": {"app.kubernetes.io/name": "researcher"}}}
            ]
        }
    });
    let typed: AgentDeployment = serde_json::from_value(ad.clone()).unwrap();
    let pod = |agent: &str| {
        let mut pod = json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {
                "name": format!("{agent}-6d4b9c7f5-x2k8q"), "namespace": "agents",
                "labels": {"app.kubernetes.io/name": agent, "app.kubernetes.io/part-of": "research-desk"}
            },
            "spec": {"containers": [{"name": "agent", "image": "python:3.11-slim"}]}
        });
        let Decision::Inject { patch, .. } = decide(
            &pod,
            "agents",
            std::slice::from_ref(&typed),
            &InjectConfig::default(),
        )
        .unwrap() else {
            panic!("{agent} not injected");
        };
        let patch: json_patch::Patch = serde_json::from_value(patch).unwrap();
        json_patch::patch(&mut pod, &patch).unwrap();
        pod["status"] =
            json!({"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]});
        pod
    };
    let list = json!({"apiVersion": "v1", "kind": "List",
        "items": [ad, pod("planner"), pod("researcher")]});
    dump::read(&list.to_string()).unwrap()
}

#[test]
fn the_kept_snapshots_give_every_observed_system_the_status_the_pulled_ones_give() {
    let mut systems = Vec::new();
    for (example, mut d, snaps) in examples() {
        assert!(!snaps.is_empty(), "{example}: observed snapshots");
        assert_same(&example, &mut d, &snaps);
        let heavy = snaps.into_iter().map(|(p, s)| (p, bulky(s))).collect();
        assert_same(&format!("{example}, bulky"), &mut d, &heavy);
        systems.push((example, d));
    }
    systems.push((
        "invoice-rpa dump".into(),
        dump::read(include_str!("data/dumps/invoice-rpa.yaml")).unwrap(),
    ));
    systems.push(("instrumented".into(), instrumented()));
    // Every fixture on every pod: GPU pods whose sidecar has no GPU, instrumented pods with and
    // without spans or a layout, pods with and without an inventory.
    for (system, mut d) in systems {
        for (fixture, text) in FIXTURES {
            let s: Snapshot = serde_json::from_str(text).unwrap();
            let case = format!("{system}, {fixture}");
            let (plain, heavy) = (on_every_pod(&d, &s), on_every_pod(&d, &bulky(s)));
            assert_same(&case, &mut d, &plain);
            assert_same(&format!("{case}, bulky"), &mut d, &heavy);
        }
    }
}

#[test]
fn a_kept_snapshot_is_a_fraction_of_the_pulled_one_and_bounded_by_what_the_status_shows() {
    for (fixture, text) in FIXTURES {
        let s: Snapshot = serde_json::from_str(text).unwrap();
        let pulled = serde_json::to_vec(&s).unwrap().len();
        let kept = Kept::new(&reduce(s.clone())).bytes();
        assert!(kept < pulled, "{fixture}: {kept} of {pulled} bytes");
        // The texts the status never shows do not reach what is kept.
        let heavy = bulky(s);
        let heavy_pulled = serde_json::to_vec(&heavy).unwrap().len();
        let heavy_kept = Kept::new(&reduce(heavy)).bytes();
        assert!(
            heavy_kept <= kept + 21 * 1024,
            "{fixture}: {heavy_kept} bytes kept of {heavy_pulled} pulled (plain: {kept})"
        );
    }
}
