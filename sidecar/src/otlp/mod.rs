//! The OTLP/HTTP receiver (`--otlp-listen`, port 4318 in a pod): `POST /v1/traces` and
//! `POST /v1/logs`, protobuf (`application/x-protobuf`) or JSON (`application/json`), gzip or
//! not, as `opentelemetry-proto` defines the messages.
//!
//! Spans feed the GenAI store (models, tokens, prompts, retrievers, guardrails, evaluators,
//! agent graph, from agent spans and from CLIENT/SERVER pairs of plain calls); exceptions on spans and log record bodies go through the same log analysis
//! as container output (tracebacks, GPU OOM with `source="otlp"`). With `--otlp-forward` the
//! original request is passed on to an existing collector unchanged.
//!
//! Memory is bounded whatever the exporters send: a request takes its share of a body budget
//! ([`BODY_BUDGET`], and one of [`MAX_EXPORTS`] slots) *before* its body is read; when none is
//! left its body is read and thrown away as it comes (nothing kept, so the exporter gets the
//! answer rather than a reset mid-upload) and it is answered 429 with `Retry-After` (the OTLP
//! exporters' retryable answer); the decoding thread's queue full is a 503 with `Retry-After`. Bodies are read within
//! [`MAX_BODY`] and decompressed within [`MAX_DECODED`], and their decoded form is measured on
//! the wire before decoding ([`MAX_DECODED_FORM`]): a small body of many empty elements is
//! refused (413) rather than decoded into hundreds of MiB. Connections are limited
//! ([`MAX_CONNECTIONS`]). A forwarded body stays counted in the budget until its forward is done.

pub mod calls;
pub mod decode;
pub mod forward;
pub mod genai;
pub mod owner;
pub mod store;
pub mod worker;

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use http_body_util::BodyExt;

pub use decode::{
    Encoding, Reject, check_decoded_size, decode_logs, decode_traces, decompress, encoding,
};
use forward::Forwarder;
use worker::Job;

use crate::shared::Shared;

/// Default port of the receiver in a pod.
pub const DEFAULT_PORT: u16 = 4318;
/// Largest request body accepted as sent (compressed or not): no more than the body budget.
pub const MAX_BODY: usize = BODY_BUDGET;
/// Largest body after gzip decompression (one at a time: only the decoding thread holds one).
pub const MAX_DECODED: usize = 8 << 20;
/// Largest decoded form of a request (its structs, as counted on the wire before decoding,
/// and a copy of its strings), one at a time on the decoding thread; beyond it a 413.
pub const MAX_DECODED_FORM: usize = 12 << 20;
/// Bytes of request bodies held at once (being read, queued or decoded); a body larger than
/// this takes the whole budget, so it is admitted alone.
pub const BODY_BUDGET: usize = 8 << 20;
/// Export requests admitted at once, whatever their size.
pub const MAX_EXPORTS: usize = 16;
/// Requests waiting for the decoding thread.
pub const ANALYSIS_QUEUE: usize = 8;
/// Connections served at once; more wait in the listen backlog.
pub const MAX_CONNECTIONS: usize = 16;
/// Seconds an exporter is asked to wait before retrying a refused request.
pub const RETRY_AFTER_SECONDS: u64 = 1;

/// How the receiver is set up.
#[derive(Debug, Clone)]
pub struct OtlpConfig {
    /// Container name for data whose resource names no known container (`k8s.container.name`).
    pub default_container: String,
    /// Keep prompt text (redacted).
    pub capture_content: bool,
    /// Where to pass requests on (`http://collector:4318`).
    pub forward: Option<hyper::Uri>,
    /// Feed SERVER and CONSUMER span durations (requests and queued messages handled) into the
    /// request latency (when no proxy measures it).
    pub latency_from_spans: bool,
}

/// The receiver's state.
#[derive(Debug)]
pub struct Receiver {
    shared: Arc<Shared>,
    cfg: OtlpConfig,
    forward: Option<Forwarder>,
    jobs: std::sync::OnceLock<tokio::sync::mpsc::Sender<Job>>,
    /// The body budget, in KiB.
    budget: Arc<tokio::sync::Semaphore>,
    exports: Arc<tokio::sync::Semaphore>,
}

impl Receiver {
    /// A receiver recording into `shared` (the decoding thread starts with [`spawn`]).
    pub fn new(cfg: OtlpConfig, shared: Arc<Shared>) -> Arc<Self> {
        shared.metrics.init_otlp();
        // One store per sidecar: a second receiver on the same state records into the first's.
        if shared.genai.get().is_none() {
            match owner::GenAi::start(cfg.capture_content, shared.metrics.clone()) {
                Ok(genai) => {
                    let _ = shared.genai.set(genai);
                }
                Err(e) => tracing::warn!("OTLP receiver: no GenAI thread, spans not kept: {e}"),
            }
        }
        let forward = cfg
            .forward
            .clone()
            .map(|base| Forwarder::new(base, shared.metrics.clone()));
        Arc::new(Self {
            shared,
            cfg,
            forward,
            jobs: std::sync::OnceLock::new(),
            budget: Arc::new(tokio::sync::Semaphore::new(BODY_BUDGET >> 10)),
            exports: Arc::new(tokio::sync::Semaphore::new(MAX_EXPORTS)),
        })
    }
}

/// The receiver's routes.
pub fn router(receiver: Arc<Receiver>) -> Router {
    Router::new()
        .route("/v1/traces", post(traces))
        .route("/v1/logs", post(logs))
        .with_state(receiver)
}

/// Serves the receiver on `listener` until `stop` changes.
pub fn spawn(
    listener: tokio::net::TcpListener,
    receiver: Arc<Receiver>,
    stop: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    if let Err(e) = receiver.start_worker() {
        tracing::warn!("OTLP receiver: no decoding thread: {e}");
    }
    crate::http::serve_until(
        listener,
        router(receiver),
        stop,
        "OTLP receiver",
        MAX_CONNECTIONS,
    )
}

/// Which export.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Signal {
    Traces,
    Logs,
}

async fn traces(State(r): State<Arc<Receiver>>, headers: HeaderMap, body: Body) -> Response {
    export(r, Signal::Traces, headers, body).await
}

async fn logs(State(r): State<Arc<Receiver>>, headers: HeaderMap, body: Body) -> Response {
    export(r, Signal::Logs, headers, body).await
}

/// Longest a refused request's body is read (and discarded) for, so that its exporter gets
/// the answer rather than a connection reset in the middle of its upload.
const DISCARD_FOR: std::time::Duration = std::time::Duration::from_secs(30);

/// Reads and discards a body (nothing is kept), within [`DISCARD_FOR`].
async fn discard(mut body: Body) {
    let _ = tokio::time::timeout(DISCARD_FOR, async {
        while let Some(Ok(_)) = body.frame().await {}
    })
    .await;
}

/// A refusal the exporter retries after [`RETRY_AFTER_SECONDS`].
fn retry_later(r: &Receiver, status: StatusCode, reason: &'static str, text: &str) -> Response {
    r.shared
        .metrics
        .otlp_rejected
        .with_label_values(&[reason])
        .inc();
    let mut resp = (status, format!("{text}\n")).into_response();
    resp.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECONDS));
    resp
}

fn refuse(r: &Receiver, e: &Reject) -> Response {
    r.shared
        .metrics
        .otlp_rejected
        .with_label_values(&[e.reason()])
        .inc();
    (e.status(), format!("{e}\n")).into_response()
}

/// Reads a body into one buffer (sized from `Content-Length`, so it is never copied whole),
/// at most [`MAX_BODY`] bytes.
async fn read_body(mut body: Body, declared: usize) -> Result<bytes::Bytes, Reject> {
    let mut buf = bytes::BytesMut::with_capacity(declared.min(MAX_BODY));
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| Reject::Decode(format!("reading the body: {e}")))?;
        if let Ok(data) = frame.into_data() {
            if buf.len() + data.len() > MAX_BODY {
                return Err(Reject::TooLarge(MAX_BODY));
            }
            buf.extend_from_slice(&data);
        }
    }
    Ok(buf.freeze())
}

async fn export(r: Arc<Receiver>, signal: Signal, headers: HeaderMap, body: Body) -> Response {
    let header_text = |h| {
        headers
            .get(h)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let ct = header_text(header::CONTENT_TYPE);
    let ce = header_text(header::CONTENT_ENCODING);
    // Cheap refusals first, before any body byte is read.
    if let Err(e) = encoding(ct.as_deref()) {
        return refuse(&r, &e);
    }
    let declared = header_text(header::CONTENT_LENGTH).and_then(|l| l.parse::<usize>().ok());
    if declared.is_some_and(|l| l > MAX_BODY) {
        return refuse(&r, &Reject::TooLarge(MAX_BODY));
    }
    // The permits come before the body: a request that cannot be held is refused, its body
    // read and thrown away as it comes (nothing of it is kept).
    let Ok(slot) = r.exports.clone().try_acquire_owned() else {
        discard(body).await;
        return retry_later(
            &r,
            StatusCode::TOO_MANY_REQUESTS,
            "busy",
            "too many exports",
        );
    };
    let kib = (declared.unwrap_or(MAX_BODY).min(BODY_BUDGET) >> 10).max(1);
    let Ok(permit) = r
        .budget
        .clone()
        .try_acquire_many_owned(u32::try_from(kib).unwrap_or(u32::MAX))
    else {
        drop(slot);
        discard(body).await;
        return retry_later(
            &r,
            StatusCode::TOO_MANY_REQUESTS,
            "busy",
            "too much export data in flight",
        );
    };
    let body = match read_body(body, declared.unwrap_or(0)).await {
        Ok(b) => b,
        Err(e) => return refuse(&r, &e),
    };
    let path = match signal {
        Signal::Traces => "/v1/traces",
        Signal::Logs => "/v1/logs",
    };
    // The original goes on unchanged, whatever we make of it; its bytes stay counted in the
    // budget until both the decoding and the forward are done with them.
    let permit = Arc::new(permit);
    if let Some(f) = &r.forward {
        f.forward(path, &headers, body.clone(), permit.clone());
    }
    let (done, result) = tokio::sync::oneshot::channel();
    let job = Job {
        signal,
        content_type: ct,
        content_encoding: ce,
        body,
        permit,
        done,
    };
    let queued = match r.jobs.get() {
        Some(jobs) => jobs.try_send(job).is_ok(),
        None => false,
    };
    if !queued {
        return retry_later(
            &r,
            StatusCode::SERVICE_UNAVAILABLE,
            "busy",
            "the receiver is behind",
        );
    }
    let outcome = result.await.ok();
    drop(slot);
    match outcome {
        Some(Ok(Encoding::Protobuf)) => (
            [(header::CONTENT_TYPE, "application/x-protobuf")],
            Vec::new(), // an empty Export*ServiceResponse
        )
            .into_response(),
        Some(Ok(Encoding::Json)) => {
            ([(header::CONTENT_TYPE, "application/json")], "{}").into_response()
        }
        Some(Err(e)) => refuse(&r, &e),
        None => (StatusCode::SERVICE_UNAVAILABLE, "analysis unavailable\n").into_response(),
    }
}
