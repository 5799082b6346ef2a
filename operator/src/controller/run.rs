//! `agentlens-operator run`: the order things start in, and shutdown.
//!
//! 1. the keys (HMAC key Secret);
//! 2. the cache, on every replica;
//! 3. the webhook (reading the cache) and `/metrics` `/healthz` `/readyz` (ready once the
//!    cache has listed);
//! 4. the leader election (and, with an operator-managed webhook certificate, the task that
//!    serves it from its Secret on every replica and issues it while leading);
//! 5. once leading *and* the cache is ready, the controllers, until SIGTERM or the lease is lost.
//!
//! On SIGTERM the controllers finish their reconciles, the lease is released and the servers
//! stop.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use kube::Client;
use kube::api::Api;
use tokio::sync::watch;

use super::cache::{Cache, CacheOptions};
use super::leader::Elector;
use super::metrics::OperatorMetrics;
use super::reconcile::{Ctx, wall_clock};
use super::snapshots::SnapshotClient;
use crate::error::{Error, Result};
use crate::inject::InjectConfig;
use crate::webhook::{WebhookState, router, serve_tls};

/// Options of `run`.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Webhook address.
    pub webhook_listen: SocketAddr,
    /// Webhook certificate (when not managed by the operator).
    pub tls_cert: PathBuf,
    /// Webhook key.
    pub tls_key: PathBuf,
    /// Metrics/health address.
    pub metrics_listen: SocketAddr,
    /// Native sidecars: `None` = discover from the server version.
    pub native_sidecars: Option<bool>,
    /// Sidecar image.
    pub sidecar_image: Option<String>,
    /// The operator's namespace (lease, HMAC key Secret).
    pub namespace: String,
    /// This replica's identity (the pod name).
    pub identity: String,
    /// Sidecar port for snapshots.
    pub snapshot_port: u16,
    /// Watch ConfigMaps and Secrets only in these namespaces (`None`: those holding
    /// AgentDeployments).
    pub config_namespaces: Option<BTreeSet<String>>,
    /// How often live figures are pulled and every object reconciled.
    pub refresh: Duration,
    /// The webhook certificate kept by the operator in a Secret (`None`: read from
    /// `tls_cert`/`tls_key`, which cert-manager or the user provide).
    pub managed_cert: Option<super::webhook_cert::ManagedCert>,
    /// The ClusterRole the agents' service accounts are bound to for their logs (`None`: no
    /// bindings are written).
    pub sidecar_cluster_role: Option<String>,
    /// Whether injected pods get the `prometheus.io/*` annotations (off when a PodMonitor
    /// scrapes them).
    pub scrape_annotations: bool,
}

fn io(what: &str) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        what: what.to_string(),
        source,
    }
}

/// Whether the API server supports native sidecars (1.29+).
async fn discover_native(client: &Client) -> bool {
    match client.apiserver_version().await {
        Ok(v) => {
            let minor: u32 = v.minor.trim_end_matches('+').parse().unwrap_or(0);
            v.major == "1" && minor >= 29
        }
        Err(e) => {
            tracing::warn!(
                "cannot read the server version ({}); injecting classic sidecars",
                crate::error::chain(&e)
            );
            false
        }
    }
}

/// Resolves on SIGTERM or Ctrl-C.
async fn terminated() -> Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(io("installing the SIGTERM handler"))?;
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    Ok(())
}

/// Resolves when `rx` turns true.
async fn became(mut rx: watch::Receiver<bool>, value: bool) {
    let _ = rx.wait_for(|v| *v == value).await;
}

/// Runs until SIGTERM, or until this replica loses the lease it held (then it exits and is
/// restarted as a follower: in-flight writes of a lost leadership are not resumed).
pub async fn run(opts: RunOptions) -> Result<()> {
    let client = Client::try_default().await.map_err(|source| Error::Kube {
        what: "connecting to the API server".into(),
        source: Box::new(source),
    })?;
    let metrics = OperatorMetrics::new().map_err(Error::Metrics)?;
    let native = match opts.native_sidecars {
        Some(n) => n,
        None => discover_native(&client).await,
    };
    let key = super::keys::hmac_key(&client, &opts.namespace).await?;
    // The token the snapshot puller presents to the sidecars' `/v1/*`; pods carry only its hash.
    let token = super::keys::sidecar_token(&client, &opts.namespace).await?;

    let cache = Cache::start(
        &client,
        CacheOptions {
            config_namespaces: opts.config_namespaces.clone(),
            hmac_key: Arc::new(key),
        },
        &metrics,
    );
    let (stop_tx, stop_rx) = watch::channel(false);
    let stopped = {
        let rx = stop_rx.clone();
        move || became(rx.clone(), true)
    };

    // The webhook on every replica, reading the cache.
    let mut inject = InjectConfig {
        native_sidecars: native,
        api_token_sha256: Some(super::keys::sha256_hex(&token)),
        scrape_annotations: opts.scrape_annotations,
        ..InjectConfig::default()
    };
    if let Some(i) = &opts.sidecar_image {
        inject.image = i.clone();
    }
    let webhook_state = Arc::new(WebhookState {
        agent_deployments: cache.by_namespace.clone(),
        config: inject,
        metrics: Some(metrics.clone()),
    });
    let (lead_tx, lead_rx) = watch::channel(false);
    let tls = match &opts.managed_cert {
        None => crate::tls::server_config(&opts.tls_cert, &opts.tls_key)?,
        Some(managed) => {
            let (serving_tx, serving_rx) = watch::channel(None);
            tokio::spawn(super::webhook_cert::run(
                client.clone(),
                managed.clone(),
                lead_rx.clone(),
                serving_tx,
                stop_rx.clone(),
            ));
            crate::tls::server_config_with(Arc::new(crate::tls::SharedCert(serving_rx)))?
        }
    };
    let webhook_listener = tokio::net::TcpListener::bind(opts.webhook_listen)
        .await
        .map_err(io("binding the webhook port"))?;
    let webhook = tokio::spawn(serve_tls(
        webhook_listener,
        router(webhook_state),
        tls,
        stopped(),
    ));

    let metrics_listener = tokio::net::TcpListener::bind(opts.metrics_listen)
        .await
        .map_err(io("binding the metrics port"))?;
    let health = super::health::router(metrics.clone(), cache.ready_signal());
    let health_stop = stopped();
    tokio::spawn(async move {
        if let Err(e) = axum::serve(metrics_listener, health)
            .with_graceful_shutdown(health_stop)
            .await
        {
            tracing::warn!("metrics server: {e}");
        }
    });

    let leases: Api<Lease> = Api::namespaced(client.clone(), &opts.namespace);
    let election =
        tokio::spawn(Elector::new(leases, opts.identity.clone()).run(lead_tx, stop_rx.clone()));

    let ctx = Arc::new(Ctx {
        client: client.clone(),
        pods: cache.pods.clone(),
        config_maps: cache.config_maps.clone(),
        secrets: cache.secrets.clone(),
        models: cache.models.clone(),
        evaluations: cache.evaluations.clone(),
        snapshots: Some(SnapshotClient::new(opts.snapshot_port, Some(token))),
        live: Arc::default(),
        refresh: opts.refresh,
        metrics: metrics.clone(),
        now: wall_clock,
        recorder: Some(kube::runtime::events::Recorder::new(
            client.clone(),
            kube::runtime::events::Reporter {
                controller: "agentlens-operator".into(),
                instance: Some(opts.identity.clone()),
            },
        )),
        sidecar_access: opts
            .sidecar_cluster_role
            .clone()
            .map(|role| Arc::new(super::sidecar_access::SidecarAccess::new(role))),
    });

    // The controllers stop first (finishing their reconciles), then the lease is released.
    let (halt_tx, halt_rx) = watch::channel(false);
    let lead = async {
        became(lead_rx.clone(), true).await;
        cache.wait_until_ready().await;
        // The lease may have gone while the cache listed.
        if !*lead_rx.borrow() {
            return false;
        }
        metrics.leader.set(1);
        tracing::info!("leading with a ready cache: starting the controllers");
        tokio::select! {
            () = super::controllers::run(&cache, ctx, &metrics, halt_rx.clone()) => true,
            () = became(lead_rx.clone(), false) => false,
        }
    };
    tokio::pin!(lead);
    let outcome = tokio::select! {
        r = terminated() => {
            r?;
            tracing::info!("SIGTERM: finishing the running reconciles");
            let _ = halt_tx.send(true);
            let _ = tokio::time::timeout(Duration::from_secs(10), &mut lead).await;
            None
        }
        kept = &mut lead => Some(kept),
    };
    metrics.leader.set(0);
    let _ = stop_tx.send(true);
    // Release the lease (bounded inside) and let the servers finish.
    let _ = election.await;
    let _ = tokio::time::timeout(Duration::from_secs(5), webhook).await;
    match outcome {
        Some(false) => {
            tracing::warn!("lost the leader lease: exiting to restart as a follower");
            Err(Error::LostLease)
        }
        _ => {
            tracing::info!("shut down");
            Ok(())
        }
    }
}
