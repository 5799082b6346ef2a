//! The console's HTTP server: read-only, loopback by default. One task owns the snapshot: it
//! reads the source every few seconds and publishes a new immutable snapshot only when a page
//! would change; the handlers render from the latest one. The pages' script long-polls
//! `/api/version`, so a browser fetches a page again only after a change.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine as _;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use sha2::{Digest, Sha256};
use tokio::sync::watch;

use super::facts::Snapshot;
use super::pages::{self, CSS, Mode, SCRIPT};
use super::source::Source;
use crate::error::{Error, Result, chain};

/// How long `/api/version` waits for a change before answering with the same version.
const LONG_POLL: Duration = Duration::from_secs(25);

/// Reads `source` every `every` and publishes each changed snapshot on `tx`, until every
/// receiver is gone. Each run of failures is logged once (and again when the error changes).
pub async fn poll(source: Source, every: Duration, tx: watch::Sender<Arc<Snapshot>>) {
    let mut last_good: Option<Time> = None;
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let now = Time(k8s_openapi::jiff::Timestamp::now());
        let read = source.read().await.map_err(|e| chain(&e));
        if read.is_ok() {
            last_good = Some(now.clone());
        }
        let current = tx.borrow().clone();
        if let Some(next) = current.advance(read, &now, last_good.as_ref()) {
            if let Some(f) = &next.source.failing {
                tracing::warn!(source = %next.source.label, error = %f.message, "console source unreadable; pages show the last good read");
            }
            if tx.send(Arc::new(next)).is_err() {
                return;
            }
        }
    }
}

#[derive(Clone)]
struct AppState {
    rx: watch::Receiver<Arc<Snapshot>>,
    mode: Mode,
    /// `Content-Security-Policy`: the inlined stylesheet by its hash, the script from here.
    csp: HeaderValue,
    /// Whether any Host header is accepted (`--allow-non-loopback`).
    any_host: bool,
}

fn now() -> Time {
    Time(k8s_openapi::jiff::Timestamp::now())
}

fn html(result: Result<String>, status: StatusCode) -> Response {
    match result {
        Ok(body) => (
            status,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            body,
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %chain(&e), "console page");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the page could not be rendered; see the console's log",
            )
                .into_response()
        }
    }
}

async fn overview(State(s): State<AppState>) -> Response {
    let snap = s.rx.borrow().clone();
    html(pages::overview_page(&snap, s.mode, &now()), StatusCode::OK)
}

async fn system(State(s): State<AppState>, Path((ns, name)): Path<(String, String)>) -> Response {
    let snap = s.rx.borrow().clone();
    match pages::system_page(&snap, &ns, &name, s.mode, &now()) {
        Ok(Some(page)) => html(Ok(page), StatusCode::OK),
        Ok(None) => html(
            pages::missing_page(&snap, &ns, &name, s.mode, &now()),
            StatusCode::NOT_FOUND,
        ),
        Err(e) => html(Err(e), StatusCode::OK),
    }
}

async fn script() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        SCRIPT,
    )
        .into_response()
}

/// The current version as text, once it differs from `after=N` or after [`LONG_POLL`].
async fn version(State(mut s): State<AppState>, RawQuery(q): RawQuery) -> String {
    let after: Option<u64> = q
        .as_deref()
        .and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("after=")))
        .and_then(|v| v.parse().ok());
    let current = s.rx.borrow_and_update().version;
    if after == Some(current) {
        let _ = tokio::time::timeout(LONG_POLL, s.rx.changed()).await;
    }
    s.rx.borrow().version.to_string()
}

/// Whether a Host header names this machine's loopback (a page elsewhere that resolves its own
/// name to 127.0.0.1 must not read the user's cluster through the console: DNS rebinding).
pub fn loopback_host(host: &str) -> bool {
    let name = match host.rsplit_once(':') {
        Some((n, port)) if port.chars().all(|c| c.is_ascii_digit()) => n,
        _ => host,
    };
    let name = name.trim_start_matches('[').trim_end_matches(']');
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

async fn guard(State(s): State<AppState>, req: Request, next: Next) -> Response {
    let host_ok = s.any_host
        || req
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .is_some_and(loopback_host);
    if !host_ok {
        return (
            StatusCode::MISDIRECTED_REQUEST,
            "the console answers on loopback names only",
        )
            .into_response();
    }
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, s.csp.clone());
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    resp
}

/// `Content-Security-Policy` of the served pages: nothing from elsewhere, the inlined
/// stylesheet by its SHA-256, the script and the version requests from this server only.
pub fn content_security_policy() -> String {
    let hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(CSS.as_bytes()));
    format!(
        "default-src 'none'; style-src 'sha256-{hash}'; script-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )
}

/// The router over a snapshot channel.
pub fn router(
    rx: watch::Receiver<Arc<Snapshot>>,
    refresh_seconds: u64,
    any_host: bool,
) -> Result<Router> {
    let csp = HeaderValue::from_str(&content_security_policy()).map_err(|e| Error::Io {
        what: "building the Content-Security-Policy header".into(),
        source: std::io::Error::other(e),
    })?;
    let state = AppState {
        rx,
        mode: Mode::Served { refresh_seconds },
        csp,
        any_host,
    };
    Ok(Router::new()
        .route("/", get(overview))
        .route("/systems/{ns}/{name}", get(system))
        .route("/console.js", get(script))
        .route("/api/version", get(version))
        .layer(middleware::from_fn_with_state(state.clone(), guard))
        .with_state(state))
}

/// Serves on `listener` until the process ends; `poll` must feed `rx`.
pub async fn serve(listener: tokio::net::TcpListener, app: Router) -> Result<()> {
    axum::serve(listener, app)
        .await
        .map_err(|source| Error::Io {
            what: "serving the console".into(),
            source,
        })
}

/// Binds `addr`: loopback only unless `allow_non_loopback` (the console reads with the user's
/// credentials; anyone who can reach it sees what the user may see).
pub async fn bind(addr: SocketAddr, allow_non_loopback: bool) -> Result<tokio::net::TcpListener> {
    if !addr.ip().is_loopback() && !allow_non_loopback {
        return Err(Error::Io {
            what: format!("refusing to listen on {addr}"),
            source: std::io::Error::other(
                "the console reads with your credentials; listen on 127.0.0.1 (or pass --allow-non-loopback)",
            ),
        });
    }
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| Error::Io {
            what: format!("listening on {addr}"),
            source,
        })
}
