//! The webhook's HTTPS server: `POST /mutate-pods`, `GET /healthz`, `GET /readyz`. The
//! handler is thin; the decision lives in [`crate::admission`] and [`crate::inject`].

use std::collections::BTreeMap;
use std::sync::Arc;

use agentlens_crds::AgentDeployment;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use rustls::ServerConfig;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::admission::{self, MAX_BODY};
use crate::inject::InjectConfig;

/// AgentDeployments by namespace, as the webhook reads them.
pub type AdsByNamespace = Arc<BTreeMap<String, Arc<Vec<AgentDeployment>>>>;

/// What the handler reads.
#[derive(Debug)]
pub struct WebhookState {
    /// AgentDeployments known by namespace: kept current by the operator's cache, or fixed
    /// (the files of `--agentdeployments`). A request clones one `Arc`, never the objects.
    pub agent_deployments: tokio::sync::watch::Receiver<AdsByNamespace>,
    /// Injection defaults.
    pub config: InjectConfig,
    /// Where answered reviews are counted and timed (`None`: the standalone webhook, which
    /// serves no `/metrics`).
    pub metrics: Option<crate::controller::metrics::OperatorMetrics>,
}

impl WebhookState {
    /// A webhook deciding on a fixed set of AgentDeployments.
    pub fn fixed(ads: Vec<AgentDeployment>, config: InjectConfig) -> Self {
        let mut by_ns: BTreeMap<String, Vec<AgentDeployment>> = BTreeMap::new();
        for a in ads {
            by_ns
                .entry(a.metadata.namespace.clone().unwrap_or_default())
                .or_default()
                .push(a);
        }
        let view: AdsByNamespace =
            Arc::new(by_ns.into_iter().map(|(n, v)| (n, Arc::new(v))).collect());
        Self {
            agent_deployments: tokio::sync::watch::channel(view).1,
            config,
            metrics: None,
        }
    }
}

/// The AgentDeployments that apply in one namespace: its own and, for files without a
/// namespace given to the standalone webhook, those (kept under `""`).
enum InNamespace {
    Shared(Arc<Vec<AgentDeployment>>),
    Merged(Vec<AgentDeployment>),
}

impl InNamespace {
    fn of(view: &AdsByNamespace, ns: &str) -> Self {
        match (view.get(ns), view.get("")) {
            (Some(own), None) => InNamespace::Shared(own.clone()),
            (None, Some(any)) => InNamespace::Shared(any.clone()),
            (None, None) => InNamespace::Merged(Vec::new()),
            (Some(own), Some(any)) => {
                InNamespace::Merged(own.iter().chain(any.iter()).cloned().collect())
            }
        }
    }
}

impl AsRef<[AgentDeployment]> for InNamespace {
    fn as_ref(&self) -> &[AgentDeployment] {
        match self {
            InNamespace::Shared(v) => v.as_slice(),
            InNamespace::Merged(v) => v.as_slice(),
        }
    }
}

/// The router.
pub fn router(state: Arc<WebhookState>) -> Router {
    Router::new()
        .route("/mutate-pods", post(mutate))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(|| async { "ready\n" }))
        // Above the admission limit, so oversized bodies get our own clear 413.
        .layer(DefaultBodyLimit::max(MAX_BODY + 64 * 1024))
        .with_state(state)
}

async fn mutate(State(s): State<Arc<WebhookState>>, body: Bytes) -> Response {
    let start = std::time::Instant::now();
    let view = s.agent_deployments.borrow().clone();
    let answer = admission::review_in(&body, |ns| InNamespace::of(&view, ns), &s.config);
    tracing::debug!(outcome = answer.outcome.as_str(), "admission review");
    if let Some(m) = &s.metrics {
        m.webhook_requests
            .with_label_values(&[answer.outcome.as_str()])
            .inc();
        m.webhook_duration.observe(start.elapsed().as_secs_f64());
    }
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        answer.body,
    )
        .into_response()
}

/// Serves `router` over TLS on `listener` until `shutdown` resolves. A failed handshake or
/// connection affects only that connection.
pub async fn serve_tls(
    listener: TcpListener,
    router: Router,
    tls: Arc<ServerConfig>,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let acceptor = TlsAcceptor::from(tls);
    tokio::pin!(shutdown);
    loop {
        let (tcp, _peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!("accept: {e}");
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let acceptor = acceptor.clone();
        let service = TowerToHyperService::new(router.clone());
        tokio::spawn(async move {
            let Ok(tls) = acceptor.accept(tcp).await else {
                return;
            };
            let _ = auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(tls), service)
                .await;
        });
    }
}
