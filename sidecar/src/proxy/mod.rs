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

pub mod route;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::{Request, Response, StatusCode, Version};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};

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

/// One client connection: its address and its upstream HTTP/1.1 connection.
pub struct Upstream1 {
    peer_ip: HeaderValue,
    sender: Mutex<Option<hyper::client::conn::http1::SendRequest<Incoming>>>,
}

impl Upstream1 {
    /// State for a connection from `peer`.
    pub fn new(peer: SocketAddr) -> Self {
        Self {
            peer_ip: HeaderValue::from_str(&peer.ip().to_string())
                .unwrap_or_else(|_| HeaderValue::from_static("unknown")),
            sender: Mutex::new(None),
        }
    }

    /// Sends `req` on this client connection's upstream connection, opening it when there is
    /// none or the upstream closed it. Errors are the `kind` label of the upstream error.
    async fn send(
        &self,
        upstream: &str,
        mut req: Request<Incoming>,
        upgrade: bool,
    ) -> Result<Response<Incoming>, &'static str> {
        let cached = self.sender.lock().ok().and_then(|mut s| s.take());
        let mut reused = cached.as_ref().is_some_and(|s| !s.is_closed());
        let mut sender = match cached {
            Some(s) if reused => s,
            _ => connect(upstream).await?,
        };
        loop {
            sender.ready().await.map_err(|_| "other")?;
            match sender.try_send_request(req).await {
                Ok(r) => {
                    // An upgraded connection is the client's from now on; otherwise it is
                    // kept for this client connection's next request.
                    if !upgrade && let Ok(mut s) = self.sender.lock() {
                        *s = Some(sender);
                    }
                    return Ok(r);
                }
                Err(mut e) => {
                    // The upstream closed a kept-alive connection before taking the request:
                    // it was never sent, so it goes once more on a fresh connection.
                    match e.take_message() {
                        Some(unsent) if reused => {
                            req = unsent;
                            reused = false;
                            sender = connect(upstream).await?;
                        }
                        _ => {
                            tracing::debug!("proxy: upstream {upstream}: {}", e.error());
                            return Err("other");
                        }
                    }
                }
            }
        }
    }
}

async fn connect(
    upstream: &str,
) -> Result<hyper::client::conn::http1::SendRequest<Incoming>, &'static str> {
    let stream = tokio::time::timeout(
        Duration::from_secs(5),
        tokio::net::TcpStream::connect(upstream),
    )
    .await
    .map_err(|_| "connect")?
    .map_err(|e| {
        tracing::debug!("proxy: connecting to {upstream}: {e}");
        "connect"
    })?;
    let _ = stream.set_nodelay(true);
    let (sender, conn) = hyper::client::conn::http1::Builder::new()
        .handshake(TokioIo::new(stream))
        .await
        .map_err(|_| "connect")?;
    tokio::spawn(async move {
        if let Err(e) = conn.with_upgrades().await {
            tracing::debug!("proxy: upstream connection: {e}");
        }
    });
    Ok(sender)
}

fn is_upgrade(h: &HeaderMap) -> bool {
    h.contains_key(header::UPGRADE)
        && h.get_all(header::CONNECTION).iter().any(|v| {
            v.to_str().is_ok_and(|s| {
                s.split(',')
                    .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
            })
        })
}

/// Removes the headers that belong to one hop (RFC 9110 7.6.1), keeping `Connection: upgrade`
/// and `Upgrade` on an upgrade request and `TE: trailers` (gRPC).
fn strip_hop_by_hop(h: &mut HeaderMap, upgrade: bool) {
    const HOP: [&str; 8] = [
        "connection",
        "keep-alive",
        "proxy-connection",
        "transfer-encoding",
        "trailer",
        "proxy-authenticate",
        "te",
        "upgrade",
    ];
    // The common case has none of them: one pass over the names, no lookups.
    if !upgrade && !h.keys().any(|k| HOP.contains(&k.as_str())) {
        return;
    }
    let named: Vec<HeaderName> = h
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|s| s.split(','))
        .filter_map(|t| HeaderName::from_bytes(t.trim().as_bytes()).ok())
        .filter(|n| !(upgrade && n == header::UPGRADE))
        .collect();
    for n in named {
        h.remove(n);
    }
    for n in [
        "keep-alive",
        "proxy-connection",
        "transfer-encoding",
        "trailer",
        "proxy-authenticate",
    ] {
        h.remove(n);
    }
    if h.get(header::TE)
        .is_some_and(|v| !v.as_bytes().eq_ignore_ascii_case(b"trailers"))
    {
        h.remove(header::TE);
    }
    if upgrade {
        h.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    } else {
        h.remove(header::CONNECTION);
        h.remove(header::UPGRADE);
    }
}

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");

fn forwarded_headers(h: &mut HeaderMap, ip: &HeaderValue, host: Option<HeaderValue>) {
    let xff = match h.get(&X_FORWARDED_FOR).and_then(|v| v.to_str().ok()) {
        Some(prev) if !prev.trim().is_empty() => {
            HeaderValue::from_str(&format!("{prev}, {}", ip.to_str().unwrap_or("unknown"))).ok()
        }
        _ => Some(ip.clone()),
    };
    if let Some(v) = xff {
        h.insert(X_FORWARDED_FOR, v);
    }
    if !h.contains_key(&X_FORWARDED_PROTO) {
        h.insert(X_FORWARDED_PROTO, HeaderValue::from_static("http"));
    }
    if let Some(host) = host
        && !h.contains_key(&X_FORWARDED_HOST)
    {
        h.insert(X_FORWARDED_HOST, host);
    }
}

/// Records one request's metrics exactly once: when its response body ends, fails, or is
/// dropped unfinished (the client went away: code 499, as nginx reports it).
struct Recorder {
    proxy: Arc<Proxy>,
    route: Arc<str>,
    method: &'static str,
    code: Option<StatusCode>,
    start: Instant,
    first_byte: bool,
    done: bool,
}

impl Recorder {
    fn first_byte(&mut self) {
        if !self.first_byte {
            self.first_byte = true;
            self.proxy
                .shared
                .metrics
                .request_first_byte
                .with_label_values(&[&*self.route, self.method])
                .observe(self.start.elapsed().as_secs_f64());
        }
    }

    fn finish(&mut self, aborted: bool) {
        if self.done {
            return;
        }
        self.done = true;
        if !aborted {
            self.first_byte();
        }
        let secs = self.start.elapsed().as_secs_f64();
        let code = match (aborted, &self.code) {
            (true, _) | (false, None) => "499",
            (false, Some(c)) => c.as_str(),
        };
        let m = &self.proxy.shared.metrics;
        m.request_duration
            .with_label_values(&[&*self.route, self.method, code])
            .observe(secs);
        let error = self.code.is_some_and(|c| c.is_server_error());
        self.proxy.shared.latency.observe(secs, error);
    }

    /// An error answer of the proxy itself.
    fn fail(mut self, status: StatusCode, kind: &str, text: &str) -> Response<ProxyBody> {
        self.proxy
            .shared
            .metrics
            .proxy_upstream_errors
            .with_label_values(&[kind])
            .inc();
        self.code = Some(status);
        let body = Bytes::from(format!("agentlens proxy: {text}\n"));
        let mut resp = Response::new(ProxyBody::full(body, Some(self)));
        *resp.status_mut() = status;
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        resp
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        // Dropped before the handler answered or before the body ended: the client left.
        self.finish(true);
    }
}

enum Inner {
    Upstream(Incoming),
    Full(Option<Bytes>),
}

/// The response body the proxy sends: the upstream's, streamed, or its own error text.
pub struct ProxyBody {
    inner: Inner,
    rec: Option<Recorder>,
}

impl ProxyBody {
    fn full(b: Bytes, rec: Option<Recorder>) -> Self {
        Self {
            inner: Inner::Full(Some(b)),
            rec,
        }
    }
}

impl Body for ProxyBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = self.get_mut();
        let polled = match &mut this.inner {
            Inner::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            Inner::Upstream(body) => Pin::new(body).poll_frame(cx),
        };
        match &polled {
            Poll::Ready(Some(Ok(f))) => {
                if let (Some(r), Some(d)) = (this.rec.as_mut(), f.data_ref())
                    && !d.is_empty()
                {
                    r.first_byte();
                }
            }
            Poll::Ready(Some(Err(_))) => {
                if let Some(r) = this.rec.as_mut() {
                    r.proxy
                        .shared
                        .metrics
                        .proxy_upstream_errors
                        .with_label_values(&["body"])
                        .inc();
                    r.finish(false);
                }
            }
            Poll::Ready(None) => {
                if let Some(r) = this.rec.as_mut() {
                    r.finish(false);
                }
            }
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        match &self.inner {
            Inner::Upstream(b) => b.is_end_stream(),
            Inner::Full(b) => b.is_none(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.inner {
            Inner::Upstream(b) => b.size_hint(),
            Inner::Full(Some(b)) => SizeHint::with_exact(b.len() as u64),
            Inner::Full(None) => SizeHint::with_exact(0),
        }
    }
}

impl Drop for ProxyBody {
    fn drop(&mut self) {
        // hyper does not poll a body that says it has ended (an empty one): that is complete.
        if self.is_end_stream()
            && let Some(r) = self.rec.as_mut()
        {
            r.finish(false);
        }
    }
}
