//! The status computation on a real-shaped dump of the invoice-rpa system (pods with the digest
//! forms of containerd and dockershim, a waiting container, an OOMKilled restart, a pod created
//! without the sidecar), through `agentlens-operator status --from` and the library.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::process::Command;

use agentlens_crds::{AgentDeployment, Snapshot};
use agentlens_operator::dump;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serde_json::Value;

const DUMP: &str = include_str!("data/dumps/invoice-rpa.yaml");

fn t(s: &str) -> Time {
    Time(s.parse().unwrap())
}

fn ad_status(list: &Value) -> agentlens_crds::AgentDeploymentStatus {
    let item = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["kind"] == "AgentDeployment")
        .unwrap();
    serde_json::from_value::<AgentDeployment>(item.clone())
        .unwrap()
        .status
        .unwrap()
}

fn cond<'a>(
    s: &'a agentlens_crds::AgentDeploymentStatus,
    t: &str,
) -> &'a k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition {
    s.conditions.iter().find(|c| c.type_ == t).unwrap()
}

#[test]
fn the_status_answers_what_runs_and_where_it_came_from() {
    let d = dump::read(DUMP).unwrap();
    let key = dump::hmac_key(&d);
    let list = dump::statuses(
        &d,
        &BTreeMap::new(),
        key.as_deref(),
        &t("2026-11-27T09:00:00Z"),
    )
    .unwrap();
    let s = ad_status(&list);
    let pods = s.pods.as_ref().unwrap();
    assert_eq!((pods.matched, pods.injected, pods.ready), (6, 5, 5));
    assert_eq!(pods.injected_of_matched, "5/6");
    assert_eq!(pods.uninjected, ["pdf-parser-7c9d8f6b5-g5h6j"]);
    assert_eq!(cond(&s, "SidecarsInjected").status, "False");
    assert_eq!(cond(&s, "Ready").status, "False");
    // containerd and dockershim digests resolve; the bare local ID and the waiting one do not.
    let triage = s.images.iter().find(|i| i.container == "triage").unwrap();
    assert_eq!((triage.pods, triage.digest.is_some()), (2, true));
    let writer = s.images.iter().find(|i| i.container == "writer").unwrap();
    assert_eq!(writer.digest, None);
    assert_eq!(
        s.images
            .iter()
            .filter(|i| i.container == "extractor")
            .count(),
        3
    );
    assert_eq!(cond(&s, "DigestDrift").status, "True");
    // Lineage and evaluations.
    let extractor = s
        .models
        .iter()
        .find(|m| m.name == "invoice-extractor")
        .unwrap();
    assert_eq!(
        extractor.lineage,
        ["llama-3.1-8b-instruct@1.0", "invoice-extractor@3.0.0"]
    );
    assert_eq!(cond(&s, "LineageComplete").status, "True");
    assert_eq!(s.evaluations.len(), 3);
    // invoice-extractor 3.0.0 has a passed golden-set evaluation; the classifier and the base
    // model used by the SAP writer do not.
    let pe = cond(&s, "PreDeploymentEvaluated");
    assert_eq!(pe.status, "False");
    assert!(
        pe.message.contains("triage-classifier@2.3.1") && !pe.message.contains("invoice-extractor"),
        "{}",
        pe.message
    );
    // Configs and prompts; the Secret by HMAC only.
    let secret = s
        .configs
        .iter()
        .find(|c| c.name == "sap-credentials")
        .unwrap();
    assert!(secret.hash.as_deref().unwrap().starts_with("hmac-sha256:"));
    assert_eq!(s.prompts.len(), 3);
    assert_eq!(s.runtime.as_ref().unwrap().oom_kills, 1);
    let models = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["kind"] == "Model")
        .count();
    assert_eq!(models, 4);
}

#[test]
fn secret_values_never_reach_the_status() {
    let d = dump::read(DUMP).unwrap();
    let list = dump::statuses(
        &d,
        &BTreeMap::new(),
        dump::hmac_key(&d).as_deref(),
        &t("2026-11-27T09:00:00Z"),
    )
    .unwrap();
    let text = serde_json::to_string(&list).unwrap();
    // "change-me" and its base64 form are the Secret's values.
    assert!(!text.contains("change-me") && !text.contains("Y2hhbmdlLW1l"));
}

#[test]
fn an_unchanged_world_gives_an_identical_status() {
    let d = dump::read(DUMP).unwrap();
    let key = dump::hmac_key(&d);
    let first = dump::statuses(
        &d,
        &BTreeMap::new(),
        key.as_deref(),
        &t("2026-11-27T09:00:00Z"),
    )
    .unwrap();
    // Feed the written status back as the previous one, an hour later.
    let mut d2 = dump::read(DUMP).unwrap();
    d2.agent_deployments[0].status = Some(ad_status(&first));
    let second = dump::statuses(
        &d2,
        &BTreeMap::new(),
        key.as_deref(),
        &t("2026-11-27T10:00:00Z"),
    )
    .unwrap();
    assert_eq!(
        ad_status(&first),
        ad_status(&second),
        "nothing changed, so nothing to write"
    );
}

#[test]
fn a_config_change_is_dated_kept_in_history_and_marks_older_pods_stale() {
    let d = dump::read(DUMP).unwrap();
    let key = dump::hmac_key(&d);
    let first = ad_status(
        &dump::statuses(
            &d,
            &BTreeMap::new(),
            key.as_deref(),
            &t("2026-11-27T09:00:00Z"),
        )
        .unwrap(),
    );
    let mut d2 = dump::read(DUMP).unwrap();
    d2.agent_deployments[0].status = Some(first.clone());
    let cm = d2
        .config_maps
        .iter_mut()
        .find(|c| c.metadata.name.as_deref() == Some("rpa-settings"))
        .unwrap();
    cm.data
        .as_mut()
        .unwrap()
        .insert("AUTO_POST_LIMIT_EUR".into(), "25000".into());
    let second = ad_status(
        &dump::statuses(
            &d2,
            &BTreeMap::new(),
            key.as_deref(),
            &t("2026-11-27T10:00:00Z"),
        )
        .unwrap(),
    );
    let before = first
        .configs
        .iter()
        .find(|c| c.name == "rpa-settings")
        .unwrap();
    let after = second
        .configs
        .iter()
        .find(|c| c.name == "rpa-settings")
        .unwrap();
    assert_ne!(before.hash, after.hash);
    assert_eq!(after.changed_at, Some(t("2026-11-27T10:00:00Z")));
    assert_eq!(after.history.len(), 1);
    assert_eq!(after.history[0].hash, before.hash.clone().unwrap());
    // All six pods consume rpa-settings (envFrom) and started on 2026-11-20, before the change
    // (the kubelet sets a start time before the containers run, so the waiting pod counts).
    assert_eq!(after.stale_pods, 6);
    let cc = cond(&second, "ConfigCurrent");
    assert_eq!(
        (cc.status.as_str(), cc.last_transition_time.clone()),
        ("False", t("2026-11-27T10:00:00Z"))
    );
    // Conditions that did not change keep their transition time.
    assert_eq!(
        cond(&second, "LineageComplete").last_transition_time,
        t("2026-11-27T09:00:00Z")
    );
}

#[test]
fn sidecar_snapshots_feed_runtime_and_the_gpu_oom_condition() {
    let d = dump::read(DUMP).unwrap();
    let snap: Snapshot = serde_json::from_str(include_str!(
        "../../crds/tests/fixtures/snapshot-h200-torch-oom.json"
    ))
    .unwrap();
    let snaps = BTreeMap::from([("email-triage-7c9d8f6b5-x2k4p".to_string(), snap)]);
    let s = ad_status(&dump::statuses(&d, &snaps, None, &t("2026-11-27T09:00:00Z")).unwrap());
    let r = s.runtime.clone().unwrap();
    assert_eq!(r.gpu_memory_total_bytes, Some(150_754_820_096));
    assert_eq!(r.gpu_oom_events, 1);
    assert_eq!(
        r.last_traceback.unwrap().exception,
        "torch.OutOfMemoryError"
    );
    assert_eq!(cond(&s, "GpuOutOfMemory").status, "True");
}

#[test]
fn the_cli_prints_a_v1_list() {
    let out = Command::new(env!("CARGO_BIN_EXE_agentlens-operator"))
        .args([
            "status",
            "--from",
            concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/data/dumps/invoice-rpa.yaml"
            ),
        ])
        .args(["--now", "2026-11-27T09:00:00Z", "-o", "json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let list: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(list["kind"], "List");
    assert_eq!(list["items"].as_array().unwrap().len(), 5);
    // Deterministic for a given --now.
    let again = Command::new(env!("CARGO_BIN_EXE_agentlens-operator"))
        .args([
            "status",
            "--from",
            concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/data/dumps/invoice-rpa.yaml"
            ),
        ])
        .args(["--now", "2026-11-27T09:00:00Z", "-o", "json"])
        .output()
        .unwrap();
    assert_eq!(out.stdout, again.stdout);
}

/// A pod of the system that ended (its Job failed) keeps its image digest in status while it
/// exists, counted as ended, not as running.
#[test]
fn an_ended_pod_keeps_its_image_digest_marked_ended() {
    let key = dump::hmac_key(&dump::read(DUMP).unwrap());
    let now = t("2026-11-27T09:00:00Z");
    let before = ad_status(
        &dump::statuses(
            &dump::read(DUMP).unwrap(),
            &BTreeMap::new(),
            key.as_deref(),
            &now,
        )
        .unwrap(),
    );
    let mut d = dump::read(DUMP).unwrap();
    let pod = d
        .pods
        .iter_mut()
        .find(|p| {
            p.spec
                .as_ref()
                .is_some_and(|s| s.containers.iter().any(|c| c.name == "triage"))
        })
        .unwrap();
    pod.status.as_mut().unwrap().phase = Some("Failed".into());
    let after = ad_status(&dump::statuses(&d, &BTreeMap::new(), key.as_deref(), &now).unwrap());
    let row = |s: &agentlens_crds::AgentDeploymentStatus| {
        s.images
            .iter()
            .find(|i| i.container == "triage" && i.digest.is_some())
            .map(|i| (i.pods, i.ended, i.digest.clone()))
            .unwrap()
    };
    let (pods, ended, digest) = row(&before);
    assert_eq!(ended, 0);
    assert_eq!(row(&after), (pods - 1, 1, digest), "{:?}", after.images);
    assert_eq!(
        after.pods.as_ref().unwrap().matched,
        before.pods.as_ref().unwrap().matched - 1
    );
}
