//! The receiver's decoding thread (`agentlens-otlp`): requests are decoded and their facts
//! taken one at a time, off the async runtime. Span facts go to the GenAI store's owner
//! ([`super::owner`]); exception texts and log record bodies go to the log analysis queue like
//! any container output. A thread per
//! request would multiply memory (one allocator arena each) for no throughput on a sidecar's
//! CPU share.

use std::sync::Arc;

use axum::body::Bytes;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::KeyValue;

use super::decode::{
    Encoding, Reject, check_decoded_size, decode_logs, decode_traces, decompress, encoding,
};
use super::{Receiver, Signal, genai};
use crate::clock::now_ms;
use crate::logs::StreamSink;
use crate::logscan::ScanConfig;

/// Longest exception or log record text analysed, in bytes; the rest is cut and counted
/// (`agentlens_sidecar_dropped_total{buffer="otlpTexts"}`).
pub const MAX_TEXT_BYTES: usize = 64 * 1024;

/// One admitted request for the thread.
pub(super) struct Job {
    pub(super) signal: Signal,
    pub(super) content_type: Option<String>,
    pub(super) content_encoding: Option<String>,
    pub(super) body: Bytes,
    /// The request's share of the body budget, given back once it is decoded and analysed
    /// and any forward of it is done (the forward holds the other reference).
    pub(super) permit: Arc<tokio::sync::OwnedSemaphorePermit>,
    pub(super) done: tokio::sync::oneshot::Sender<Result<Encoding, Reject>>,
}

fn resource_text(attrs: &[KeyValue], key: &str) -> Option<String> {
    genai::attr(attrs, key).and_then(genai::text)
}

impl Receiver {
    /// Starts the thread; it ends when the receiver is dropped.
    pub(super) fn start_worker(self: &Arc<Self>) -> std::io::Result<()> {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Job>(super::ANALYSIS_QUEUE);
        let me = Arc::downgrade(self);
        std::thread::Builder::new()
            .name("agentlens-otlp".into())
            .spawn(move || {
                while let Some(job) = rx.blocking_recv() {
                    let Some(r) = me.upgrade() else { break };
                    let result = r.process(
                        job.signal,
                        job.content_type.as_deref(),
                        job.content_encoding.as_deref(),
                        &job.body,
                    );
                    // The memory is free again before the next request is admitted.
                    drop(job.body);
                    drop(job.permit);
                    let _ = job.done.send(result);
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
        // Refused before decoding when its decoded form would not fit.
        check_decoded_size(
            enc,
            matches!(signal, Signal::Logs),
            &data,
            super::MAX_DECODED_FORM,
        )?;
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
            && self.shared.observations().containers().contains_key(&c)
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
            // The webhook names the agent of each container; a process it did not set up is
            // known by its service. Either is a label value: cut to a name's length.
            let service = resource_text(attrs, agentlens_crds::autoinstrument::AGENT_ATTRIBUTE)
                .or_else(|| resource_text(attrs, "service.name"))
                .map_or_else(|| "unknown".to_string(), |s| genai::name(&s));
            let container = self.container(attrs);
            for ss in &rs.scope_spans {
                for span in &ss.spans {
                    let mut f = genai::facts(span, &service);
                    for e in f.exceptions.drain(..) {
                        exceptions.push((container.clone(), self.cut(e)));
                    }
                    if self.cfg.latency_from_spans && f.server {
                        self.shared.latency.observe(f.duration_s, f.error);
                    }
                    facts.push(f);
                }
            }
        }
        let n = facts.len();
        if let Some(genai) = self.shared.genai.get()
            && genai.ingest(facts, now).lost()
        {
            self.shared
                .metrics
                .dropped
                .with_label_values(&[super::owner::LOST])
                .inc_by(n as u64);
        }
        self.shared
            .metrics
            .otlp_received
            .with_label_values(&["spans"])
            .inc_by(n as u64);
        self.analyse(exceptions, "otlp-spans", now);
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
                    let body = r
                        .body
                        .as_ref()
                        .and_then(|b| genai::text_cut(b, MAX_TEXT_BYTES));
                    let (mut text, mut cut) = body.unwrap_or_default();
                    if let Some((st, st_cut)) = genai::attr(&r.attributes, "exception.stacktrace")
                        .and_then(|v| genai::text_cut(v, MAX_TEXT_BYTES))
                    {
                        text.push('\n');
                        text.push_str(&st);
                        cut |= st_cut;
                    }
                    let text = if cut {
                        self.count_cut();
                        agentlens_crds::text::truncate(&text, MAX_TEXT_BYTES)
                    } else {
                        self.cut(text)
                    };
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
        self.analyse(texts, "otlp-logs", now);
        n
    }

    /// A text cut to [`MAX_TEXT_BYTES`], the cut counted.
    fn cut(&self, text: String) -> String {
        if text.len() <= MAX_TEXT_BYTES {
            return text;
        }
        self.count_cut();
        agentlens_crds::text::truncate(&text, MAX_TEXT_BYTES)
    }

    fn count_cut(&self) {
        self.shared
            .metrics
            .dropped
            .with_label_values(&["otlpTexts"])
            .inc();
    }

    /// Hands texts to the log analysis, one stream per container per request (a record's
    /// traceback ends with the request).
    fn analyse(&self, texts: Vec<(String, String)>, stream: &'static str, now: u64) {
        let mut sinks: std::collections::BTreeMap<String, StreamSink> = Default::default();
        for (container, text) in texts {
            let sink = sinks.entry(container.clone()).or_insert_with(|| {
                StreamSink::new(
                    self.shared.clone(),
                    &container,
                    "otlp",
                    ScanConfig::default(),
                )
                .with_origin("otlp", stream)
            });
            sink.feed(text.as_bytes(), now);
            sink.feed(b"\n", now);
        }
        for (_, mut s) in sinks {
            s.finish();
        }
    }
}
