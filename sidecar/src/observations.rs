//! What the log analysis found, kept in bounded stores: traceback groups, recent GPU OOM
//! events, recent error lines and per-container counts. Every store counts what it drops.

use std::collections::{BTreeMap, VecDeque};

use crate::logscan::{Event, LineKind};
use crate::metrics::Metrics;

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

/// Names of the bounded buffers, as `agentlens_sidecar_dropped_total{buffer}` values and
/// snapshot `dropped` keys.
pub const BUFFERS: [&str; 4] = [
    "tracebackGroups",
    "gpuOomEvents",
    "errorLines",
    "tracebackLines",
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
    /// GPU OOM events.
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
    /// The latest block's lines, bounded.
    pub lines: Vec<String>,
    /// Whether the exception is a GPU OOM.
    pub gpu_oom: bool,
}

/// One GPU OOM event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OomRecord {
    /// Container.
    pub container: String,
    /// `log` or `otlp`.
    pub source: &'static str,
    /// Which stack reported it.
    pub framework: &'static str,
    /// When (epoch ms).
    pub at_ms: u64,
    /// The line.
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
    /// The line, cut.
    pub line: String,
}

/// The stores.
#[derive(Debug)]
pub struct Observations {
    metrics: Metrics,
    containers: BTreeMap<String, ContainerLogs>,
    groups: BTreeMap<String, Group>,
    ooms: VecDeque<OomRecord>,
    error_lines: VecDeque<ErrorLine>,
    dropped: BTreeMap<&'static str, u64>,
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
            c.unavailable_reason = reason;
        }
    }

    /// Counts `n` lines read from a stream, `truncated` of them cut.
    pub fn count_lines(&mut self, container: &str, stream: &'static str, n: u64, truncated: u64) {
        self.ensure_container(container);
        if let Some(c) = self.containers.get_mut(container) {
            match stream {
                "stdout" => c.stdout_lines += n,
                "stderr" => c.stderr_lines += n,
                _ => c.file_lines += n,
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
            self.drop_one("errorLines");
        }
        self.error_lines.push_back(ErrorLine {
            container: container.to_string(),
            stream,
            at_ms,
            line: agentlens_crds::text::truncate(line, MAX_ERROR_LINE_BYTES),
        });
    }

    /// Applies one analysis event.
    pub fn event(&mut self, container: &str, source: &'static str, event: Event) {
        self.ensure_container(container);
        match event {
            Event::GpuOom(o) => {
                self.metrics
                    .gpu_oom_events
                    .with_label_values(&[container, source])
                    .inc();
                if let Some(c) = self.containers.get_mut(container) {
                    c.gpu_oom_events += 1;
                }
                if self.ooms.len() == MAX_OOM_EVENTS {
                    self.ooms.pop_front();
                    self.drop_one("gpuOomEvents");
                }
                self.ooms.push_back(OomRecord {
                    container: container.to_string(),
                    source,
                    framework: o.framework,
                    at_ms: o.at_ms,
                    message: o.message,
                    requested_bytes: o.requested_bytes,
                    gpu_index: o.gpu_index,
                });
            }
            Event::Traceback(t) => {
                let b = t.block;
                self.metrics
                    .tracebacks
                    .with_label_values(&[container, b.language.as_str()])
                    .inc();
                if let Some(c) = self.containers.get_mut(container) {
                    c.tracebacks += 1;
                }
                let mut lines = b.lines;
                if lines.len() > MAX_GROUP_LINES {
                    let extra = (lines.len() - MAX_GROUP_LINES) as u64;
                    lines.truncate(MAX_GROUP_LINES);
                    *self.dropped.entry("tracebackLines").or_default() += extra;
                    self.metrics
                        .dropped
                        .with_label_values(&["tracebackLines"])
                        .inc_by(extra);
                }
                // Lines the scanner left out or cut to its byte limit.
                if b.omitted_lines + b.truncated_lines > 0 {
                    let extra = (b.omitted_lines + b.truncated_lines) as u64;
                    *self.dropped.entry("tracebackLines").or_default() += extra;
                    self.metrics
                        .dropped
                        .with_label_values(&["tracebackLines"])
                        .inc_by(extra);
                }
                match self.groups.get_mut(&t.fingerprint) {
                    Some(g) => {
                        g.count += 1;
                        g.last_ms = b.started_ms;
                        g.message = b.message;
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
                            self.drop_one("tracebackGroups");
                        }
                        self.groups.insert(
                            t.fingerprint.clone(),
                            Group {
                                fingerprint: t.fingerprint,
                                language: b.language.as_str(),
                                exception: b.exception,
                                message: b.message,
                                frame: b.frame,
                                container: container.to_string(),
                                count: 1,
                                first_ms: b.started_ms,
                                last_ms: b.started_ms,
                                lines,
                                gpu_oom: t.gpu_oom,
                            },
                        );
                    }
                }
            }
        }
    }

    fn drop_one(&mut self, buffer: &'static str) {
        *self.dropped.entry(buffer).or_default() += 1;
        self.metrics.dropped.with_label_values(&[buffer]).inc();
    }

    /// Per-container log counts.
    pub fn containers(&self) -> &BTreeMap<String, ContainerLogs> {
        &self.containers
    }

    /// Traceback groups, most recent first.
    pub fn groups(&self) -> Vec<&Group> {
        let mut g: Vec<&Group> = self.groups.values().collect();
        g.sort_by(|a, b| {
            b.last_ms
                .cmp(&a.last_ms)
                .then_with(|| a.fingerprint.cmp(&b.fingerprint))
        });
        g
    }

    /// Recent GPU OOM events, oldest first.
    pub fn ooms(&self) -> impl Iterator<Item = &OomRecord> {
        self.ooms.iter()
    }

    /// Recent error lines, oldest first.
    pub fn error_lines(&self) -> impl Iterator<Item = &ErrorLine> {
        self.error_lines.iter()
    }

    /// Dropped counts per buffer.
    pub fn dropped(&self) -> &BTreeMap<&'static str, u64> {
        &self.dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logscan::{ScanConfig, StreamScanner};

    fn tb(n: u64) -> Event {
        let mut s = StreamScanner::new(ScanConfig::default());
        let mut ev = Vec::new();
        s.scan("Traceback (most recent call last):", n, &mut ev);
        s.scan(
            &format!("  File \"/app/job_{n}.py\", line 1, in <module>"),
            n,
            &mut ev,
        );
        s.scan("ValueError: bad input", n, &mut ev);
        s.finish(&mut ev);
        ev.remove(0)
    }

    #[test]
    fn groups_are_bounded_and_evictions_counted() {
        let mut o = Observations::new(Metrics::new("run").unwrap());
        for n in 0..(MAX_GROUPS as u64 + 10) {
            o.event("main", "log", tb(n));
        }
        assert_eq!(o.groups().len(), MAX_GROUPS);
        assert_eq!(o.dropped()["tracebackGroups"], 10);
        // The same error again is counted in its group, not a new one.
        o.event("main", "log", tb(300));
        o.event("main", "log", tb(300));
        let g = o
            .groups()
            .into_iter()
            .find(|g| g.frame.as_deref().is_some_and(|f| f.contains("job_300")))
            .unwrap();
        assert_eq!(g.count, 2);
        assert_eq!(o.containers()["main"].tracebacks, MAX_GROUPS as u64 + 12);
    }

    #[test]
    fn error_ring_is_bounded() {
        let mut o = Observations::new(Metrics::new("run").unwrap());
        let long = "E".repeat(10_000);
        for i in 0..(MAX_ERROR_LINES + 5) {
            o.error_line("main", "stderr", LineKind::Error, &long, i as u64);
        }
        o.error_line("main", "stderr", LineKind::Plain, "fine", 0);
        assert_eq!(o.error_lines().count(), MAX_ERROR_LINES);
        assert!(
            o.error_lines()
                .all(|l| l.line.len() == MAX_ERROR_LINE_BYTES)
        );
        assert_eq!(o.dropped()["errorLines"], 5);
    }
}
