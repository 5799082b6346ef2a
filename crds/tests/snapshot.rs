//! The `/v1/snapshot` wire type: what the sidecar writes is what the operator reads.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use agentlens_crds::autoinstrument::AbiEvidence;
use agentlens_crds::snapshot::{
    GpuAttribution, GpuState, OomSource, ProcessReads, SNAPSHOT_SCHEMA_VERSION, SidecarMode,
    Snapshot,
};
use serde_json::Value;

/// A snapshot constructed by hand (not sidecar output; fixtures/README.md says which figures
/// were copied from a real H200 probe and which are invented): a PyTorch process holding
/// 20 GiB, then an uncaught CUDA OOM asking for 100 GiB.
const H200_TORCH_OOM: &str = include_str!("fixtures/snapshot-h200-torch-oom.json");

#[test]
fn h200_torch_oom_snapshot_round_trips_unchanged() {
    let original: Value = serde_json::from_str(H200_TORCH_OOM).unwrap();
    let typed: Snapshot = serde_json::from_value(original.clone()).unwrap();
    let again = serde_json::to_value(&typed).unwrap();
    assert_eq!(original, again);

    assert_eq!(typed.schema_version, SNAPSHOT_SCHEMA_VERSION);
    assert_eq!(typed.mode, SidecarMode::Run);
    assert_eq!(typed.gpu.state, GpuState::Available);
    assert_eq!(typed.gpu.attribution, Some(GpuAttribution::ProcessTree));
    assert_eq!(typed.gpu.devices[0].memory_total_bytes, 150_754_820_096);
    assert_eq!(typed.gpu.processes[0].memory_used_bytes, 22_017_998_848);
    assert_eq!(typed.gpu_oom_events[0].source, OomSource::Log);
    assert_eq!(
        typed.gpu_oom_events[0].requested_bytes,
        Some(100 * 1024 * 1024 * 1024)
    );
}

#[test]
fn snapshot_without_gpu_says_why() {
    let doc = r#"{"schemaVersion":1,"sidecarVersion":"0.1.0","mode":"serve",
        "pod":{"namespace":"invoice-rpa","name":"pdf-parser-7c9d-x2","agent":"invoice-rpa"},
        "collectedAt":"2026-11-27T08:00:00Z",
        "gpu":{"state":"unavailable","reason":"libnvidia-ml.so.1: cannot open shared object file"}}"#;
    let s: Snapshot = serde_json::from_str(doc).unwrap();
    assert_eq!(s.gpu.state, GpuState::Unavailable);
    assert!(s.gpu.devices.is_empty());
    assert!(s.containers.is_empty() && s.dropped.is_empty());
    let back: Snapshot = serde_json::from_value(serde_json::to_value(&s).unwrap()).unwrap();
    assert_eq!(s, back);
}

#[test]
fn a_newer_sidecar_with_extra_fields_is_still_read() {
    // An operator older than its sidecars must keep reading them during a rolling upgrade.
    let mut v: Value = serde_json::from_str(H200_TORCH_OOM).unwrap();
    v["futureField"] = Value::from("ignored");
    v["gpu"]["devices"][0]["temperatureCelsius"] = Value::from(35);
    let s: Snapshot = serde_json::from_value(v).unwrap();
    assert_eq!(
        s.gpu.devices[0].uuid,
        "GPU-2a98b8b8-e285-6d24-ca74-cc623c47f1bd"
    );
}

#[test]
fn a_newer_sidecars_enum_values_read_as_unknown_not_as_an_unreadable_snapshot() {
    // An operator older than its sidecars must keep reading them during a rolling upgrade:
    // a value it does not know is `Unknown`, the rest of the snapshot as written.
    // (case, JSON pointer, what the operator reads back)
    type Check = fn(&Snapshot) -> bool;
    let cases: [(&str, &str, Check); 5] = [
        ("mode", "/mode", |s| s.mode == SidecarMode::Unknown),
        ("gpu_state", "/gpu/state", |s| {
            s.gpu.state == GpuState::Unknown
        }),
        ("gpu_attribution", "/gpu/attribution", |s| {
            s.gpu.attribution == Some(GpuAttribution::Unknown)
        }),
        ("oom_source", "/gpuOomEvents/0/source", |s| {
            s.gpu_oom_events[0].source == OomSource::Unknown
        }),
        (
            "abi_evidence",
            "/inventory/0/autoInstrument/interpreters/0/evidence",
            |s| {
                let a = s.inventory[0].auto_instrument.as_ref().unwrap();
                a.interpreters[0].evidence == AbiEvidence::Unknown
                    && a.interpreters[0].abi == "cp311"
            },
        ),
    ];
    for (case, pointer, check) in cases {
        let mut v: Value = serde_json::from_str(H200_TORCH_OOM).unwrap();
        v["inventory"] =
            serde_json::from_str::<Value>(AUTOINSTRUMENT[0]).unwrap()["inventory"].clone();
        *v.pointer_mut(pointer)
            .unwrap_or_else(|| panic!("{case}: {pointer}")) = Value::from("fromANewerSidecar");
        let s: Snapshot = serde_json::from_value(v)
            .unwrap_or_else(|e| panic!("{case}: a newer sidecar's snapshot is unreadable: {e}"));
        assert!(check(&s), "{case}");
        assert_eq!(s.gpu.devices.len(), 1, "{case}: the rest is read");
    }
    // A value of the wrong type is still an error.
    let mut v: Value = serde_json::from_str(H200_TORCH_OOM).unwrap();
    v["gpu"]["state"] = Value::from(3);
    assert!(serde_json::from_value::<Snapshot>(v).is_err());
}

/// What the built sidecar served after the OpenTelemetry Python SDK's two-agent conversation
/// (sidecar/tests/data/otlp/two-agents.pb) was posted to `run --otlp-listen`: the GenAI
/// evidence, the agent graph with its latency buckets, and latency from SERVER spans.
const OTLP_TWO_AGENTS: &str = include_str!("fixtures/snapshot-otlp-two-agents.json");

#[test]
fn otlp_snapshot_round_trips_unchanged() {
    let original: Value = serde_json::from_str(OTLP_TWO_AGENTS).unwrap();
    let typed: Snapshot = serde_json::from_value(original.clone()).unwrap();
    assert_eq!(original, serde_json::to_value(&typed).unwrap());
    let g = typed.genai.as_ref().unwrap();
    assert_eq!((g.spans, g.prompts.len(), g.models.len()), (27, 2, 2));
    assert_eq!(typed.agent_graph[0].calls, 3);
    assert_eq!(typed.latency.as_ref().unwrap().requests, 3);
}

/// What the built sidecar served for an instrumented Python (fixtures/README.md).
const AUTOINSTRUMENT: [&str; 3] = [
    include_str!("fixtures/snapshot-autoinstrument-match.json"),
    include_str!("fixtures/snapshot-autoinstrument-abi-mismatch.json"),
    include_str!("fixtures/snapshot-autoinstrument-other-python.json"),
];

#[test]
fn autoinstrument_snapshots_round_trip_and_an_older_sidecars_still_read() {
    for text in AUTOINSTRUMENT {
        let original: Value = serde_json::from_str(text).unwrap();
        let typed: Snapshot = serde_json::from_value(original.clone()).unwrap();
        assert_eq!(original, serde_json::to_value(&typed).unwrap());
        assert!(typed.inventory[0].auto_instrument.is_some());
        // An older sidecar's document (before `autoInstrument` existed): the same without it.
        let mut older = original.clone();
        older["inventory"][0]
            .as_object_mut()
            .unwrap()
            .remove("autoInstrument");
        let older: Snapshot = serde_json::from_value(older).unwrap();
        assert_eq!(older.inventory[0].auto_instrument, None);
        assert_eq!(older.inventory[0].digest, typed.inventory[0].digest);
    }
}

#[test]
fn process_reads_are_read_and_an_older_sidecars_snapshot_without_them_still_is() {
    let original: Value = serde_json::from_str(AUTOINSTRUMENT[0]).unwrap();
    // (case, `processReads` as written (None: absent), what the operator reads)
    let cases = [
        ("older_sidecar", None, ProcessReads::default()),
        (
            "every_process_read",
            Some(serde_json::json!({"processes": 2})),
            ProcessReads {
                processes: 2,
                ..ProcessReads::default()
            },
        ),
        (
            "another_users_app",
            Some(serde_json::json!({"processes": 3, "denied": 2, "gone": 1})),
            ProcessReads {
                processes: 3,
                denied: 2,
                gone: 1,
                failed: 0,
            },
        ),
        (
            "a_newer_sidecars_extra_count",
            Some(serde_json::json!({"processes": 1, "failed": 1, "timedOut": 4})),
            ProcessReads {
                processes: 1,
                failed: 1,
                ..ProcessReads::default()
            },
        ),
    ];
    for (case, written, want) in cases {
        let mut v = original.clone();
        let digest = v["inventory"][0].as_object_mut().unwrap();
        digest.remove("processReads");
        if let Some(w) = &written {
            digest.insert("processReads".into(), w.clone());
        }
        let s: Snapshot = serde_json::from_value(v).unwrap();
        assert_eq!(s.inventory[0].process_reads, want, "{case}");
        assert!(s.inventory[0].auto_instrument.is_some(), "{case}");
        // Written back camelCase, and left out when nothing was looked at.
        let back = serde_json::to_value(&s).unwrap();
        let field = back["inventory"][0].get("processReads");
        if want.is_empty() {
            assert_eq!(field, None, "{case}");
        } else {
            let again: ProcessReads = serde_json::from_value(field.unwrap().clone()).unwrap();
            assert_eq!(again, want, "{case}");
            assert!(
                field.unwrap().get("processes").is_some(),
                "{case}: camelCase names"
            );
        }
    }
    let r = ProcessReads {
        processes: 5,
        denied: 2,
        gone: 1,
        failed: 1,
    };
    assert_eq!(r.read(), 1);
}
