//! `make bench` helper: serves the sidecar's real router with 8 GPUs' worth of series (device
//! gauges, per-process memory for 4 containers, XID counters) and 6 containers' process and
//! log series, for `wrk` to scrape.
//!
//! Usage: bench_metrics_server PORT

use agentlens_crds::snapshot::SidecarMode;
use agentlens_sidecar::shared::Shared;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let port: u16 = std::env::args()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(19477);
    let shared = Shared::new(SidecarMode::Serve, None)?;
    let m = &shared.metrics;
    let containers = ["vllm", "router", "retriever", "guard", "evaluator", "tools"];
    for c in containers {
        shared.analysis.container(c);
        m.memory_rss.with_label_values(&[c]).set(1.5e9);
        m.processes.with_label_values(&[c]).set(4);
        m.cpu_seconds.with_label_values(&[c]).inc_by(1234.5);
    }
    for gpu in 0..8u32 {
        let idx = gpu.to_string();
        let uuid = format!("GPU-2a98b8b8-e285-6d24-ca74-cc623c47f1b{gpu}");
        m.gpu_memory_used
            .with_label_values(&[&idx, &uuid])
            .set(22_027_239_424.0);
        m.gpu_memory_total
            .with_label_values(&[&idx, &uuid])
            .set(150_754_820_096.0);
        m.gpu_utilization
            .with_label_values(&[&idx, &uuid])
            .set(0.93);
        for c in &containers[..4] {
            m.gpu_process_memory
                .with_label_values(&[idx.as_str(), uuid.as_str(), c])
                .set(5e9);
        }
        for xid in ["31", "48", "79"] {
            m.gpu_xid_errors.with_label_values(&[&idx, &uuid, xid]);
        }
    }
    m.gpu_available.set(1);
    shared
        .ready
        .store(true, std::sync::atomic::Ordering::Release);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
        let auth = agentlens_sidecar::auth::ApiAuth::Open;
        axum::serve(listener, agentlens_sidecar::http::router(shared, auth)).await
    })?;
    Ok(())
}
