//! The sidecar's HTTP endpoints (port 9477): `/metrics`, `/v1/snapshot`, `/v1/tracebacks`,
//! `/healthz`, `/readyz`. Handlers only read shared state; nothing here blocks.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Serialize;

use crate::shared::Shared;
use crate::snapshot;

/// The router over the shared state.
pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/v1/snapshot", get(snapshot_json))
        .route("/v1/tracebacks", get(tracebacks))
        .route("/v1/inventory", get(inventory))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .with_state(shared)
}

/// Serves the endpoints on `listener` until `stop` changes; errors are logged, never fatal.
pub fn spawn(
    listener: tokio::net::TcpListener,
    shared: Arc<Shared>,
    stop: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    serve_until(listener, router(shared), stop, "metrics server")
}

/// Serves `router` on `listener` until `stop` changes; `what` names it in the log.
pub fn serve_until(
    listener: tokio::net::TcpListener,
    router: Router,
    mut stop: tokio::sync::watch::Receiver<bool>,
    what: &'static str,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let shutdown = async move {
            let _ = stop.changed().await;
        };
        if let Err(e) = axum::serve(listener, router)
            .with_graceful_shutdown(shutdown)
            .await
        {
            tracing::warn!("{what} stopped: {e}");
        }
    })
}

async fn metrics(State(s): State<Arc<Shared>>) -> Response {
    s.last_scrape_ms
        .store(crate::sample::now_ms(), Ordering::Relaxed);
    match s.metrics.render() {
        Ok(body) => (
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            body,
        )
            .into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("encoding metrics: {e}\n"),
        )
            .into_response(),
    }
}

async fn snapshot_json(State(s): State<Arc<Shared>>) -> Response {
    axum::Json(snapshot::build(&s)).into_response()
}

#[derive(serde::Deserialize)]
struct InventoryQuery {
    container: Option<String>,
}

/// CycloneDX 1.5: the pod's (every container nested), or one container's with `?container=`.
async fn inventory(
    State(s): State<Arc<Shared>>,
    axum::extract::Query(q): axum::extract::Query<InventoryQuery>,
) -> Response {
    let Ok(m) = s.inventory.lock().map(|m| m.clone()) else {
        return (StatusCode::INTERNAL_SERVER_ERROR, "state unavailable\n").into_response();
    };
    let doc = match q.container {
        Some(c) => match m.get(&c) {
            Some(inv) => crate::inventory::cyclonedx::container_bom(inv),
            None => {
                return (
                    StatusCode::NOT_FOUND,
                    format!("no inventory of container {c:?} (yet)\n"),
                )
                    .into_response();
            }
        },
        None if m.is_empty() => {
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                "the inventory is not collected yet\n",
            )
                .into_response();
        }
        None => {
            let name = s.pod.as_ref().map_or_else(
                || "agentlens-sidecar run".to_string(),
                |p| format!("{}/{}", p.namespace, p.name),
            );
            let invs: Vec<&crate::inventory::ContainerInventory> =
                m.values().map(|i| &**i).collect();
            crate::inventory::cyclonedx::pod_bom(&name, &invs)
        }
    };
    (
        [(
            header::CONTENT_TYPE,
            "application/vnd.cyclonedx+json; version=1.5",
        )],
        axum::Json(doc),
    )
        .into_response()
}

async fn readyz(State(s): State<Arc<Shared>>) -> Response {
    if s.ready.load(Ordering::Acquire) {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "waiting for the first sample\n",
        )
            .into_response()
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TracebackOut {
    fingerprint: String,
    language: &'static str,
    exception: String,
    message: String,
    frame: Option<String>,
    container: String,
    count: u64,
    first_at: String,
    last_at: String,
    gpu_oom: bool,
    lines: Vec<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ErrorLineOut {
    container: String,
    stream: &'static str,
    at: String,
    line: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TracebacksOut {
    tracebacks: Vec<TracebackOut>,
    recent_error_lines: Vec<ErrorLineOut>,
    dropped: std::collections::BTreeMap<&'static str, u64>,
}

fn rfc3339(ms: u64) -> String {
    snapshot::time(ms).0.to_string()
}

async fn tracebacks(State(s): State<Arc<Shared>>) -> Response {
    let Ok(obs) = s.observations.lock() else {
        return (StatusCode::INTERNAL_SERVER_ERROR, "state unavailable\n").into_response();
    };
    let out = TracebacksOut {
        tracebacks: obs
            .groups()
            .into_iter()
            .map(|g| TracebackOut {
                fingerprint: g.fingerprint.clone(),
                language: g.language,
                exception: g.exception.clone(),
                message: g.message.clone(),
                frame: g.frame.clone(),
                container: g.container.clone(),
                count: g.count,
                first_at: rfc3339(g.first_ms),
                last_at: rfc3339(g.last_ms),
                gpu_oom: g.gpu_oom,
                lines: g.lines.clone(),
            })
            .collect(),
        recent_error_lines: obs
            .error_lines()
            .map(|l| ErrorLineOut {
                container: l.container.clone(),
                stream: l.stream,
                at: rfc3339(l.at_ms),
                line: l.line.clone(),
            })
            .collect(),
        dropped: obs.dropped().clone(),
    };
    drop(obs);
    axum::Json(out).into_response()
}
