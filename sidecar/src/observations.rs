//! What the log analysis found, kept in bounded stores: traceback groups, recent GPU OOM
//! events, recent error lines and per-container counts. Every store is bounded in items and
//! in bytes and counts what it drops; every text is redacted before it is kept.
//!
//! Only the analysis thread ([`crate::analysis`]) writes these stores; readers get a published
//! copy (`Arc<Observations>`), cheap to take because the stored items are shared (`Arc`).
//!
//! A GPU OOM is one *event* per container whatever its sources: the same error seen by two
//! streams (stderr and an OTLP span, a file and pods/log) within [`OOM_SAME_EVENT_MS`] is one
//! event; a stream that reports another OOM makes another event, however close.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use crate::logscan::{Event, LineKind};
use crate::metrics::Metrics;
use crate::redact::redact;

/// Most traceback groups kept (least recently seen evicted first).
pub const MAX_GROUPS: usize = 256;
/// Most GPU OOM events kept.
pub const MAX_OOM_EVENTS: usize = 100;
/// Most recent error lines kept.
pub const MAX_ERROR_LINES: usize = 200;
/// Longest error line kept, in bytes.
pub const MAX_ERROR_LINE_BYTES: usize = 2048;
/// Lines kept of each traceback group's latest block.
pub const MAX_GROUP_LINES: usize = 60;
/// Longest traceback line kept, in bytes (a frame with a huge repr is cut here).
pub const MAX_GROUP_LINE_BYTES: usize = 1024;
/// Bytes of lines kept per traceback group; the lines past it are dropped and counted.
pub const MAX_GROUP_BYTES: usize = 16 * 1024;
/// Longest exception type, message or frame kept, in bytes.
pub const MAX_FIELD_BYTES: usize = 1024;
/// Longest GPU OOM message kept, in bytes.
pub const MAX_OOM_MESSAGE_BYTES: usize = 512;
/// Detections of one OOM by different streams this close (ms) are one event.
pub const OOM_SAME_EVENT_MS: u64 = 5_000;
/// Recent OOM events remembered for matching detections of other streams.
const MAX_RECENT_OOMS: usize = 64;

/// Names of the bounded buffers, as `agentlens_sidecar_dropped_total{buffer}` values and
/// snapshot `dropped` keys.
pub const BUFFERS: [&str; 6] = [
    "tracebackGroups",
    "gpuOomEvents",
    "errorLines",
    "tracebackLines",
    "tracebackLinesCut",
    crate::analysis::QUEUE_BUFFER,
];

/// Per-container counts from the logs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerLogs {
    /// Lines read from stdout.
    pub stdout_lines: u64,
    /// Lines read from stderr.
    pub stderr_lines: u64,
    /// Lines read from followed files.
    pub file_lines: u64,
    /// Tracebacks captured.
    pub tracebacks: u64,
    /// GPU OOM events (one per OOM, whatever the number of sources that reported it).
    pub gpu_oom_events: u64,
    /// Why logs are not collected, when they are not.
    pub unavailable_reason: Option<String>,
}

/// Tracebacks with one fingerprint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    /// Fingerprint.
    pub fingerprint: String,
    /// Language label.
    pub language: &'static str,
    /// Exception type.
    pub exception: String,
    /// Latest message.
    pub message: String,
    /// Innermost frame.
    pub frame: Option<String>,
    /// Container of the latest one.
    pub container: String,
    /// How many.
    pub count: u64,
    /// First seen (epoch ms).
    pub first_ms: u64,
    /// Last seen (epoch ms).
    pub last_ms: u64,
    /// The latest block's lines, bounded in count and bytes, redacted.
    pub lines: Vec<String>,
    /// Whether the exception is a GPU OOM.
    pub gpu_oom: bool,
}

/// One GPU OOM event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OomRecord {
    /// Container.
    pub container: String,
    /// `log` or `otlp`: the source that saw it first.
    pub source: &'static str,
    /// Which stack reported it.
    pub framework: &'static str,
    /// When (epoch ms).
    pub at_ms: u64,
    /// The line, cut and redacted.
    pub message: String,
    /// Requested bytes.
    pub requested_bytes: Option<u64>,
    /// GPU index.
    pub gpu_index: Option<u32>,
}

/// A recent error line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorLine {
    /// Container.
    pub container: String,
    /// Stream.
    pub stream: &'static str,
    /// When (epoch ms).
    pub at_ms: u64,
    /// The line, cut and redacted.
    pub line: String,
}

/// Where a detection came from: the metric's `source` label (`log`, `otlp`) and the stream
/// within the container (`stdout`, `stderr`, `file`, `otlp-logs`, `otlp-spans`), which tells
/// two sources of one OOM apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Origin {
    /// The `source` label.
    pub source: &'static str,
    /// The stream.
    pub stream: &'static str,
}

/// A recent OOM event, for matching the same error from another stream.
#[derive(Debug, Clone)]
struct RecentOom {
    container: String,
    key: String,
    requested_bytes: Option<u64>,
    at_ms: u64,
    streams: Vec<&'static str>,
}

/// The stores.
#[derive(Debug, Clone)]
pub struct Observations {
    metrics: Metrics,
    containers: BTreeMap<String, ContainerLogs>,
    groups: BTreeMap<String, Arc<Group>>,
    ooms: VecDeque<Arc<OomRecord>>,
    error_lines: VecDeque<Arc<ErrorLine>>,
    recent_ooms: VecDeque<RecentOom>,
    dropped: BTreeMap<&'static str, u64>,
}

/// `text` redacted and cut to `max` bytes (cut first, so a huge text costs no regex time).
pub fn kept(text: &str, max: usize) -> String {
    // Cut with room for a secret that straddles the cut to still be seen whole.
    let cut = agentlens_crds::text::truncate(text, max.saturating_add(256));
    agentlens_crds::text::truncate(&redact(&cut), max)
}

/// An OOM message reduced to what two sources print alike: lowercase alphanumerics (log
/// prefixes, punctuation and spacing differ between a log line and an exception event).
fn oom_key(message: &str) -> String {
    message
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .take(512)
        .collect()
}

/// Whether two reduced OOM messages are the same error: the shorter one's core (32 characters
/// from its last out-of-memory phrase, past any exception type such as
/// `torch.OutOfMemoryError`) appears in the longer one.
fn same_oom(a: &str, b: &str) -> bool {
    const ANCHORS: [&str; 5] = [
        "outofmemory",
        "resourceexhausted",
        "failedtoallocate",
        "memoryallocation",
        "allocfailed",
    ];
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    let start = ANCHORS
        .iter()
        .find_map(|anchor| short.rfind(anchor))
        .unwrap_or(0);
    let core = &short[start..short.len().min(start + 32)];
    core.len() >= 16 && long.contains(core)
}

impl Observations {
    /// Empty stores updating `metrics`.
    pub fn new(metrics: Metrics) -> Self {
        metrics.init_buffers(&BUFFERS);
        Self {
            metrics,
            containers: BTreeMap::new(),
            groups: BTreeMap::new(),
            ooms: VecDeque::new(),
            error_lines: VecDeque::new(),
            recent_ooms: VecDeque::new(),
            dropped: BUFFERS.iter().map(|b| (*b, 0)).collect(),
        }
    }

    /// Registers a container (its counters start at zero).
    pub fn ensure_container(&mut self, name: &str) {
        if !self.containers.contains_key(name) {
            self.metrics.init_container(name);
            self.containers
                .insert(name.to_string(), ContainerLogs::default());
        }
    }

    /// Records why a container's logs are not collected (`None` once they are).
    pub fn set_logs_unavailable(&mut self, container: &str, reason: Option<String>) {
        self.ensure_container(container);
        if let Some(c) = self.containers.get_mut(container) {
            c.unavailable_reason = reason.map(|r| kept(&r, MAX_FIELD_BYTES));
        }
    }

    /// Counts `n` lines read from a stream, `truncated` of them cut.
    pub fn count_lines(&mut self, container: &str, stream: &'static str, n: u64, truncated: u64) {
        self.ensure_container(container);
        if let Some(c) = self.containers.get_mut(container) {
            match stream {
                "stdout" => c.stdout_lines += n,
                "stderr" => c.stderr_lines += n,
                "file" => c.file_lines += n,
                _ => {}
            }
        }
        self.metrics
            .log_lines
            .with_label_values(&[container, stream])
            .inc_by(n);
        if truncated > 0 {
            self.metrics
                .log_lines_truncated
                .with_label_values(&[container, stream])
                .inc_by(truncated);
        }
    }

    /// Keeps an error line in the ring.
    pub fn error_line(
        &mut self,
        container: &str,
        stream: &'static str,
        kind: LineKind,
        line: &str,
        at_ms: u64,
    ) {
        if kind != LineKind::Error {
            return;
        }
        if self.error_lines.len() == MAX_ERROR_LINES {
            self.error_lines.pop_front();
            self.drop_n("errorLines", 1);
        }
        self.error_lines.push_back(Arc::new(ErrorLine {
            container: container.to_string(),
            stream,
            at_ms,
            line: kept(line, MAX_ERROR_LINE_BYTES),
        }));
    }

    /// Applies one analysis event seen by `origin`.
    pub fn event(&mut self, container: &str, origin: Origin, event: Event) {
        self.ensure_container(container);
        match event {
            Event::GpuOom(o) => {
                self.metrics
                    .gpu_oom_detections
                    .with_label_values(&[container, origin.source])
                    .inc();
                let key = oom_key(&o.message);
                if self.same_event(container, origin.stream, &key, o.requested_bytes, o.at_ms) {
                    return;
                }
                self.metrics
                    .gpu_oom_events
                    .with_label_values(&[container, origin.source])
                    .inc();
                if let Some(c) = self.containers.get_mut(container) {
                    c.gpu_oom_events += 1;
                }
                if self.recent_ooms.len() == MAX_RECENT_OOMS {
                    self.recent_ooms.pop_front();
                }
                self.recent_ooms.push_back(RecentOom {
                    container: container.to_string(),
                    key,
                    requested_bytes: o.requested_bytes,
                    at_ms: o.at_ms,
                    streams: vec![origin.stream],
                });
                if self.ooms.len() == MAX_OOM_EVENTS {
                    self.ooms.pop_front();
                    self.drop_n("gpuOomEvents", 1);
                }
                self.ooms.push_back(Arc::new(OomRecord {
                    container: container.to_string(),
                    source: origin.source,
                    framework: o.framework,
                    at_ms: o.at_ms,
                    message: kept(&o.message, MAX_OOM_MESSAGE_BYTES),
                    requested_bytes: o.requested_bytes,
                    gpu_index: o.gpu_index,
                }));
            }
            Event::Traceback(t) => self.traceback(container, t),
        }
    }

    /// Whether a detection is an event already counted from another stream; if so, that
    /// stream is noted on it. The oldest matching event is taken, so detections of a series
    /// of OOMs pair up in order.
    fn same_event(
        &mut self,
        container: &str,
        stream: &'static str,
        key: &str,
        requested_bytes: Option<u64>,
        at_ms: u64,
    ) -> bool {
        let matched = self.recent_ooms.iter_mut().find(|r| {
            r.container == container
                && !r.streams.contains(&stream)
                && r.at_ms.abs_diff(at_ms) <= OOM_SAME_EVENT_MS
                && r.requested_bytes == requested_bytes
                && same_oom(&r.key, key)
        });
        match matched {
            Some(r) => {
                r.streams.push(stream);
                true
            }
            None => false,
        }
    }

    fn traceback(&mut self, container: &str, t: crate::logscan::Traceback) {
        let b = t.block;
        self.metrics
            .tracebacks
            .with_label_values(&[container, b.language.as_str()])
            .inc();
        if let Some(c) = self.containers.get_mut(container) {
            c.tracebacks += 1;
        }
        // Redacted as one text, not line by line: a secret may span lines (a private key's
        // base64 body). The scanner already bounds a block (200 lines, 64 KiB).
        let text = redact(&b.lines.join("\n"));
        let redacted: Vec<&str> = if b.lines.is_empty() {
            Vec::new()
        } else {
            text.split('\n').collect()
        };
        let total = redacted.len() as u64;
        let mut lines = Vec::new();
        let mut bytes = 0usize;
        let mut cut = b.truncated_lines as u64;
        for line in redacted.iter().take(MAX_GROUP_LINES) {
            let l = agentlens_crds::text::truncate(line, MAX_GROUP_LINE_BYTES);
            if bytes + l.len() > MAX_GROUP_BYTES {
                break;
            }
            if l.len() < line.len() {
                cut += 1;
            }
            bytes += l.len();
            lines.push(l);
        }
        // Lines left out (by the scanner or past the group's bounds) are dropped; lines kept
        // but shortened (by the scanner or here) are counted apart, each once per cut.
        self.drop_n(
            "tracebackLines",
            total - lines.len() as u64 + b.omitted_lines as u64,
        );
        self.drop_n("tracebackLinesCut", cut);
        let message = kept(&b.message, MAX_FIELD_BYTES);
        match self.groups.get_mut(&t.fingerprint) {
            Some(g) => {
                let g = Arc::make_mut(g);
                g.count += 1;
                g.last_ms = b.started_ms;
                g.message = message;
                g.container = container.to_string();
                g.lines = lines;
            }
            None => {
                if self.groups.len() >= MAX_GROUPS
                    && let Some(oldest) = self
                        .groups
                        .values()
                        .min_by_key(|g| g.last_ms)
                        .map(|g| g.fingerprint.clone())
                {
                    self.groups.remove(&oldest);
                    self.drop_n("tracebackGroups", 1);
                }
                self.groups.insert(
                    t.fingerprint.clone(),
                    Arc::new(Group {
                        fingerprint: t.fingerprint,
                        language: b.language.as_str(),
                        exception: kept(&b.exception, MAX_FIELD_BYTES),
                        message,
                        frame: b.frame.as_deref().map(|f| kept(f, MAX_FIELD_BYTES)),
                        container: container.to_string(),
                        count: 1,
                        first_ms: b.started_ms,
                        last_ms: b.started_ms,
                        lines,
                        gpu_oom: t.gpu_oom,
                    }),
                );
            }
        }
    }

    fn drop_n(&mut self, buffer: &'static str, n: u64) {
        if n == 0 {
            return;
        }
        *self.dropped.entry(buffer).or_default() += n;
        self.metrics.dropped.with_label_values(&[buffer]).inc_by(n);
    }

    /// Records how many chunks the sources dropped because the analysis was behind (they
    /// count the metric themselves; this is the snapshot's copy).
    pub fn note_queue_drops(&mut self, chunks: u64) {
        self.dropped.insert(crate::analysis::QUEUE_BUFFER, chunks);
    }

    /// Per-container log counts.
    pub fn containers(&self) -> &BTreeMap<String, ContainerLogs> {
        &self.containers
    }

    /// Traceback groups, most recent first.
    pub fn groups(&self) -> Vec<&Group> {
        let mut g: Vec<&Group> = self.groups.values().map(|g| &**g).collect();
        g.sort_by(|a, b| {
            b.last_ms
                .cmp(&a.last_ms)
                .then_with(|| a.fingerprint.cmp(&b.fingerprint))
        });
        g
    }

    /// Recent GPU OOM events, oldest first.
    pub fn ooms(&self) -> impl Iterator<Item = &OomRecord> {
        self.ooms.iter().map(|o| &**o)
    }

    /// Recent error lines, oldest first.
    pub fn error_lines(&self) -> impl Iterator<Item = &ErrorLine> {
        self.error_lines.iter().map(|l| &**l)
    }

    /// Dropped counts per buffer.
    pub fn dropped(&self) -> &BTreeMap<&'static str, u64> {
        &self.dropped
    }

    /// Bytes of text the stores hold (what the byte caps bound).
    pub fn stored_bytes(&self) -> usize {
        let groups: usize = self
            .groups
            .values()
            .map(|g| {
                g.exception.len()
                    + g.message.len()
                    + g.frame.as_ref().map_or(0, String::len)
                    + g.lines.iter().map(String::len).sum::<usize>()
            })
            .sum();
        let ooms: usize = self.ooms.iter().map(|o| o.message.len()).sum();
        let lines: usize = self.error_lines.iter().map(|l| l.line.len()).sum();
        groups + ooms + lines
    }
}

#[cfg(test)]
mod tests;
