//! The NVML path against the real driver. Runs where a GPU and its driver are present;
//! elsewhere it prints why it checked nothing, and fails instead when `AGENTLENS_REQUIRE_GPU=1`
//! (`make test` sets it where the driver's `/dev/nvidiactl` exists). `nvml_standin.rs` runs the
//! same reader and the `run` binary against a scripted stand-in driver on every machine; its
//! checks need the scripted figures, so they do not run against a real driver.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use agentlens_sidecar::gpu::{Gpu, Visible};

#[test]
fn nvml_reads_memory_of_every_visible_gpu_or_says_why_not() {
    match Gpu::open() {
        Err(reason) => {
            assert!(
                std::env::var("AGENTLENS_REQUIRE_GPU").as_deref() != Ok("1"),
                "AGENTLENS_REQUIRE_GPU=1 but no GPU is measured: {reason}"
            );
            eprintln!(
                "skipped: no GPU measured on this machine ({reason}); nothing about NVML was \
                 checked here (tests/nvml_standin.rs covers the path with a stand-in driver; \
                 AGENTLENS_REQUIRE_GPU=1 makes this a failure)"
            );
        }
        Ok(gpu) => {
            let r = gpu.read(&Visible::All).unwrap();
            assert!(!r.devices.is_empty());
            for d in &r.devices {
                assert!(d.total > 0 && d.used <= d.total, "{d:?}");
                assert!(
                    d.uuid.starts_with("GPU-") || d.uuid.starts_with("MIG-"),
                    "{d:?}"
                );
            }
            let none = gpu.read(&Visible::None).unwrap();
            assert!(none.devices.is_empty());
            eprintln!(
                "measured {} GPU(s), driver {:?}",
                r.devices.len(),
                gpu.driver_version
            );
        }
    }
}
