//! The latency proxy (`--proxy-listen`, `--proxy-upstream`; port 15080 in a pod): a reverse
//! proxy on hyper that measures every request in front of the agent's own port.
//!
//! HTTP/1.1 and h2c (prior knowledge) are accepted; an HTTP/2 request goes upstream as h2c
//! (one shared, multiplexed connection pool), an HTTP/1 one as HTTP/1.1 on an upstream
//! connection of its own client connection (opened on its first request, reopened when the
//! upstream closes it): no pool to look up on the hot path, and an upstream that keeps state
//! per connection sees one client per connection, as without the proxy. Bodies are streamed frame by
//! frame in both directions (server-sent events and chunked LLM answers reach the client as the
//! upstream produces them); upgrades (WebSocket) are spliced through. Upstream failures are
//! answered 502 (connect, reset) or 504 (no response headers within the timeout) and counted.

mod body;
mod headers;
pub mod route;
mod upstream;

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Request, Response, StatusCode, Version};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};

pub use body::ProxyBody;
use body::{Inner, Recorder};
use headers::{forwarded_headers, is_upgrade, strip_hop_by_hop};
pub use upstream::Upstream1;

use crate::shared::Shared;
use route::Routes;

/// Default port of the proxy in a pod.
pub const DEFAULT_PORT: u16 = 15080;
/// Default time the upstream has to send response headers (LLM calls can take minutes).
pub const DEFAULT_RESPONSE_TIMEOUT: Duration = Duration::from_secs(300);

/// How the proxy is set up.
#[derive(Debug, Clone)]
pub struct ProxyConfig {
    /// The agent's address, `host:port`.
    pub upstream: String,
    /// Route templates for the `route` label.
    pub routes: Vec<String>,
    /// Time the upstream has to send response headers before the client gets a 504.
    pub response_timeout: Duration,
}

/// The proxy's state, shared by its connections.
pub struct Proxy {
    upstream: String,
    routes: Mutex<Routes>,
    timeout: Duration,
    h2: Client<HttpConnector, Incoming>,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Proxy")
            .field("upstream", &self.upstream)
            .finish()
    }
}

impl Proxy {
    /// A proxy to `cfg.upstream` recording into `shared`.
    pub fn new(cfg: ProxyConfig, shared: Arc<Shared>) -> Arc<Self> {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(Duration::from_secs(5)));
        let h2 = Client::builder(TokioExecutor::new())
            .http2_only(true)
            .pool_idle_timeout(Duration::from_secs(60))
            .build(connector);
        shared.metrics.init_proxy();
        Arc::new(Self {
            upstream: cfg.upstream,
            routes: Mutex::new(Routes::new(&cfg.routes)),
            timeout: cfg.response_timeout,
            h2,
            shared,
        })
    }

    fn route(&self, path: &str) -> Arc<str> {
        self.routes
            .lock()
            .map(|mut r| r.label(path))
            .unwrap_or_else(|_| Arc::from(route::OTHER))
    }

    /// Handles one request.
    pub async fn handle(
        self: Arc<Self>,
        mut req: Request<Incoming>,
        conn: &Upstream1,
    ) -> Response<ProxyBody> {
        let start = Instant::now();
        let mut rec = Recorder {
            proxy: self.clone(),
            route: self.route(req.uri().path()),
            method: route::method(req.method()),
            code: None,
            streamed: "false",
            start,
            first_byte: false,
            done: false,
        };
        let h2 = req.version() == Version::HTTP_2;
        let upgrade = !h2 && is_upgrade(req.headers());
        let client_upgrade = upgrade.then(|| hyper::upgrade::on(&mut req));

        let original_host = req.headers().get(header::HOST).cloned().or_else(|| {
            req.uri()
                .authority()
                .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
        });
        let pq = req
            .uri()
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_string();
        // HTTP/2 goes through the pool with an absolute URI; HTTP/1 on its own connection
        // with the origin form (and the client's Host header, or the upstream's).
        let uri = if h2 {
            hyper::Uri::builder()
                .scheme("http")
                .authority(self.upstream.as_str())
                .path_and_query(pq)
                .build()
        } else {
            hyper::Uri::builder().path_and_query(pq).build()
        };
        let Ok(uri) = uri else {
            return rec.fail(StatusCode::BAD_REQUEST, "other", "bad request target");
        };
        *req.uri_mut() = uri;
        strip_hop_by_hop(req.headers_mut(), upgrade);
        forwarded_headers(req.headers_mut(), &conn.peer_ip, original_host);
        let sent = if h2 {
            *req.version_mut() = Version::HTTP_2;
            tokio::time::timeout(self.timeout, async {
                self.h2.request(req).await.map_err(|e| {
                    tracing::debug!("proxy: upstream {}: {e}", self.upstream);
                    if e.is_connect() { "connect" } else { "other" }
                })
            })
            .await
        } else {
            *req.version_mut() = Version::HTTP_11;
            if !req.headers().contains_key(header::HOST)
                && let Ok(v) = HeaderValue::from_str(&self.upstream)
            {
                req.headers_mut().insert(header::HOST, v);
            }
            tokio::time::timeout(self.timeout, conn.send(&self.upstream, req, upgrade)).await
        };
        let mut resp = match sent {
            Err(_) => {
                return rec.fail(
                    StatusCode::GATEWAY_TIMEOUT,
                    "timeout",
                    "upstream sent no response in time",
                );
            }
            Ok(Err(kind)) => {
                return rec.fail(StatusCode::BAD_GATEWAY, kind, "upstream unavailable");
            }
            Ok(Ok(r)) => r,
        };
        rec.code = Some(resp.status());
        rec.streamed = headers::streamed(resp.headers());
        if resp.status() == StatusCode::SWITCHING_PROTOCOLS {
            if let Some(client_up) = client_upgrade {
                let upstream_up = hyper::upgrade::on(&mut resp);
                tokio::spawn(async move {
                    if let (Ok(c), Ok(u)) = tokio::join!(client_up, upstream_up) {
                        let _ = tokio::io::copy_bidirectional(
                            &mut TokioIo::new(c),
                            &mut TokioIo::new(u),
                        )
                        .await;
                    }
                });
            }
            // The upgraded connection's lifetime is not a request latency.
            rec.finish(false);
            let (parts, _) = resp.into_parts();
            return Response::from_parts(parts, ProxyBody::full(Bytes::new(), None));
        }
        strip_hop_by_hop(resp.headers_mut(), false);
        let (parts, body) = resp.into_parts();
        Response::from_parts(
            parts,
            ProxyBody {
                inner: Inner::Upstream(body),
                rec: Some(rec),
            },
        )
    }
}

/// Serves the proxy on `listener` until `stop` changes.
pub fn spawn(
    listener: tokio::net::TcpListener,
    proxy: Arc<Proxy>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
        loop {
            let (stream, peer) = tokio::select! {
                _ = stop.changed() => break,
                r = listener.accept() => match r {
                    Ok(x) => x,
                    Err(e) => {
                        // Out of file descriptors and the like: back off, keep serving.
                        tracing::warn!("proxy: accept: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
            };
            let _ = stream.set_nodelay(true);
            let proxy = proxy.clone();
            let builder = builder.clone();
            tokio::spawn(async move {
                let conn = Arc::new(Upstream1::new(peer));
                let svc = hyper::service::service_fn(move |req| {
                    let p = proxy.clone();
                    let conn = conn.clone();
                    async move { Ok::<_, Infallible>(p.handle(req, &conn).await) }
                });
                if let Err(e) = builder
                    .serve_connection_with_upgrades(TokioIo::new(stream), svc)
                    .await
                {
                    tracing::debug!("proxy: connection from {peer}: {e}");
                }
            });
        }
    })
}
