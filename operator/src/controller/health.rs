//! `/metrics`, `/healthz` and `/readyz` of `agentlens-operator run`. Ready means this replica's
//! cache has listed every watched kind, so its webhook decides on every AgentDeployment and, if
//! it leads, its reconciles see the cluster as it is.

use axum::http::StatusCode;
use axum::routing::get;
use tokio::sync::watch;

use super::metrics::OperatorMetrics;

/// The router.
pub fn router(metrics: OperatorMetrics, ready: watch::Receiver<bool>) -> axum::Router {
    axum::Router::new()
        .route(
            "/metrics",
            get(move || {
                let m = metrics.clone();
                async move {
                    match m.render() {
                        Ok(body) => (StatusCode::OK, body),
                        Err(e) => {
                            tracing::warn!("rendering /metrics: {e}");
                            (StatusCode::INTERNAL_SERVER_ERROR, Vec::new())
                        }
                    }
                }
            }),
        )
        .route("/healthz", get(|| async { "ok\n" }))
        .route(
            "/readyz",
            get(move || {
                let ready = *ready.borrow();
                async move {
                    if ready {
                        (StatusCode::OK, "ready\n")
                    } else {
                        (StatusCode::SERVICE_UNAVAILABLE, "cache not synced\n")
                    }
                }
            }),
        )
}
