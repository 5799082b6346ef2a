//! `agentlens-operator run`: reflectors, the two controllers (while this replica leads), the
//! webhook on every replica, `/metrics`, `/healthz`, `/readyz`, graceful shutdown.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use agentlens_crds::{AgentDeployment, Evaluation, Model};
use axum::routing::get;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, Pod, Secret};
use kube::api::{Api, PostParams};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{Controller, WatchStreamExt, watcher};
use kube::{Client, ResourceExt};

use super::metrics::OperatorMetrics;
use super::reconcile::{Ctx, on_error, reconcile_agent_deployment, reconcile_model, wall_clock};
use super::snapshots::SnapshotClient;
use crate::error::{Error, Result};
use crate::inject::InjectConfig;
use crate::webhook::{WebhookState, router, serve_tls};

/// Options of `run`.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Webhook address.
    pub webhook_listen: SocketAddr,
    /// Webhook certificate.
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
}

fn io(what: &str) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        what: what.to_string(),
        source,
    }
}

fn kube_err(what: &str) -> impl FnOnce(kube::Error) -> Error + '_ {
    move |e| Error::Tls(format!("{what}: {e}"))
}

/// Gets the installation's HMAC key, creating it (32 random bytes) on first start.
async fn hmac_key(client: &Client, ns: &str) -> Result<Vec<u8>> {
    let api: Api<Secret> = Api::namespaced(client.clone(), ns);
    if let Some(s) = api
        .get_opt(crate::dump::HMAC_SECRET)
        .await
        .map_err(kube_err("reading the HMAC key"))?
        && let Some(k) = s.data.as_ref().and_then(|d| d.get("key"))
    {
        return Ok(k.0.clone());
    }
    let mut key = vec![0u8; 32];
    rustls::crypto::ring::default_provider()
        .secure_random
        .fill(&mut key)
        .map_err(|_| Error::Tls("no secure random source".into()))?;
    let secret: Secret = serde_json::from_value(serde_json::json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": crate::dump::HMAC_SECRET, "namespace": ns, "labels": {"app.kubernetes.io/name": "agentlens"}},
        "type": "Opaque",
        "data": {"key": k8s_openapi::ByteString(key.clone())}
    }))
    .map_err(|e| Error::Parse { path: "hmac secret".into(), message: e.to_string() })?;
    match api.create(&PostParams::default(), &secret).await {
        Ok(_) => Ok(key),
        // Another replica created it first: use theirs.
        Err(kube::Error::Api(e)) if e.code == 409 => {
            let s = api
                .get(crate::dump::HMAC_SECRET)
                .await
                .map_err(kube_err("reading the HMAC key"))?;
            s.data
                .and_then(|d| d.get("key").map(|k| k.0.clone()))
                .ok_or_else(|| Error::Tls("HMAC key Secret without data.key".into()))
        }
        Err(e) => Err(kube_err("creating the HMAC key")(e)),
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
            tracing::warn!("cannot read the server version ({e}); injecting classic sidecars");
            false
        }
    }
}

fn ads_in<'a>(
    store: &'a Store<AgentDeployment>,
    ns: &'a str,
) -> impl Iterator<Item = ObjectRef<AgentDeployment>> + 'a {
    store
        .state()
        .into_iter()
        .filter(move |a| a.namespace().as_deref() == Some(ns))
        .map(|a| ObjectRef::from_obj(a.as_ref()))
}

/// Runs until SIGTERM.
pub async fn run(opts: RunOptions) -> Result<()> {
    let client = Client::try_default()
        .await
        .map_err(kube_err("connecting to the API server"))?;
    let metrics = OperatorMetrics::new().map_err(|e| Error::Tls(e.to_string()))?;
    let native = match opts.native_sidecars {
        Some(n) => n,
        None => discover_native(&client).await,
    };
    let key = hmac_key(&client, &opts.namespace).await?;

    // Reflectors shared by the controller triggers and the status computation.
    let cfg = watcher::Config::default();
    let pods = super::podindex::PodIndex::default();
    let (cms, cms_w) = reflector::store::<ConfigMap>();
    let (secrets, secrets_w) = reflector::store::<Secret>();
    let (models, models_w) = reflector::store::<Model>();
    let (evals, evals_w) = reflector::store::<Evaluation>();
    let pod_index = pods.clone();
    let pod_stream = watcher(Api::<Pod>::all(client.clone()), cfg.clone())
        .modify(super::trim::pod)
        .default_backoff()
        .inspect_ok(move |ev| pod_index.apply(ev))
        .applied_objects();
    let cm_stream = reflector::reflector(
        cms_w,
        watcher(Api::<ConfigMap>::all(client.clone()), cfg.clone())
            .modify(|o| o.metadata.managed_fields = None),
    )
    .default_backoff()
    .applied_objects();
    let secret_stream = reflector::reflector(
        secrets_w,
        watcher(Api::<Secret>::all(client.clone()), cfg.clone())
            .modify(|o| o.metadata.managed_fields = None),
    )
    .default_backoff()
    .applied_objects();
    let model_stream = reflector::reflector(
        models_w,
        watcher(Api::<Model>::all(client.clone()), cfg.clone())
            .modify(|o| o.metadata.managed_fields = None),
    )
    .default_backoff()
    .applied_objects();
    let eval_stream = reflector::reflector(
        evals_w,
        watcher(Api::<Evaluation>::all(client.clone()), cfg.clone())
            .modify(|o| o.metadata.managed_fields = None),
    )
    .default_backoff()
    .applied_objects();

    let ctx = Arc::new(Ctx {
        client: client.clone(),
        pods: pods.clone(),
        config_maps: cms,
        secrets,
        models: models.clone(),
        evaluations: evals,
        snapshots: Some(SnapshotClient::new(opts.snapshot_port, None)),
        hmac_key: Arc::new(key),
        metrics: metrics.clone(),
        now: wall_clock,
        recorder: Some(kube::runtime::events::Recorder::new(
            client.clone(),
            kube::runtime::events::Reporter {
                controller: "agentlens-operator".into(),
                instance: Some(opts.identity.clone()),
            },
        )),
    });

    let ad_controller = Controller::new(Api::<AgentDeployment>::all(client.clone()), cfg.clone())
        .with_config(kube::runtime::controller::Config::default().concurrency(16));
    let ad_store = ad_controller.store();

    // The webhook on every replica, fed from the AgentDeployment store.
    let mut inject = InjectConfig {
        native_sidecars: native,
        ..InjectConfig::default()
    };
    if let Some(i) = &opts.sidecar_image {
        inject.image = i.clone();
    }
    let webhook_state = Arc::new(WebhookState {
        agent_deployments: RwLock::new(Vec::new()),
        config: inject,
    });
    {
        let (state, store, m) = (webhook_state.clone(), ad_store.clone(), metrics.clone());
        tokio::spawn(async move {
            let mut pruned_for = std::collections::HashSet::new();
            let mut last_prune = std::time::Instant::now();
            loop {
                let ads: Vec<AgentDeployment> =
                    store.state().iter().map(|a| a.as_ref().clone()).collect();
                // Deleted systems are never reconciled again: drop their series here. Walking
                // every series is not free (17 per system), so only when the set of systems
                // changed, and once a minute for a system created and deleted between two looks.
                let live: std::collections::HashSet<(String, String)> = ads
                    .iter()
                    .map(|a| (a.namespace().unwrap_or_default(), a.name_any()))
                    .collect();
                if live != pruned_for || last_prune.elapsed() >= Duration::from_secs(60) {
                    m.retain_agent_deployments(&live);
                    pruned_for = live;
                    last_prune = std::time::Instant::now();
                }
                if let Ok(mut w) = state.agent_deployments.write() {
                    *w = ads;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
    }
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let tls = crate::tls::server_config(&opts.tls_cert, &opts.tls_key)?;
    let webhook_listener = tokio::net::TcpListener::bind(opts.webhook_listen)
        .await
        .map_err(io("binding the webhook port"))?;
    let mut stop = stop_rx.clone();
    tokio::spawn(serve_tls(
        webhook_listener,
        router(webhook_state),
        tls,
        async move {
            let _ = stop.changed().await;
        },
    ));

    // Health and metrics.
    let (lead_tx, lead_rx) = tokio::sync::watch::channel(false);
    let m2 = metrics.clone();
    let health = axum::Router::new()
        .route(
            "/metrics",
            get(move || {
                let m = m2.clone();
                async move { m.render().unwrap_or_default() }
            }),
        )
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(|| async { "ready\n" }));
    let metrics_listener = tokio::net::TcpListener::bind(opts.metrics_listen)
        .await
        .map_err(io("binding the metrics port"))?;
    tokio::spawn(async move {
        let _ = axum::serve(metrics_listener, health).await;
    });

    // Leadership.
    let leases: Api<Lease> = Api::namespaced(client.clone(), &opts.namespace);
    tokio::spawn(super::leader::run(leases, opts.identity.clone(), lead_tx));
    let mut lead = lead_rx.clone();
    while !*lead.borrow() {
        if lead.changed().await.is_err() {
            return Ok(());
        }
    }
    metrics.leader.set(1);
    tracing::info!("leading; starting the controllers");

    let (s1, s2, s3, s4) = (
        ad_store.clone(),
        ad_store.clone(),
        ad_store.clone(),
        ad_store.clone(),
    );
    let ads = ad_controller
        .watches_stream(pod_stream, move |pod: Pod| {
            let labels = pod.labels().clone();
            let ns = pod.namespace().unwrap_or_default();
            s1.state()
                .into_iter()
                .filter(|a| {
                    a.namespace().as_deref() == Some(ns.as_str())
                        && crate::selector::matches(&a.spec.selector, &labels)
                })
                .map(|a| ObjectRef::from_obj(a.as_ref()))
                .collect::<Vec<_>>()
        })
        .watches_stream(cm_stream, move |cm: ConfigMap| {
            ads_in(&s2, &cm.namespace().unwrap_or_default()).collect::<Vec<_>>()
        })
        .watches_stream(secret_stream, move |s: Secret| {
            ads_in(&s3, &s.namespace().unwrap_or_default()).collect::<Vec<_>>()
        })
        .watches_stream(eval_stream, move |e: Evaluation| {
            let ns = e.namespace().unwrap_or_default();
            ads_in(&s4, &ns)
                .filter(|r| r.name == e.spec.agent_deployment)
                .collect::<Vec<_>>()
        })
        .graceful_shutdown_on({
            let mut stop = stop_rx.clone();
            async move {
                let _ = stop.changed().await;
            }
        })
        .run(
            reconcile_agent_deployment,
            on_error("agentdeployment"),
            ctx.clone(),
        )
        .for_each_concurrent(16, |_| async {});
    let model_ctl = Controller::for_stream(model_stream, models)
        .graceful_shutdown_on({
            let mut stop = stop_rx.clone();
            async move {
                let _ = stop.changed().await;
            }
        })
        .run(reconcile_model, on_error("model"), ctx)
        .for_each(|_| async {});

    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(io("installing SIGTERM"))?;
    tokio::select! {
        () = ads => {}
        () = model_ctl => {}
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
        // Lost the lease: stop writing; the process exits and restarts as a follower.
        _ = async { while lead.changed().await.is_ok() { if !*lead.borrow() { break; } } } => {
            tracing::warn!("lost the leader lease");
        }
    }
    let _ = stop_tx.send(true);
    metrics.leader.set(0);
    Ok(())
}
