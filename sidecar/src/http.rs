//! The sidecar's HTTP endpoints (port 9477): `/metrics`, `/v1/snapshot`, `/v1/tracebacks`,
//! `/v1/inventory`, `/healthz`, `/readyz`. Handlers only read published state; nothing here
//! blocks. `/v1/*` is behind the bearer token ([`crate::auth`]); connections are limited.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Serialize;

use crate::auth::ApiAuth;
use crate::shared::Shared;
use crate::snapshot;

/// Connections the metrics/API server serves at once; more wait in the listen backlog.
pub const MAX_CONNECTIONS: usize = 128;
/// Largest read buffer of a connection, in bytes.
const READ_BUFFER: usize = 16 * 1024;
/// Time a client has to send its request headers.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// The router over the shared state; `/v1/*` answers only what `auth` allows.
pub fn router(shared: Arc<Shared>, auth: ApiAuth) -> Router {
    let api = Router::new()
        .route("/v1/snapshot", get(snapshot_json))
        .route("/v1/tracebacks", get(tracebacks))
        .route("/v1/inventory", get(inventory))
        .route_layer(axum::middleware::from_fn_with_state(auth, require_token));
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .merge(api)
        .with_state(shared)
}

async fn require_token(
    State(auth): State<ApiAuth>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let header = req
        .headers()
        .get(header::AUTHORIZATION)
        .map(axum::http::HeaderValue::as_bytes);
    if auth.allows(header) {
        return next.run(req).await;
    }
    let text = match auth {
        ApiAuth::Refuse => {
            "/v1/* needs a token: the sidecar was started without --api-token-sha256\n"
        }
        _ => "/v1/* needs Authorization: Bearer <token>\n",
    };
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, "Bearer")],
        text,
    )
        .into_response()
}

/// Serves the endpoints on `listener` until `stop` changes; errors are logged, never fatal.
pub fn spawn(
    listener: tokio::net::TcpListener,
    shared: Arc<Shared>,
    auth: ApiAuth,
    stop: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    serve_until(
        listener,
        router(shared, auth),
        stop,
        "metrics server",
        MAX_CONNECTIONS,
    )
}

/// Serves `router` on `listener` until `stop` changes, at most `max_connections` at once
/// (a slot is taken before a connection is accepted); `what` names it in the log.
pub fn serve_until(
    listener: tokio::net::TcpListener,
    router: Router,
    mut stop: tokio::sync::watch::Receiver<bool>,
    what: &'static str,
    max_connections: usize,
) -> tokio::task::JoinHandle<()> {
    use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
    tokio::spawn(async move {
        let slots = Arc::new(tokio::sync::Semaphore::new(max_connections));
        // HTTP/1.1 only (OTLP/HTTP exporters and Prometheus speak it): an h2c connection would
        // escape the header timeout and hold its slot idle.
        let mut builder =
            hyper_util::server::conn::auto::Builder::new(TokioExecutor::new()).http1_only();
        // A small read buffer per connection: many slow uploads cost little memory.
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(HEADER_TIMEOUT)
            .max_buf_size(READ_BUFFER);
        loop {
            let slot = tokio::select! {
                _ = stop.changed() => break,
                s = slots.clone().acquire_owned() => match s {
                    Ok(s) => s,
                    Err(_) => break,
                },
            };
            let stream = tokio::select! {
                _ = stop.changed() => break,
                r = listener.accept() => match r {
                    Ok((stream, _)) => stream,
                    Err(e) => {
                        // Out of file descriptors and the like: back off, keep serving.
                        tracing::warn!("{what}: accept: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
            };
            let svc = hyper_util::service::TowerToHyperService::new(router.clone());
            let builder = builder.clone();
            tokio::spawn(async move {
                // The slot is held from the accept: a client that connects and sends nothing
                // (before hyper knows the protocol, so before its header timeout applies) is
                // closed after the header timeout, its slot given back.
                let mut first = [0u8; 1];
                match tokio::time::timeout(HEADER_TIMEOUT, stream.peek(&mut first)).await {
                    Ok(Ok(n)) if n > 0 => {}
                    _ => {
                        tracing::debug!("{what}: connection closed or idle before its request");
                        drop(slot);
                        return;
                    }
                }
                if let Err(e) = builder
                    .serve_connection_with_upgrades(TokioIo::new(stream), svc)
                    .await
                {
                    tracing::debug!("{what}: connection: {e}");
                }
                drop(slot);
            });
        }
    })
}

async fn metrics(State(s): State<Arc<Shared>>) -> Response {
    s.last_scrape_ms
        .store(crate::clock::now_ms(), Ordering::Relaxed);
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
    let m = s.inventories();
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
    crate::clock::time(ms).0.to_string()
}

async fn tracebacks(State(s): State<Arc<Shared>>) -> Response {
    let obs = s.observations();
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
