//! The OTLP/HTTP receiver (`--otlp-listen`, port 4318 in a pod): `POST /v1/traces` and
//! `POST /v1/logs`, protobuf (`application/x-protobuf`) or JSON (`application/json`), gzip or
//! not, as `opentelemetry-proto` defines the messages.
//!
//! Spans feed the GenAI store (models, tokens, prompts, retrievers, guardrails, evaluators,
//! agent graph); exceptions on spans and log record bodies go through the same log analysis
//! as container output (tracebacks, GPU OOM with `source="otlp"`). With `--otlp-forward` the
//! original request is passed on to an existing collector unchanged, so adding agentlens never
//! breaks a tracing pipeline. Decoding and analysis run on one thread of their own
//! (`agentlens-otlp`), fed through a short queue: a thread per request would multiply memory
//! (one allocator arena each) for no throughput on a sidecar's CPU share.

pub mod genai;
pub mod redact;
pub mod store;

use std::io::Read;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use prost::Message;

use crate::logs::StreamSink;
use crate::logscan::ScanConfig;
use crate::sample::now_ms;
use crate::shared::Shared;

/// Default port of the receiver in a pod.
pub const DEFAULT_PORT: u16 = 4318;
/// Largest request body accepted as sent (compressed or not).
pub const MAX_BODY: usize = 16 << 20;
/// Largest body after gzip decompression.
pub const MAX_DECODED: usize = 64 << 20;
/// Forwarded requests in flight at most; beyond that they are dropped and counted.
pub const MAX_FORWARDS: usize = 32;
/// Requests waiting for the analysis thread; beyond that the handlers wait (and the clients'
/// exporters with them), so memory stays bounded under any load.
pub const ANALYSIS_QUEUE: usize = 8;

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

/// Why a request was refused (the `reason` label).
#[derive(Debug, thiserror::Error)]
pub enum Reject {
    /// Not protobuf or JSON.
    #[error("unsupported content type {0:?}: send application/x-protobuf or application/json")]
    MediaType(String),
    /// Not gzip or identity.
    #[error("unsupported content encoding {0:?}: send gzip or none")]
    Encoding(String),
    /// Too large.
    #[error("request body over {0} bytes")]
    TooLarge(usize),
    /// Not a valid message.
    #[error("decoding the request: {0}")]
    Decode(String),
}

impl Reject {
    /// The metric label.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::MediaType(_) => "unsupported_media_type",
            Self::Encoding(_) => "encoding",
            Self::TooLarge(_) => "too_large",
            Self::Decode(_) => "decode",
        }
    }

    fn status(&self) -> StatusCode {
        match self {
            Self::MediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Encoding(_) | Self::Decode(_) => StatusCode::BAD_REQUEST,
        }
    }
}

/// Protobuf or JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// `application/x-protobuf`
    Protobuf,
    /// `application/json`
    Json,
}

/// The encoding named by a `Content-Type`.
pub fn encoding(content_type: Option<&str>) -> Result<Encoding, Reject> {
    let ct = content_type.unwrap_or("");
    let essence = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match essence.as_str() {
        "application/x-protobuf" | "application/protobuf" => Ok(Encoding::Protobuf),
        "application/json" => Ok(Encoding::Json),
        _ => Err(Reject::MediaType(ct.to_string())),
    }
}

/// The body with any gzip encoding removed, at most [`MAX_DECODED`] bytes.
pub fn decompress(body: &[u8], content_encoding: Option<&str>) -> Result<Vec<u8>, Reject> {
    match content_encoding.map(|e| e.trim().to_ascii_lowercase()) {
        None => Ok(body.to_vec()),
        Some(e) if e.is_empty() || e == "identity" => Ok(body.to_vec()),
        Some(e) if e == "gzip" => {
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(body)
                .take(MAX_DECODED as u64 + 1)
                .read_to_end(&mut out)
                .map_err(|e| Reject::Decode(format!("gzip: {e}")))?;
            if out.len() > MAX_DECODED {
                return Err(Reject::TooLarge(MAX_DECODED));
            }
            Ok(out)
        }
        Some(e) => Err(Reject::Encoding(e)),
    }
}

/// An export request of traces.
pub fn decode_traces(enc: Encoding, data: &[u8]) -> Result<ExportTraceServiceRequest, Reject> {
    match enc {
        Encoding::Protobuf => {
            ExportTraceServiceRequest::decode(data).map_err(|e| Reject::Decode(e.to_string()))
        }
        Encoding::Json => serde_json::from_slice(data).map_err(|e| Reject::Decode(e.to_string())),
    }
}

/// An export request of logs.
pub fn decode_logs(enc: Encoding, data: &[u8]) -> Result<ExportLogsServiceRequest, Reject> {
    match enc {
        Encoding::Protobuf => {
            ExportLogsServiceRequest::decode(data).map_err(|e| Reject::Decode(e.to_string()))
        }
        Encoding::Json => serde_json::from_slice(data).map_err(|e| Reject::Decode(e.to_string())),
    }
}

fn resource_text(attrs: &[KeyValue], key: &str) -> Option<String> {
    genai::attr(attrs, key).and_then(genai::text)
}

/// The receiver's state.
#[derive(Debug)]
pub struct Receiver {
    shared: Arc<Shared>,
    cfg: OtlpConfig,
    forward: Option<Forwarder>,
    jobs: std::sync::OnceLock<tokio::sync::mpsc::Sender<Job>>,
}

/// One request for the analysis thread.
struct Job {
    signal: Signal,
    content_type: Option<String>,
    content_encoding: Option<String>,
    body: Bytes,
    done: tokio::sync::oneshot::Sender<Result<Encoding, Reject>>,
}

struct Forwarder {
    client: Client<HttpConnector, Full<Bytes>>,
    base: hyper::Uri,
    slots: Arc<tokio::sync::Semaphore>,
}

impl std::fmt::Debug for Forwarder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Forwarder")
            .field("base", &self.base)
            .finish()
    }
}

impl Receiver {
    /// A receiver recording into `shared` (the analysis thread starts with [`spawn`]).
    pub fn new(cfg: OtlpConfig, shared: Arc<Shared>) -> Arc<Self> {
        shared.metrics.init_otlp();
        if let Ok(mut g) = shared.genai.lock() {
            *g = Some(store::GenAiStore::new(
                cfg.capture_content,
                shared.metrics.clone(),
            ));
        }
        let forward = cfg.forward.clone().map(|base| {
            shared.metrics.init_otlp_forward();
            Forwarder {
                client: Client::builder(TokioExecutor::new()).build_http(),
                base,
                slots: Arc::new(tokio::sync::Semaphore::new(MAX_FORWARDS)),
            }
        });
        Arc::new(Self {
            shared,
            cfg,
            forward,
            jobs: std::sync::OnceLock::new(),
        })
    }

    /// Starts the analysis thread; it ends when the receiver is dropped.
    fn start_worker(self: &Arc<Self>) -> std::io::Result<()> {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Job>(ANALYSIS_QUEUE);
        let me = Arc::downgrade(self);
        std::thread::Builder::new()
            .name("agentlens-otlp".into())
            .spawn(move || {
                while let Some(job) = rx.blocking_recv() {
                    let Some(r) = me.upgrade() else { break };
                    let _ = job.done.send(r.process(
                        job.signal,
                        job.content_type.as_deref(),
                        job.content_encoding.as_deref(),
                        &job.body,
                    ));
                }
            })?;
        let _ = self.jobs.set(tx);
        Ok(())
    }

    /// Decodes and analyses one request (blocking work).
    fn process(
        &self,
        signal: Signal,
        content_type: Option<&str>,
        content_encoding: Option<&str>,
        body: &[u8],
    ) -> Result<Encoding, Reject> {
        let enc = encoding(content_type)?;
        let data = decompress(body, content_encoding)?;
        match signal {
            Signal::Traces => {
                self.traces(&decode_traces(enc, &data)?);
            }
            Signal::Logs => {
                self.logs(&decode_logs(enc, &data)?);
            }
        }
        Ok(enc)
    }

    fn container(&self, resource: &[KeyValue]) -> String {
        if let Some(c) = resource_text(resource, "k8s.container.name")
            && self
                .shared
                .observations
                .lock()
                .is_ok_and(|o| o.containers().contains_key(&c))
        {
            return c;
        }
        self.cfg.default_container.clone()
    }

    /// Analyses decoded spans (blocking work: call from a blocking thread).
    pub fn traces(&self, req: &ExportTraceServiceRequest) -> usize {
        let now = now_ms();
        let mut facts = Vec::new();
        let mut exceptions: Vec<(String, String)> = Vec::new();
        for rs in &req.resource_spans {
            let attrs = rs
                .resource
                .as_ref()
                .map(|r| r.attributes.as_slice())
                .unwrap_or_default();
            let service =
                resource_text(attrs, "service.name").unwrap_or_else(|| "unknown".to_string());
            let container = self.container(attrs);
            for ss in &rs.scope_spans {
                for span in &ss.spans {
                    let f = genai::facts(span, &service);
                    for e in &f.exceptions {
                        exceptions.push((container.clone(), e.clone()));
                    }
                    if self.cfg.latency_from_spans && f.server {
                        self.shared.latency.observe(f.duration_s, f.error);
                    }
                    facts.push(f);
                }
            }
        }
        let n = facts.len();
        if let Ok(mut g) = self.shared.genai.lock()
            && let Some(store) = g.as_mut()
        {
            store.ingest(&facts, now);
        }
        self.shared
            .metrics
            .otlp_received
            .with_label_values(&["spans"])
            .inc_by(n as u64);
        self.analyse(exceptions, now);
        n
    }

    /// Analyses decoded log records (blocking work).
    pub fn logs(&self, req: &ExportLogsServiceRequest) -> usize {
        let now = now_ms();
        let mut texts = Vec::new();
        for rl in &req.resource_logs {
            let attrs = rl
                .resource
                .as_ref()
                .map(|r| r.attributes.as_slice())
                .unwrap_or_default();
            let container = self.container(attrs);
            for sl in &rl.scope_logs {
                for r in &sl.log_records {
                    let mut text = r.body.as_ref().and_then(genai::text).unwrap_or_default();
                    if let Some(st) =
                        genai::attr(&r.attributes, "exception.stacktrace").and_then(genai::text)
                    {
                        text.push('\n');
                        text.push_str(&st);
                    }
                    texts.push((container.clone(), text));
                }
            }
        }
        let n = texts.len();
        self.shared
            .metrics
            .otlp_received
            .with_label_values(&["logs"])
            .inc_by(n as u64);
        self.analyse(texts, now);
        n
    }

    /// Runs texts through the log analysis, one sink per container per request (a record's
    /// traceback ends with the request).
    fn analyse(&self, texts: Vec<(String, String)>, now: u64) {
        let mut sinks: std::collections::BTreeMap<String, StreamSink> = Default::default();
        for (container, text) in texts {
            let sink = sinks.entry(container.clone()).or_insert_with(|| {
                StreamSink::new(
                    self.shared.clone(),
                    &container,
                    "otlp",
                    ScanConfig::default(),
                )
                .with_source("otlp")
            });
            sink.feed(text.as_bytes(), now);
            sink.feed(b"\n", now);
        }
        for (_, mut s) in sinks {
            s.finish();
        }
    }

    fn forward(&self, path: &'static str, headers: &HeaderMap, body: Bytes) {
        let Some(f) = &self.forward else {
            return;
        };
        let metrics = self.shared.metrics.clone();
        let Ok(permit) = f.slots.clone().try_acquire_owned() else {
            metrics.otlp_forwarded.with_label_values(&["dropped"]).inc();
            return;
        };
        let base = f.base.to_string();
        let uri = format!("{}{path}", base.trim_end_matches('/'));
        let mut req = hyper::Request::post(uri);
        for h in [header::CONTENT_TYPE, header::CONTENT_ENCODING] {
            if let Some(v) = headers.get(&h) {
                req = req.header(h, v);
            }
        }
        let Ok(req) = req.body(Full::new(body)) else {
            metrics.otlp_forwarded.with_label_values(&["error"]).inc();
            return;
        };
        let client = f.client.clone();
        tokio::spawn(async move {
            let result =
                tokio::time::timeout(std::time::Duration::from_secs(10), client.request(req)).await;
            let ok = matches!(&result, Ok(Ok(r)) if r.status().is_success());
            metrics
                .otlp_forwarded
                .with_label_values(&[if ok { "ok" } else { "error" }])
                .inc();
            drop(permit);
        });
    }
}

/// The receiver's routes.
pub fn router(receiver: Arc<Receiver>) -> Router {
    Router::new()
        .route("/v1/traces", post(traces))
        .route("/v1/logs", post(logs))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(receiver)
}

/// Serves the receiver on `listener` until `stop` changes.
pub fn spawn(
    listener: tokio::net::TcpListener,
    receiver: Arc<Receiver>,
    stop: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    if let Err(e) = receiver.start_worker() {
        tracing::warn!("OTLP receiver: no analysis thread: {e}");
    }
    crate::http::serve_until(listener, router(receiver), stop, "OTLP receiver")
}

#[derive(Debug, Clone, Copy)]
enum Signal {
    Traces,
    Logs,
}

async fn traces(State(r): State<Arc<Receiver>>, headers: HeaderMap, body: Bytes) -> Response {
    export(r, Signal::Traces, headers, body).await
}

async fn logs(State(r): State<Arc<Receiver>>, headers: HeaderMap, body: Bytes) -> Response {
    export(r, Signal::Logs, headers, body).await
}

async fn export(r: Arc<Receiver>, signal: Signal, headers: HeaderMap, body: Bytes) -> Response {
    let header_text = |h| {
        headers
            .get(h)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let ct = header_text(header::CONTENT_TYPE);
    let ce = header_text(header::CONTENT_ENCODING);
    let path = match signal {
        Signal::Traces => "/v1/traces",
        Signal::Logs => "/v1/logs",
    };
    // The original goes on unchanged, whatever we make of it.
    r.forward(path, &headers, body.clone());
    let (done, result) = tokio::sync::oneshot::channel();
    let job = Job {
        signal,
        content_type: ct,
        content_encoding: ce,
        body,
        done,
    };
    let outcome = match r.jobs.get() {
        Some(jobs) if jobs.send(job).await.is_ok() => result.await.ok(),
        _ => None,
    };
    match outcome {
        Some(Ok(Encoding::Protobuf)) => (
            [(header::CONTENT_TYPE, "application/x-protobuf")],
            Vec::new(), // an empty Export*ServiceResponse
        )
            .into_response(),
        Some(Ok(Encoding::Json)) => {
            ([(header::CONTENT_TYPE, "application/json")], "{}").into_response()
        }
        Some(Err(e)) => {
            r.shared
                .metrics
                .otlp_rejected
                .with_label_values(&[e.reason()])
                .inc();
            (e.status(), format!("{e}\n")).into_response()
        }
        None => (StatusCode::SERVICE_UNAVAILABLE, "analysis unavailable\n").into_response(),
    }
}
