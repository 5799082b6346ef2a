//! The NVML path. Runs for real where a GPU and its driver are present; elsewhere it checks
//! the degraded state and prints why the GPU part was skipped.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use agentlens_sidecar::gpu::{Gpu, Visible};

#[test]
fn nvml_reads_memory_of_every_visible_gpu_or_says_why_not() {
    match Gpu::open() {
        Err(reason) => {
            eprintln!("skipped: no GPU here ({reason})");
            assert!(
                reason.contains("NVML") || reason.contains("GPU"),
                "{reason}"
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
