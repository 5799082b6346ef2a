//! `agentlens-sidecar serve`: in a pod, beside the agent containers. Observes every process of
//! the pod (shared process namespace) grouped by container, GPUs, and the sibling containers'
//! logs through the Kubernetes API. Failures degrade to a reported state; the sidecar keeps
//! serving and never takes the pod down.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use agentlens_crds::snapshot::{PodIdentity, SidecarMode};
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use tokio::signal::unix::{SignalKind, signal};

use crate::auth::ApiAuth;
use crate::error::{Error, Result};
use crate::gpu::GpuMode;
use crate::logs::{StreamSink, follow_file};
use crate::logscan::ScanConfig;
use crate::sample::{self, SamplerConfig, Target};
use crate::shared::Shared;
use crate::view::View;

/// Options of `serve`.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Address of the metrics/API server.
    pub listen: SocketAddr,
    /// GPU measurement.
    pub gpu: GpuMode,
    /// Sampling interval.
    pub interval: Duration,
    /// Extra log files (paths as the sidecar sees them, e.g. on a shared volume).
    pub log_files: Vec<PathBuf>,
    /// Whether to use the Kubernetes API (container names, logs).
    pub kube_api: bool,
    /// Where `/proc` is.
    pub proc_root: PathBuf,
    /// The pod, from the downward API.
    pub pod: PodIdentity,
    /// The latency proxy and the OTLP receiver, when configured.
    pub listeners: crate::listeners::Listeners,
    /// The environment inventory.
    pub inventory: crate::inventory::worker::InventoryOptions,
    /// SHA-256 (hex) of the token `/v1/*` requires (written by the webhook; none: refused
    /// unless listening on loopback).
    pub api_token_sha256: Option<String>,
}

/// Runs until SIGTERM or SIGINT.
pub async fn serve(opts: ServeOptions) -> Result<()> {
    let auth =
        ApiAuth::new(opts.api_token_sha256.as_deref(), opts.listen).map_err(Error::ApiToken)?;
    if auth == ApiAuth::Refuse {
        tracing::warn!(
            "no --api-token-sha256 (AGENTLENS_API_TOKEN_SHA256): /v1/* is refused; /metrics stays open"
        );
    }
    let shared = Shared::new(SidecarMode::Serve, Some(opts.pod.clone()))?;
    let listener = tokio::net::TcpListener::bind(opts.listen)
        .await
        .map_err(|source| Error::Io {
            what: format!("listening on {}", opts.listen),
            source,
        })?;
    let extra = opts.listeners.clone().bind().await?;
    // Container id → name: published by the pod watcher, read by the sampler.
    let names: Arc<View<BTreeMap<String, String>>> = Arc::default();
    let own_container_id = crate::proc::read_cgroup(&opts.proc_root, std::process::id())
        .or_else(|| std::fs::read_to_string("/proc/self/cgroup").ok())
        .as_deref()
        .and_then(crate::proc::container_id);

    let stopping = Arc::new(AtomicBool::new(false));
    let sampler = sample::spawn(
        shared.clone(),
        SamplerConfig {
            proc_root: opts.proc_root.clone(),
            interval: opts.interval,
            gpu: opts.gpu,
            target: Target::Pod {
                own_container_id,
                names: names.clone(),
            },
        },
        stopping.clone(),
    )
    .map_err(|source| Error::Io {
        what: "starting the sampler thread".into(),
        source,
    })?;
    let inventory = crate::inventory::worker::start(
        &shared,
        opts.proc_root.clone(),
        &opts.inventory,
        &stopping,
    )?;

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    for path in &opts.log_files {
        let sink = StreamSink::new(shared.clone(), "files", "file", ScanConfig::default());
        tokio::spawn(follow_file(path.clone(), sink, stop_rx.clone()));
    }

    if opts.kube_api && !opts.pod.name.is_empty() {
        match kube::Client::try_default().await {
            Ok(client) => {
                let api: Api<Pod> = Api::namespaced(client, &opts.pod.namespace);
                if let Some(publisher) = names.publisher(BTreeMap::new()) {
                    tokio::spawn(crate::podlogs::watch_pod(
                        api,
                        opts.pod.name.clone(),
                        shared.clone(),
                        publisher,
                    ));
                }
            }
            Err(e) => {
                tracing::warn!("no Kubernetes API access, container logs are not collected: {e}")
            }
        }
    } else {
        tracing::info!("Kubernetes API not used: container logs are not collected");
    }

    let server = crate::http::spawn(listener, shared.clone(), auth, stop_rx.clone());
    let extra_tasks = extra.spawn(&shared, &stop_rx);

    let mut term = signal(SignalKind::terminate()).map_err(|source| Error::Io {
        what: "installing the SIGTERM handler".into(),
        source,
    })?;
    let mut int = signal(SignalKind::interrupt()).map_err(|source| Error::Io {
        what: "installing the SIGINT handler".into(),
        source,
    })?;
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    let _ = stop_tx.send(true);
    stopping.store(true, Ordering::Relaxed);
    let _ = tokio::time::timeout(Duration::from_secs(5), server).await;
    for t in extra_tasks {
        let _ = tokio::time::timeout(Duration::from_secs(2), t).await;
    }
    let _ = tokio::task::spawn_blocking(move || (sampler.join(), inventory.join())).await;
    Ok(())
}
