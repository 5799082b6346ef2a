//! The operator pulls `/v1/snapshot` from a real sidecar process on loopback (the built
//! `agentlens-sidecar` binary observing a child that prints the real H200 OOM); an unreachable
//! pod is counted as a failure, not fatal.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Command, Stdio};
use std::time::Duration;

use agentlens_operator::controller::snapshots::SnapshotClient;
use agentlens_tests::tools::{binary, missing};
use k8s_openapi::api::core::v1::Pod;

/// Kills and reaps the sidecar however the test ends; its command lives until then.
struct Reaped(std::process::Child);
impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn pod(name: &str, ip: &str) -> Pod {
    serde_json::from_value(serde_json::json!({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "ml"},
        "spec": {"containers": [{"name": "trainer", "image": "x"}],
                 "initContainers": [{"name": "agentlens-sidecar", "image": "y", "restartPolicy": "Always"}]},
        "status": {"podIP": ip, "conditions": [{"type": "Ready", "status": "True"}]}
    }))
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pulls_a_real_sidecars_snapshot() {
    let Some(bin) = binary("AGENTLENS_SIDECAR_BIN", "agentlens-sidecar") else {
        missing("the agentlens-sidecar binary (cargo build -p agentlens-sidecar)");
        return;
    };
    // The package list is checked against this machine's dpkg database (a Debian root).
    let dpkg = std::path::Path::new("/var/lib/dpkg/status").exists();
    if !dpkg {
        missing("a dpkg database (/var/lib/dpkg/status): the package-list half");
    }
    let port = agentlens_tests::net::free_port();
    let oom = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../sidecar/tests/data/logscan/torch-cuda-oom-h200.stderr"
    );
    // The sidecar takes the token's hash (as the webhook writes it); the puller presents it.
    let token = "operator-token-3f9a";
    let hash: String = {
        use sha2::Digest;
        sha2::Sha256::digest(token.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    };
    // The command prints the OOM and waits on its stdin: it lives as long as the test.
    let child = Reaped(
        Command::new(bin)
            .args([
                "run",
                "--gpu",
                "off",
                "--interval-ms",
                "200",
                "--api-token-sha256",
                &hash,
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--",
            ])
            .args(["sh", "-c", &format!("cat '{oom}' >&2; read line")])
            .stdin(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let client = SnapshotClient::new(port, Some(token.to_string()));
    let anonymous = SnapshotClient::new(port, None);
    let up = pod("trainer-0", "127.0.0.1");
    let down = pod("trainer-1", "127.0.0.9"); // nothing listens there
    let (fu, fd) = (
        agentlens_operator::status::PodFacts::from_pod(&up),
        agentlens_operator::status::PodFacts::from_pod(&down),
    );
    let got = agentlens_tests::net::wait_until_async(Duration::from_secs(30), async || {
        let (snaps, failures) = client.fetch(&[&fu, &fd]).await;
        let s = snaps.get("trainer-0")?;
        let complete = s.containers.first().is_some_and(|c| c.gpu_oom_events == 1)
            && !s.tracebacks.is_empty()
            && (s.inventory.first().is_some_and(|i| i.packages > 0) || !dpkg);
        if !complete {
            return None;
        }
        // The package list behind the inventory digest, fetched once and cached.
        let lists = client.package_lists(&snaps, &[&fu, &fd], &[]).await;
        Some((s.clone(), failures, lists))
    })
    .await;
    // Without the token the same sidecar answers nothing.
    let (anon, anon_failures) = anonymous
        .fetch(&[&agentlens_operator::status::PodFacts::from_pod(&pod(
            "trainer-0",
            "127.0.0.1",
        ))])
        .await;
    drop(child);
    assert!(
        anon.is_empty() && anon_failures == 1,
        "refused without the token"
    );
    let (snap, failures, lists) = got.expect("snapshot with the OOM and an inventory within 30 s");
    if dpkg {
        let inv = &snap.inventory[0];
        let list = lists
            .get(&inv.digest)
            .expect("the package list of the inventory");
        assert!(
            list.len() >= inv.packages as usize,
            "{} entries for {} packages",
            list.len(),
            inv.packages
        );
    }
    assert_eq!(failures, 1, "the unreachable pod is counted");
    assert_eq!(snap.tracebacks[0].exception, "torch.OutOfMemoryError");
    let merged = agentlens_operator::status::runtime::merge(
        &std::collections::BTreeMap::from([("trainer-0".to_string(), snap)]),
        0,
    );
    assert_eq!(merged.gpu_oom_events, 1);
    assert_eq!(merged.last_traceback.unwrap().pod, "trainer-0");
}
