//! HTTPS in front of the API: TLS, HTTP/1.1 and HTTP/2, bodies bounded in bytes, requests
//! handed to the store's owner thread through a bounded queue, and watch streams written as
//! newline-delimited JSON with bookmarks, a deadline and an end when the client leaves.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Body, Frame};
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio_rustls::TlsAcceptor;

use super::admission::{self, Plan};
use super::api::{Api, Incoming, Reply, WatchStart};
use super::request::{decode_path, query};
use super::status::ApiError;

/// Work for the store's owner.
enum Job {
    /// A request and where its answer goes.
    Request(Box<Incoming>, oneshot::Sender<Reply>),
    /// Which admission webhooks a request must pass.
    Admission(Box<Incoming>, oneshot::Sender<Option<Plan>>),
    /// Time passed: finish what is due (namespace termination).
    Tick,
}

/// The queue to the store's owner.
#[derive(Clone)]
pub struct ApiHandle {
    tx: mpsc::Sender<Job>,
}

/// Runs `api` on its own thread (its work is synchronous and short), fed by a queue of
/// `capacity` requests.
pub fn spawn_owner(mut api: Api, capacity: usize) -> std::io::Result<ApiHandle> {
    let (tx, mut rx) = mpsc::channel::<Job>(capacity.max(1));
    std::thread::Builder::new()
        .name("kube-emulator-store".into())
        .spawn(move || {
            while let Some(job) = rx.blocking_recv() {
                match job {
                    // The client may have gone; nothing to do then.
                    Job::Request(incoming, reply) => drop(reply.send(api.handle(&incoming))),
                    Job::Admission(incoming, reply) => {
                        drop(reply.send(api.admission_plan(&incoming)))
                    }
                    Job::Tick => api.tick(),
                }
            }
        })?;
    Ok(ApiHandle { tx })
}

impl ApiHandle {
    /// Sends a tick every `every` until the owner is gone.
    pub async fn tick_every(self, every: Duration) {
        let mut ticks = tokio::time::interval(every);
        loop {
            ticks.tick().await;
            if self.tx.send(Job::Tick).await.is_err() {
                return;
            }
        }
    }
}

/// Limits and timings of the HTTP layer.
#[derive(Debug, Clone, Copy)]
pub struct HttpOptions {
    /// Largest request body in bytes.
    pub max_body: usize,
    /// Time between BOOKMARK events of a watch that asked for them.
    pub bookmark_interval: Duration,
}

type Out = BoxBody<Bytes, Infallible>;

/// The body of a watch: chunks from a bounded channel.
struct WatchBody(mpsc::Receiver<Bytes>);

impl Body for WatchBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.0.poll_recv(cx).map(|o| o.map(|b| Ok(Frame::data(b))))
    }
}

fn respond(code: u16, content_type: &str, body: Out) -> Response<Out> {
    let mut r = Response::new(body);
    *r.status_mut() =
        hyper::StatusCode::from_u16(code).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    if let Ok(v) = hyper::header::HeaderValue::from_str(content_type) {
        r.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    r
}

fn full(bytes: impl Into<Bytes>) -> Out {
    Full::new(bytes.into()).boxed()
}

fn json_response(code: u16, v: &serde_json::Value) -> Response<Out> {
    respond(code, "application/json", full(v.to_string()))
}

async fn stream(w: WatchStart, tx: mpsc::Sender<Bytes>, bookmark_interval: Duration) {
    for line in w.lines {
        if tx.send(Bytes::from(line)).await.is_err() {
            return;
        }
    }
    let Some(mut rx) = w.rx else {
        return;
    };
    let deadline = tokio::time::sleep(w.timeout);
    tokio::pin!(deadline);
    let mut ticks = tokio::time::interval_at(
        tokio::time::Instant::now() + bookmark_interval,
        bookmark_interval,
    );
    let mut rv = w.rv;
    loop {
        let line = tokio::select! {
            () = &mut deadline => return,
            () = tx.closed() => return,
            received = rx.recv() => match received {
                Ok(event) if event.rv > rv => {
                    rv = event.rv;
                    w.filter.line(&event)
                }
                Ok(_) => None,
                // A watch that fell behind the buffer ends; the client resumes from the last
                // resourceVersion it saw (or gets 410 and re-lists).
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!("watch of {} fell {n} events behind; closing it", w.filter.plural);
                    return;
                }
                Err(broadcast::error::RecvError::Closed) => return,
            },
            _ = ticks.tick(), if w.bookmarks => Some(w.filter.bookmark(rv, false)),
        };
        if let Some(line) = line
            && tx.send(Bytes::from(line)).await.is_err()
        {
            return;
        }
    }
}

fn header(req: &Request<hyper::body::Incoming>, name: hyper::header::HeaderName) -> String {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

async fn handle(
    req: Request<hyper::body::Incoming>,
    api: ApiHandle,
    opts: HttpOptions,
) -> Result<Response<Out>, Infallible> {
    let method = req.method().as_str().to_string();
    let path = decode_path(req.uri().path());
    let q = query(req.uri().query().unwrap_or_default());
    let auth = header(&req, hyper::header::AUTHORIZATION);
    let token = auth.strip_prefix("Bearer ").map(|t| t.trim().to_string());
    let content_type = header(&req, hyper::header::CONTENT_TYPE);
    let accept = header(&req, hyper::header::ACCEPT);
    let user_agent = header(&req, hyper::header::USER_AGENT);
    let body = match Limited::new(req.into_body(), opts.max_body).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => {
            return Ok(json_response(
                413,
                &ApiError::too_large(opts.max_body).to_status(),
            ));
        }
    };
    let mut incoming = Incoming {
        method: method.clone(),
        path: path.clone(),
        query: q,
        content_type,
        accept,
        token,
        user_agent,
        body,
    };
    if matches!(method.as_str(), "POST" | "PUT") {
        let (plan_tx, plan_rx) = oneshot::channel();
        if api
            .tx
            .send(Job::Admission(Box::new(incoming.clone()), plan_tx))
            .await
            .is_err()
        {
            return Ok(json_response(
                503,
                &ApiError::internal("the store is gone").to_status(),
            ));
        }
        if let Ok(Some(plan)) = plan_rx.await {
            match admission::run(plan).await {
                Ok(object) => {
                    incoming.body = Bytes::from(object.to_string());
                    incoming.content_type = "application/json".into();
                }
                Err(e) => return Ok(json_response(e.code, &e.to_status())),
            }
        }
    }
    let (reply_tx, reply_rx) = oneshot::channel();
    if api
        .tx
        .send(Job::Request(Box::new(incoming), reply_tx))
        .await
        .is_err()
    {
        return Ok(json_response(
            503,
            &ApiError::internal("the store is gone").to_status(),
        ));
    }
    let Ok(reply) = reply_rx.await else {
        return Ok(json_response(
            500,
            &ApiError::internal("no answer from the store").to_status(),
        ));
    };
    Ok(match reply {
        Reply::Json(code, v) => {
            tracing::debug!("{method} {path} {code}");
            json_response(code, &v)
        }
        Reply::Text(code, t) => respond(code, "text/plain", full(t)),
        Reply::Bytes(code, content_type, b) => respond(code, content_type, full(b)),
        Reply::Watch(w) => {
            tracing::debug!("{method} {path} watch from {}", w.rv);
            let (tx, rx) = mpsc::channel(64);
            tokio::spawn(stream(*w, tx, opts.bookmark_interval));
            respond(200, "application/json", WatchBody(rx).boxed())
        }
    })
}

/// Accepts connections until the process ends.
pub async fn serve(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    api: ApiHandle,
    opts: HttpOptions,
) {
    let acceptor = TlsAcceptor::from(tls);
    loop {
        let tcp = match listener.accept().await {
            Ok((tcp, _)) => tcp,
            Err(e) => {
                tracing::warn!("accept: {e}");
                // Out of descriptors, most likely: wait instead of spinning.
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let acceptor = acceptor.clone();
        let api = api.clone();
        tokio::spawn(async move {
            let tls = match acceptor.accept(tcp).await {
                Ok(t) => t,
                Err(e) => {
                    tracing::debug!("TLS handshake: {e}");
                    return;
                }
            };
            let service = hyper::service::service_fn(move |req| handle(req, api.clone(), opts));
            if let Err(e) = auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(tls), service)
                .await
            {
                tracing::debug!("connection: {e}");
            }
        });
    }
}
