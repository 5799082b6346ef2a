//! The sidecar's Prometheus metrics, in its own registry. Names and labels are the contract
//! in the design; every label value comes from a bounded set (container names of the pod,
//! GPU indices and UUIDs, languages, streams, XID codes).

use prometheus::{
    CounterVec, Encoder, GaugeVec, HistogramOpts, HistogramVec, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

use crate::logscan::Language;

/// Languages as metric label values, so counters can start at zero for each.
pub const LANGUAGES: [Language; 5] = [
    Language::Python,
    Language::Java,
    Language::Go,
    Language::Rust,
    Language::Node,
];

/// Log streams as label values.
pub const STREAMS: [&str; 4] = ["stdout", "stderr", "file", "otlp"];

/// Where a GPU OOM was detected, as label values.
pub const OOM_SOURCES: [&str; 2] = ["log", "otlp"];

/// All metric families of the sidecar.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    /// `agentlens_gpu_memory_used_bytes{gpu,uuid}`
    pub gpu_memory_used: GaugeVec,
    /// `agentlens_gpu_memory_total_bytes{gpu,uuid}`
    pub gpu_memory_total: GaugeVec,
    /// `agentlens_gpu_utilization_ratio{gpu,uuid}`
    pub gpu_utilization: GaugeVec,
    /// `agentlens_gpu_process_memory_used_bytes{gpu,uuid,container}`
    pub gpu_process_memory: GaugeVec,
    /// `agentlens_gpu_oom_events_total{container,source}`: one per OOM, under the source that
    /// saw it first
    pub gpu_oom_events: IntCounterVec,
    /// `agentlens_gpu_oom_detections_total{container,source}`: every source's own detections
    pub gpu_oom_detections: IntCounterVec,
    /// `agentlens_gpu_xid_errors_total{gpu,uuid,xid}`
    pub gpu_xid_errors: IntCounterVec,
    /// `agentlens_gpu_available` (1 when NVML answers)
    pub gpu_available: IntGauge,
    /// `agentlens_memory_rss_bytes{container}`
    pub memory_rss: GaugeVec,
    /// `agentlens_cpu_seconds_total{container}`
    pub cpu_seconds: CounterVec,
    /// `agentlens_processes{container}`
    pub processes: IntGaugeVec,
    /// `agentlens_log_lines_total{container,stream}`
    pub log_lines: IntCounterVec,
    /// `agentlens_log_lines_truncated_total{container,stream}`
    pub log_lines_truncated: IntCounterVec,
    /// `agentlens_tracebacks_total{container,language}`
    pub tracebacks: IntCounterVec,
    /// `agentlens_sidecar_dropped_total{buffer}`
    pub dropped: IntCounterVec,
    /// `agentlens_sidecar_info{version,mode}`
    pub info: IntGaugeVec,
    /// `agentlens_request_duration_seconds{route,method,code}` (proxy)
    pub request_duration: HistogramVec,
    /// `agentlens_request_first_byte_seconds{route,method,streamed}` (proxy; `streamed`:
    /// `"true"` for SSE and NDJSON answers)
    pub request_first_byte: HistogramVec,
    /// `agentlens_proxy_upstream_errors_total{kind}`
    pub proxy_upstream_errors: IntCounterVec,
    /// `agentlens_proxy_upstream_info{container}`: 1 for the container whose port the proxy
    /// measures (when known), so that latency alerts can name it.
    pub proxy_upstream: IntGaugeVec,
    /// `agentlens_genai_tokens_total{model,kind}`
    pub genai_tokens: IntCounterVec,
    /// `agentlens_genai_request_duration_seconds{model,operation}`
    pub genai_duration: HistogramVec,
    /// `agentlens_otlp_received_total{signal}`
    pub otlp_received: IntCounterVec,
    /// `agentlens_otlp_rejected_requests_total{reason}`
    pub otlp_rejected: IntCounterVec,
    /// `agentlens_otlp_forwarded_requests_total{result}`
    pub otlp_forwarded: IntCounterVec,
}

/// Upstream failure kinds of the proxy, as label values.
pub const UPSTREAM_ERRORS: [&str; 4] = ["connect", "timeout", "body", "other"];
/// OTLP rejection reasons, as label values.
pub const OTLP_REJECTIONS: [&str; 5] = [
    "decode",
    "too_large",
    "unsupported_media_type",
    "encoding",
    "busy",
];
/// OTLP forwarding results, as label values.
pub const OTLP_FORWARD_RESULTS: [&str; 3] = ["ok", "error", "dropped"];

fn histogram(name: &str, help: &str) -> HistogramOpts {
    HistogramOpts::new(name, help).buckets(crate::latency::BUCKETS.to_vec())
}

fn opts(name: &str, help: &str) -> Opts {
    Opts::new(name, help)
}

impl Metrics {
    /// Creates and registers every family.
    pub fn new(mode: &str) -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let gpu = ["gpu", "uuid"];
        let m = Self {
            gpu_memory_used: GaugeVec::new(
                opts(
                    "agentlens_gpu_memory_used_bytes",
                    "GPU memory in use on the device, in bytes.",
                ),
                &gpu,
            )?,
            gpu_memory_total: GaugeVec::new(
                opts(
                    "agentlens_gpu_memory_total_bytes",
                    "GPU memory of the device, in bytes.",
                ),
                &gpu,
            )?,
            gpu_utilization: GaugeVec::new(
                opts(
                    "agentlens_gpu_utilization_ratio",
                    "GPU utilization over the last sample period, 0-1.",
                ),
                &gpu,
            )?,
            gpu_process_memory: GaugeVec::new(
                opts(
                    "agentlens_gpu_process_memory_used_bytes",
                    "GPU memory used by the observed processes of a container, in bytes.",
                ),
                &["gpu", "uuid", "container"],
            )?,
            gpu_oom_events: IntCounterVec::new(
                opts(
                    "agentlens_gpu_oom_events_total",
                    "GPU out-of-memory errors of the agents, one per error whatever the number \
                     of sources that reported it, under the source that saw it first.",
                ),
                &["container", "source"],
            )?,
            gpu_oom_detections: IntCounterVec::new(
                opts(
                    "agentlens_gpu_oom_detections_total",
                    "GPU out-of-memory errors detected, per source (an error seen by two \
                     sources counts in each).",
                ),
                &["container", "source"],
            )?,
            gpu_xid_errors: IntCounterVec::new(
                opts(
                    "agentlens_gpu_xid_errors_total",
                    "Critical NVIDIA XID errors reported by the driver.",
                ),
                &["gpu", "uuid", "xid"],
            )?,
            gpu_available: IntGauge::with_opts(opts(
                "agentlens_gpu_available",
                "1 when NVML answers and GPU series are exported, else 0.",
            ))?,
            memory_rss: GaugeVec::new(
                opts(
                    "agentlens_memory_rss_bytes",
                    "Resident memory of the container's observed processes, in bytes.",
                ),
                &["container"],
            )?,
            cpu_seconds: CounterVec::new(
                opts(
                    "agentlens_cpu_seconds_total",
                    "CPU time used by the container's observed processes, in seconds.",
                ),
                &["container"],
            )?,
            processes: IntGaugeVec::new(
                opts(
                    "agentlens_processes",
                    "Observed processes of the container.",
                ),
                &["container"],
            )?,
            log_lines: IntCounterVec::new(
                opts("agentlens_log_lines_total", "Log lines read."),
                &["container", "stream"],
            )?,
            log_lines_truncated: IntCounterVec::new(
                opts(
                    "agentlens_log_lines_truncated_total",
                    "Log lines longer than the analysis limit (16 KiB), cut before analysis (the \
                     output passed through is never cut).",
                ),
                &["container", "stream"],
            )?,
            tracebacks: IntCounterVec::new(
                opts(
                    "agentlens_tracebacks_total",
                    "Tracebacks and panics captured.",
                ),
                &["container", "language"],
            )?,
            dropped: IntCounterVec::new(
                opts(
                    "agentlens_sidecar_dropped_total",
                    "Items a bounded buffer of the sidecar dropped.",
                ),
                &["buffer"],
            )?,
            info: IntGaugeVec::new(
                opts(
                    "agentlens_sidecar_info",
                    "The sidecar's version and mode (always 1).",
                ),
                &["version", "mode"],
            )?,
            request_duration: HistogramVec::new(
                histogram(
                    "agentlens_request_duration_seconds",
                    "Requests through the latency proxy, from the request to the end of the \
                     response body (code 499: the client went away first).",
                ),
                &["route", "method", "code"],
            )?,
            request_first_byte: HistogramVec::new(
                histogram(
                    "agentlens_request_first_byte_seconds",
                    "Time from the request to the first response body byte through the proxy \
                     (the first token of a streamed LLM answer; streamed=\"true\" for SSE and NDJSON).",
                ),
                &["route", "method", "streamed"],
            )?,
            proxy_upstream_errors: IntCounterVec::new(
                opts(
                    "agentlens_proxy_upstream_errors_total",
                    "Requests the proxy could not complete because of the upstream.",
                ),
                &["kind"],
            )?,
            proxy_upstream: IntGaugeVec::new(
                opts(
                    "agentlens_proxy_upstream_info",
                    "The container whose port the latency proxy forwards to (value 1).",
                ),
                &["container"],
            )?,
            genai_tokens: IntCounterVec::new(
                opts(
                    "agentlens_genai_tokens_total",
                    "Tokens reported by GenAI spans, by model and kind (input, output).",
                ),
                &["model", "kind"],
            )?,
            genai_duration: HistogramVec::new(
                histogram(
                    "agentlens_genai_request_duration_seconds",
                    "Duration of GenAI operations (LLM calls, tools, agents) from spans.",
                ),
                &["model", "operation"],
            )?,
            otlp_received: IntCounterVec::new(
                opts(
                    "agentlens_otlp_received_total",
                    "Spans and log records the OTLP receiver accepted.",
                ),
                &["signal"],
            )?,
            otlp_rejected: IntCounterVec::new(
                opts(
                    "agentlens_otlp_rejected_requests_total",
                    "OTLP export requests refused, by reason.",
                ),
                &["reason"],
            )?,
            otlp_forwarded: IntCounterVec::new(
                opts(
                    "agentlens_otlp_forwarded_requests_total",
                    "OTLP export requests passed on to --otlp-forward, by result.",
                ),
                &["result"],
            )?,
            registry,
        };
        m.register_all()?;
        m.info.with_label_values(&[crate::VERSION, mode]).set(1);
        Ok(m)
    }

    fn register_all(&self) -> Result<(), prometheus::Error> {
        let r = &self.registry;
        r.register(Box::new(self.gpu_memory_used.clone()))?;
        r.register(Box::new(self.gpu_memory_total.clone()))?;
        r.register(Box::new(self.gpu_utilization.clone()))?;
        r.register(Box::new(self.gpu_process_memory.clone()))?;
        r.register(Box::new(self.gpu_oom_events.clone()))?;
        r.register(Box::new(self.gpu_oom_detections.clone()))?;
        r.register(Box::new(self.gpu_xid_errors.clone()))?;
        r.register(Box::new(self.gpu_available.clone()))?;
        r.register(Box::new(self.memory_rss.clone()))?;
        r.register(Box::new(self.cpu_seconds.clone()))?;
        r.register(Box::new(self.processes.clone()))?;
        r.register(Box::new(self.log_lines.clone()))?;
        r.register(Box::new(self.log_lines_truncated.clone()))?;
        r.register(Box::new(self.tracebacks.clone()))?;
        r.register(Box::new(self.dropped.clone()))?;
        r.register(Box::new(self.info.clone()))?;
        r.register(Box::new(self.request_duration.clone()))?;
        r.register(Box::new(self.request_first_byte.clone()))?;
        r.register(Box::new(self.proxy_upstream_errors.clone()))?;
        r.register(Box::new(self.proxy_upstream.clone()))?;
        r.register(Box::new(self.genai_tokens.clone()))?;
        r.register(Box::new(self.genai_duration.clone()))?;
        r.register(Box::new(self.otlp_received.clone()))?;
        r.register(Box::new(self.otlp_rejected.clone()))?;
        r.register(Box::new(self.otlp_forwarded.clone()))?;
        Ok(())
    }

    /// Creates every counter series of a container at zero, so that an alert on `increase()`
    /// sees its first increment (a series that appears with value 1 has no increase).
    pub fn init_container(&self, container: &str) {
        for source in OOM_SOURCES {
            self.gpu_oom_events.with_label_values(&[container, source]);
            self.gpu_oom_detections
                .with_label_values(&[container, source]);
        }
        for lang in LANGUAGES {
            self.tracebacks
                .with_label_values(&[container, lang.as_str()]);
        }
        for stream in STREAMS {
            self.log_lines.with_label_values(&[container, stream]);
            self.log_lines_truncated
                .with_label_values(&[container, stream]);
        }
        self.cpu_seconds.with_label_values(&[container]);
    }

    /// Creates the proxy's error counters at zero (when the proxy runs).
    pub fn init_proxy(&self) {
        for k in UPSTREAM_ERRORS {
            self.proxy_upstream_errors.with_label_values(&[k]);
        }
    }

    /// Creates the OTLP receiver's counters at zero (when it runs).
    pub fn init_otlp(&self) {
        for s in ["spans", "logs"] {
            self.otlp_received.with_label_values(&[s]);
        }
        for r in OTLP_REJECTIONS {
            self.otlp_rejected.with_label_values(&[r]);
        }
        self.dropped.with_label_values(&["otlpTexts"]);
        self.dropped.with_label_values(&[crate::otlp::owner::LOST]);
    }

    /// Creates the forwarding counters at zero (when forwarding is configured).
    pub fn init_otlp_forward(&self) {
        for r in OTLP_FORWARD_RESULTS {
            self.otlp_forwarded.with_label_values(&[r]);
        }
    }

    /// Creates the dropped-items counters at zero.
    pub fn init_buffers(&self, buffers: &[&str]) {
        for b in buffers {
            self.dropped.with_label_values(&[b]);
        }
    }

    /// The Prometheus text exposition of every family.
    pub fn render(&self) -> Result<Vec<u8>, prometheus::Error> {
        let mut buf = Vec::with_capacity(8 * 1024);
        TextEncoder::new().encode(&self.registry.gather(), &mut buf)?;
        Ok(buf)
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}
