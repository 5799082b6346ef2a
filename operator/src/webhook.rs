//! The webhook's HTTPS server: `POST /mutate-pods`, `GET /healthz`, `GET /readyz`. The
//! handler is thin; the decision lives in [`crate::admission`] and [`crate::inject`].

use std::sync::{Arc, RwLock};

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

/// What the handler reads.
#[derive(Debug)]
pub struct WebhookState {
    /// AgentDeployments known (the operator's cache, or the files of `--agentdeployments`).
    pub agent_deployments: RwLock<Vec<AgentDeployment>>,
    /// Injection defaults.
    pub config: InjectConfig,
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
    let ads = s
        .agent_deployments
        .read()
        .map(|a| a.clone())
        .unwrap_or_default();
    let answer = admission::review(&body, &ads, &s.config);
    tracing::debug!(outcome = answer.outcome.as_str(), "admission review");
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
