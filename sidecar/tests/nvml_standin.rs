//! The GPU path of the real `agentlens-sidecar run` binary without a GPU: a stand-in
//! `libnvidia-ml.so.1` (tests/nvml_standin/nvml_standin.c, built here with the system compiler)
//! is found first on `LD_LIBRARY_PATH` by the same `dlopen` that loads the driver's, and replays
//! a scripted world: devices, per-process memory of real child processes, lost GPUs, NVML
//! errors and critical XID events. Nothing here skips: a missing compiler fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
#[path = "nvml_standin/harness.rs"]
mod harness;

use harness::{Kind, Sidecar, Stranger, World, h200, pid_file};

/// The H200 of /work/shared/fixtures/gpu/nvml-h200-probe.txt.
const GPU0: &str = "GPU-2a98b8b8-e285-6d24-ca74-cc623c47f1bd";
/// A second GPU of the same node (made up).
const GPU1: &str = "GPU-5f0c1d2e-3a4b-4c5d-8e9f-0a1b2c3d4e5f";
const DRIVER: &str = "580.159.04";
/// The PyTorch process of the probe held this much while its 20 GiB tensor was alive.
const TORCH_BYTES: u64 = 22_017_998_848;
const GIB: u64 = 1 << 30;

const USED: &str = "agentlens_gpu_memory_used_bytes";
const TOTAL: &str = "agentlens_gpu_memory_total_bytes";
const UTIL: &str = "agentlens_gpu_utilization_ratio";
const PROCESS: &str = "agentlens_gpu_process_memory_used_bytes";
const XID: &str = "agentlens_gpu_xid_errors_total";

fn two_gpus() -> World {
    World::driver(DRIVER)
        .device(&h200(GPU0, 22_027_239_424, 87))
        .device(&h200(GPU1, 0, 0))
}

/// A command whose shell writes its pid to `{dir}/root` and starts a `sleep` (a grandchild of
/// the sidecar) whose pid goes to `{dir}/worker`. The shell reaps the worker when it ends and
/// then stays, under the same pid, for the rest of the test.
const TREE: &str = "echo $$ > {dir}/root; sleep 300 & echo $! > {dir}/worker; wait; exec sleep 300";

#[test]
fn device_memory_and_utilisation_follow_the_scripted_gpus() {
    let sidecar = Sidecar::start(&two_gpus(), &[], "exec sleep 300");
    let gpu0 = [("gpu", "0"), ("uuid", GPU0)];
    let gpu1 = [("gpu", "1"), ("uuid", GPU1)];
    sidecar.wait_metrics("both GPUs measured", |m| {
        (m.get(USED, &gpu0) == Some(22_027_239_424.0) && m.get(USED, &gpu1) == Some(0.0))
            .then_some(())
    });
    let m = sidecar.metrics().unwrap();
    assert_eq!(m.get(TOTAL, &gpu0), Some(150_754_820_096.0));
    assert_eq!(m.get(TOTAL, &gpu1), Some(150_754_820_096.0));
    assert_eq!(m.get(UTIL, &gpu0), Some(0.87));
    assert_eq!(m.get(UTIL, &gpu1), Some(0.0));
    assert_eq!(m.get("agentlens_gpu_available", &[]), Some(1.0));

    let gpu = sidecar.wait_snapshot("the GPUs in the snapshot", |g| {
        (g["devices"].as_array()?.len() == 2).then(|| g.clone())
    });
    assert_eq!(gpu["state"], "available");
    assert_eq!(gpu["driverVersion"], DRIVER);
    assert_eq!(gpu["attribution"], "processTree");
    assert_eq!(gpu["devices"][0]["uuid"], GPU0);
    assert_eq!(gpu["devices"][0]["name"], "NVIDIA H200");
    assert_eq!(gpu["devices"][0]["memoryUsedBytes"], 22_027_239_424_u64);
    assert_eq!(gpu["devices"][1]["index"], 1);

    // The world changes while the sidecar runs: the next samples say so.
    sidecar.set(
        &World::driver(DRIVER)
            .device(&h200(GPU0, 40 * GIB, 12))
            .device(&h200(GPU1, 0, 0)),
    );
    sidecar.wait_metrics("GPU 0's new figures", |m| {
        (m.get(USED, &gpu0) == Some((40 * GIB) as f64) && m.get(UTIL, &gpu0) == Some(0.12))
            .then_some(())
    });
}

#[test]
fn cuda_visible_devices_limits_the_gpus_measured() {
    // A UUID prefix, as device plugins write it.
    let sidecar = Sidecar::start(
        &two_gpus(),
        &[("CUDA_VISIBLE_DEVICES", "GPU-5f0c1d2e")],
        "exec sleep 300",
    );
    let gpu = sidecar.wait_snapshot("GPU 1 alone in the snapshot", |g| {
        (g["devices"].as_array()?.len() == 1).then(|| g.clone())
    });
    assert_eq!(gpu["devices"][0]["uuid"], GPU1);
    let m = sidecar.metrics().unwrap();
    let uuids: Vec<&str> = m
        .label_sets(USED)
        .iter()
        .map(|l| l["uuid"].as_str())
        .collect();
    assert_eq!(uuids, [GPU1]);
}

#[test]
fn gpu_memory_of_the_process_tree_is_attributed_to_its_container_and_no_other() {
    let mut sidecar = Sidecar::start(&two_gpus(), &[], TREE);
    let root = pid_file(sidecar.dir(), "root");
    let worker = pid_file(sidecar.dir(), "worker");
    // A process of the same machine that the sidecar does not observe: the test's own child.
    let stranger = Stranger(
        std::process::Command::new("sleep")
            .arg("300")
            .spawn()
            .unwrap(),
    );
    let stranger_pid = stranger.0.id();
    sidecar.set(
        &two_gpus()
            .process(0, root, TORCH_BYTES, Kind::Compute)
            // A process with both a compute and a graphics context is listed twice by NVML.
            .process(0, root, TORCH_BYTES, Kind::Graphics)
            .process(0, worker, 2 * GIB, Kind::Graphics)
            .process(0, stranger_pid, 7 * GIB, Kind::Compute)
            .process(1, worker, 3 * GIB, Kind::Compute),
    );
    let gpu0 = [("gpu", "0"), ("uuid", GPU0), ("container", "main")];
    let gpu1 = [("gpu", "1"), ("uuid", GPU1), ("container", "main")];
    // One sample sums a container's processes: the stranger's 7 GiB would show in that sum.
    sidecar.wait_metrics("the tree's GPU memory on both GPUs", |m| {
        (m.get(PROCESS, &gpu0) == Some((TORCH_BYTES + 2 * GIB) as f64)
            && m.get(PROCESS, &gpu1) == Some((3 * GIB) as f64))
        .then_some(())
    });
    let processes = sidecar.wait_snapshot("the tree's processes in the snapshot", |g| {
        let p = g["processes"].as_array()?;
        (p.len() == 3).then(|| p.clone())
    });
    let mut seen: Vec<(String, u64, String, u64)> = processes
        .iter()
        .map(|p| {
            (
                p["gpuUuid"].as_str().unwrap().to_string(),
                p["pid"].as_u64().unwrap(),
                p["container"].as_str().unwrap().to_string(),
                p["memoryUsedBytes"].as_u64().unwrap(),
            )
        })
        .collect();
    seen.sort();
    let mut want = vec![
        (
            GPU0.to_string(),
            u64::from(root),
            "main".to_string(),
            TORCH_BYTES,
        ),
        (
            GPU0.to_string(),
            u64::from(worker),
            "main".to_string(),
            2 * GIB,
        ),
        (
            GPU1.to_string(),
            u64::from(worker),
            "main".to_string(),
            3 * GIB,
        ),
    ];
    want.sort();
    assert_eq!(
        seen, want,
        "stranger pid {stranger_pid} must not be attributed"
    );

    // The worker ends; NVML still lists its pid (a stale driver entry): it is no longer ours.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(worker as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    sidecar.wait_metrics("the worker's memory leaves the container's sum", |m| {
        (m.get(PROCESS, &gpu0) == Some(TORCH_BYTES as f64) && m.get(PROCESS, &gpu1).is_none())
            .then_some(())
    });
    sidecar.assert_running();
}

#[test]
fn an_agent_in_its_own_pid_namespace_is_attributed_by_the_pid_the_sidecar_sees() {
    // The agent runs in a new PID namespace (its shell is pid 1 there). sample.rs matches
    // NVML's pids with /proc's as they are (no NSpid translation), so attribution works when
    // the driver reports pids as the sidecar sees them (here: the outer namespace's, read by
    // the shell from /proc/self/stat with a builtin `read`, no fork, /proc still the outer
    // one's). A pid as the agent sees it (1) names another process for the sidecar and must
    // not be attributed. A sidecar whose own PID namespace differs from the one the driver
    // reports in cannot attribute at all (README, "Known limits"); no test pins that.
    // Fails, never skips, where unshare is missing; its own error (no user namespaces) shows
    // on the sidecar's stderr.
    let version = std::process::Command::new("unshare")
        .arg("--version")
        .output()
        .expect("unshare (util-linux) is needed to start a PID namespace");
    assert!(version.status.success(), "unshare --version: {version:?}");
    let command = "exec unshare --user --map-root-user --pid --kill-child sh -c \
         'echo $$ > {dir}/inner; read -r pid rest < /proc/self/stat; echo $pid > {dir}/outer; exec sleep 300'";
    let sidecar = Sidecar::start(&two_gpus(), &[], command);
    let inner = pid_file(sidecar.dir(), "inner");
    let outer = pid_file(sidecar.dir(), "outer");
    assert_eq!(inner, 1, "the agent runs in its own PID namespace");
    assert_ne!(outer, 1);
    sidecar.set(
        &two_gpus()
            .process(0, outer, 5 * GIB, Kind::Compute)
            .process(0, inner, 9 * GIB, Kind::Compute),
    );
    let labels = [("gpu", "0"), ("uuid", GPU0), ("container", "main")];
    sidecar.wait_metrics("the namespaced agent's GPU memory, and no more", |m| {
        (m.get(PROCESS, &labels) == Some((5 * GIB) as f64)).then_some(())
    });
}

#[test]
fn a_gpu_that_falls_off_the_bus_leaves_and_the_others_stay_measured() {
    let mut sidecar = Sidecar::start(&two_gpus(), &[], TREE);
    let root = pid_file(sidecar.dir(), "root");
    let with_processes = |w: World| {
        w.process(0, root, GIB, Kind::Compute)
            .process(1, root, 2 * GIB, Kind::Compute)
    };
    sidecar.set(&with_processes(two_gpus()));
    let gpu1 = [("gpu", "1"), ("uuid", GPU1)];
    let proc1 = [("gpu", "1"), ("uuid", GPU1), ("container", "main")];
    sidecar.wait_metrics("GPU 1 and its process measured", |m| {
        (m.get(USED, &gpu1).is_some() && m.get(PROCESS, &proc1) == Some((2 * GIB) as f64))
            .then_some(())
    });

    // GPU 1 has answered more than one memory read: from now on it answers
    // NVML_ERROR_GPU_IS_LOST to every call about it.
    let mut lost = h200(GPU1, 0, 0);
    lost.lost_after = Some(1);
    sidecar.set(&with_processes(
        World::driver(DRIVER)
            .device(&h200(GPU0, 30 * GIB, 50))
            .device(&lost),
    ));
    let gpu0 = [("gpu", "0"), ("uuid", GPU0)];
    sidecar.wait_metrics("GPU 1's series gone, GPU 0's still sampled", |m| {
        (m.get(USED, &gpu0) == Some((30 * GIB) as f64)
            && m.label_sets(USED).len() == 1
            && m.label_sets(TOTAL).len() == 1
            && m.label_sets(UTIL).len() == 1
            && m.get(PROCESS, &proc1).is_none())
        .then_some(())
    });
    let gpu = sidecar.wait_snapshot("GPU 0 alone in the snapshot", |g| {
        (g["devices"].as_array()?.len() == 1).then(|| g.clone())
    });
    assert_eq!(gpu["devices"][0]["uuid"], GPU0);
    assert_eq!(gpu["state"], "available");
    sidecar.assert_running();
}

#[test]
fn nvml_errors_mid_run_are_reported_and_measurement_resumes() {
    let mut sidecar = Sidecar::start(&two_gpus(), &[], TREE);
    let root = pid_file(sidecar.dir(), "root");
    sidecar.set(&two_gpus().process(0, root, GIB, Kind::Compute));
    sidecar.wait_metrics("devices and the child's GPU memory measured", |m| {
        (m.label_sets(USED).len() == 2 && m.label_sets(PROCESS).len() == 1).then_some(())
    });

    // The driver stops answering (NVML_ERROR_UNKNOWN from the device count).
    sidecar.set(&two_gpus().fail("nvmlDeviceGetCount_v2", 999));
    let reason = sidecar.wait_snapshot("the snapshot says why", |g| {
        (g["state"] == "unavailable").then(|| g["reason"].as_str().map(str::to_string))
    });
    assert_eq!(
        reason.as_deref(),
        Some("NVML device count: an internal driver error occurred")
    );
    // No figure outlives the reads that made it: the GPU series go until NVML answers again.
    sidecar.wait_metrics("agentlens_gpu_available 0 and no stale GPU series", |m| {
        (m.get("agentlens_gpu_available", &[]) == Some(0.0)
            && [USED, TOTAL, UTIL, PROCESS]
                .iter()
                .all(|name| m.label_sets(name).is_empty()))
        .then_some(())
    });
    sidecar.assert_running();

    sidecar.set(&World::driver(DRIVER).device(&h200(GPU0, 9 * GIB, 3)));
    sidecar.wait_snapshot("measurement resumes", |g| {
        (g["state"] == "available"
            && g["reason"].is_null()
            && g["devices"][0]["memoryUsedBytes"] == 9 * GIB)
            .then_some(())
    });
    sidecar.wait_metrics(
        "agentlens_gpu_available back to 1 with GPU 0's series",
        |m| {
            (m.get("agentlens_gpu_available", &[]) == Some(1.0)
                && m.get(USED, &[("gpu", "0"), ("uuid", GPU0)]) == Some((9 * GIB) as f64))
            .then_some(())
        },
    );
}

#[test]
fn critical_xid_events_are_counted_exactly_once_each() {
    let world = two_gpus().xid(0, 79).xid(0, 79).xid(1, 48);
    let sidecar = Sidecar::start(&world, &[], "exec sleep 300");
    let xid = |gpu: &'static str, uuid: &'static str, code: &'static str| {
        [("gpu", gpu), ("uuid", uuid), ("xid", code)]
    };
    // Events are delivered in order: once the last is counted, so are the ones before it.
    sidecar.wait_metrics("the last scripted XID counted", |m| {
        m.get(XID, &xid("1", GPU1, "48")).map(|_| ())
    });
    let m = sidecar.metrics().unwrap();
    assert_eq!(m.get(XID, &xid("1", GPU1, "48")), Some(1.0));
    assert_eq!(m.get(XID, &xid("0", GPU0, "79")), Some(2.0));
    assert_eq!(m.label_sets(XID).len(), 2);

    // One more event: counted once, and the earlier ones are not counted again.
    sidecar.set(&world.xid(0, 13));
    sidecar.wait_metrics("the new XID counted", |m| {
        m.get(XID, &xid("0", GPU0, "13")).map(|_| ())
    });
    let m = sidecar.metrics().unwrap();
    assert_eq!(m.get(XID, &xid("0", GPU0, "13")), Some(1.0));
    assert_eq!(m.get(XID, &xid("0", GPU0, "79")), Some(2.0));
    assert_eq!(m.get(XID, &xid("1", GPU1, "48")), Some(1.0));

    let counts = sidecar.wait_snapshot("the XIDs in the snapshot", |g| {
        let x = g["xidErrors"].as_array()?;
        (x.len() == 3).then(|| x.clone())
    });
    let mut seen: Vec<(String, u64, u64)> = counts
        .iter()
        .map(|c| {
            (
                c["gpuUuid"].as_str().unwrap().to_string(),
                c["xid"].as_u64().unwrap(),
                c["count"].as_u64().unwrap(),
            )
        })
        .collect();
    seen.sort();
    let mut want = vec![
        (GPU0.to_string(), 13, 1),
        (GPU0.to_string(), 79, 2),
        (GPU1.to_string(), 48, 1),
    ];
    want.sort();
    assert_eq!(seen, want);
}
