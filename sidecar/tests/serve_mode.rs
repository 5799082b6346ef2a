//! The built `agentlens-sidecar serve` binary over a pod-shaped `/proc` (processes of two
//! containers and of the sidecar itself), without a cluster.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_agentlens-sidecar");
const APP: &str = "aaaaaaaaaaaa1111111111111111111111111111111111111111111111111111";
const GUARD: &str = "bbbbbbbbbbbb2222222222222222222222222222222222222222222222222222";

fn write_proc(root: &std::path::Path, pid: u32, id: &str, rss_pages: u64) {
    let d = root.join(pid.to_string());
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(
        d.join("stat"),
        format!("{pid} (python3) S 1 {pid} 1 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 4 0 1000 900000000 {rss_pages} 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0"),
    )
    .unwrap();
    std::fs::write(
        d.join("cgroup"),
        format!("0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1.slice/cri-containerd-{id}.scope\n"),
    )
    .unwrap();
}

/// The body of a 200 answer on loopback.
fn get(port: u16, path: &str) -> Option<String> {
    common::http_get(port, path)
        .filter(|(status, _)| *status == 200)
        .map(|(_, body)| body)
}

#[test]
fn serve_groups_pod_processes_by_container_and_stops_on_sigterm() {
    let proc_root = tempfile::tempdir().unwrap();
    write_proc(proc_root.path(), 7, APP, 1000);
    write_proc(proc_root.path(), 8, APP, 500);
    write_proc(proc_root.path(), 9, GUARD, 10);
    let port = common::free_port();
    let mut child = Command::new(BIN)
        .args([
            "serve",
            "--no-kube-api",
            "--gpu",
            "off",
            "--interval-ms",
            "200",
        ])
        .arg(format!("--listen=127.0.0.1:{port}"))
        .arg(format!("--proc-root={}", proc_root.path().display()))
        .env("POD_NAME", "invoice-rpa-pdf-parser-7c9d-x2")
        .env("POD_NAMESPACE", "invoice-rpa")
        .env("AGENTLENS_AGENT", "invoice-rpa")
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let body = common::wait_until(Duration::from_secs(30), || {
        get(port, "/readyz")?;
        get(port, "/v1/snapshot")
    });
    let snap: agentlens_crds::Snapshot =
        serde_json::from_str(&body.expect("ready within 30 s")).unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let status = child.wait().unwrap();

    assert_eq!(snap.mode, agentlens_crds::snapshot::SidecarMode::Serve);
    let pod = snap.pod.unwrap();
    assert_eq!(
        (pod.namespace.as_str(), pod.name.as_str()),
        ("invoice-rpa", "invoice-rpa-pdf-parser-7c9d-x2")
    );
    assert_eq!(pod.agent.as_deref(), Some("invoice-rpa"));
    // Without the API the containers are named by their short id (bounded by the pod).
    let app = snap
        .containers
        .iter()
        .find(|c| c.name == APP[..12])
        .unwrap();
    assert_eq!(app.processes, 2);
    assert_eq!(app.rss_bytes, 1500 * 4096);
    assert!((app.cpu_seconds - 6.0).abs() < 1e-9, "{}", app.cpu_seconds);
    assert!(
        snap.containers
            .iter()
            .any(|c| c.name == GUARD[..12] && c.processes == 1)
    );
    assert_eq!(status.code(), Some(0), "SIGTERM is a clean stop");
}

fn metrics(port: u16) -> String {
    get(port, "/metrics").unwrap_or_default()
}

fn poll(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    common::wait_until(timeout, || f().then_some(())).is_some()
}

#[test]
fn a_containers_series_go_when_its_processes_do() {
    let proc_root = tempfile::tempdir().unwrap();
    write_proc(proc_root.path(), 7, APP, 1000);
    write_proc(proc_root.path(), 9, GUARD, 10);
    let port = common::free_port();
    let mut child = Command::new(BIN)
        .args([
            "serve",
            "--no-kube-api",
            "--gpu",
            "off",
            "--interval-ms",
            "200",
        ])
        .arg(format!("--listen=127.0.0.1:{port}"))
        .arg(format!("--proc-root={}", proc_root.path().display()))
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let guard_rss = format!(
        "agentlens_memory_rss_bytes{{container=\"{}\"}}",
        &GUARD[..12]
    );
    let guard_procs = format!("agentlens_processes{{container=\"{}\"}}", &GUARD[..12]);
    let app_rss = format!("agentlens_memory_rss_bytes{{container=\"{}\"}}", &APP[..12]);
    let both = poll(Duration::from_secs(10), || {
        let m = metrics(port);
        m.contains(&guard_rss) && m.contains(&app_rss)
    });
    // The guard container's processes are gone (it exited, or restarts).
    std::fs::remove_dir_all(proc_root.path().join("9")).unwrap();
    let gone = poll(Duration::from_secs(10), || {
        let m = metrics(port);
        !m.contains(&guard_rss) && !m.contains(&guard_procs) && m.contains(&app_rss)
    });
    // Back with new processes: a fresh series.
    write_proc(proc_root.path(), 12, GUARD, 20);
    let back = poll(Duration::from_secs(10), || {
        metrics(port).contains(&format!("{guard_rss} {}", 20 * 4096))
    });
    let _ = child.kill();
    let _ = child.wait();
    assert!(both, "both containers measured");
    assert!(
        gone,
        "the vanished container's series are removed: {}",
        metrics(port)
    );
    assert!(back, "the returning container is measured again");
}
