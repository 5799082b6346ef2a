//! Log analysis off the data path. Every source (a child's pipes, followed files, pods/log,
//! the OTLP receiver) hands bounded chunks to one queue and goes on: it never waits for the
//! analysis. One thread (`agentlens-analysis`) owns the per-stream splitters and scanners and
//! the [`Observations`], without a lock, and publishes an immutable copy for the endpoints
//! (at most every [`PUBLISH_EVERY`], and at once when asked to [`Analysis::settle`]).
//!
//! The queue is bounded in items and in bytes. When it is full a source drops the chunk and
//! counts it (`agentlens_sidecar_dropped_total{buffer="analysisQueue"}`); the stream's next
//! chunk restarts its analysis (the line that straddled the gap is not glued to another).
//! Control messages (a stream opens or closes, a container appears) are not dropped: there is
//! a handful per stream, not per line.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::clock::now_ms;
use crate::logscan::{Event, LineKind, LineSplitter, ScanConfig, StreamScanner, decode};
use crate::metrics::Metrics;
use crate::observations::{Observations, Origin};

/// Chunks waiting for the analysis at most.
pub const MAX_QUEUE_ITEMS: usize = 1024;
/// Bytes waiting for the analysis at most.
pub const MAX_QUEUE_BYTES: usize = 4 << 20;
/// Longest line analysed, in bytes: a longer line is cut here (and counted in
/// `agentlens_log_lines_truncated_total`) before any analysis. Error messages, frames and
/// OOM lines fit many times over; a 1.5 MB repr does not need to be read to find its type.
pub const ANALYSIS_LINE_BYTES: usize = 16 * 1024;
/// Most time between a change and its publication.
pub const PUBLISH_EVERY: Duration = Duration::from_millis(50);
/// How often open blocks are checked for idleness.
const IDLE_EVERY: Duration = Duration::from_millis(250);
/// The `buffer` label of chunks dropped because the analysis fell behind.
pub const QUEUE_BUFFER: &str = "analysisQueue";

enum Input {
    Open {
        id: u64,
        container: String,
        stream: &'static str,
        origin: Origin,
        cfg: ScanConfig,
    },
    Chunk {
        id: u64,
        data: Vec<u8>,
        at_ms: u64,
        after_gap: bool,
    },
    Line {
        id: u64,
        line: Vec<u8>,
        truncated: bool,
        at_ms: u64,
    },
    Close {
        id: u64,
    },
    Container(String),
    Unavailable {
        container: String,
        reason: Option<String>,
    },
    Settle(mpsc::SyncSender<()>),
}

/// Room left in the queue, shared by the sources and the thread.
#[derive(Debug)]
struct Room {
    items: AtomicUsize,
    bytes: AtomicUsize,
    dropped: AtomicU64,
}

impl Room {
    /// Takes room for one chunk of `len` bytes, or says there is none.
    fn take(&self, len: usize) -> bool {
        if self.items.fetch_add(1, Ordering::AcqRel) >= MAX_QUEUE_ITEMS {
            self.items.fetch_sub(1, Ordering::AcqRel);
            return false;
        }
        if self.bytes.fetch_add(len, Ordering::AcqRel) + len > MAX_QUEUE_BYTES {
            self.bytes.fetch_sub(len, Ordering::AcqRel);
            self.items.fetch_sub(1, Ordering::AcqRel);
            return false;
        }
        true
    }

    fn give_back(&self, len: usize) {
        self.items.fetch_sub(1, Ordering::AcqRel);
        self.bytes.fetch_sub(len, Ordering::AcqRel);
    }
}

/// The handle of the analysis thread: the queue's sending side and the published view.
#[derive(Debug)]
pub struct Analysis {
    tx: mpsc::Sender<Input>,
    room: Arc<Room>,
    view: tokio::sync::watch::Receiver<Arc<Observations>>,
    next_id: AtomicU64,
    dropped_metric: prometheus::IntCounter,
}

impl Analysis {
    /// Starts the analysis thread; it ends when this handle is dropped.
    pub fn start(metrics: Metrics) -> std::io::Result<Self> {
        let (tx, rx) = mpsc::channel();
        let room = Arc::new(Room {
            items: AtomicUsize::new(0),
            bytes: AtomicUsize::new(0),
            dropped: AtomicU64::new(0),
        });
        let mut obs = Observations::new(metrics.clone());
        obs.note_queue_drops(0);
        let (view_tx, view) = tokio::sync::watch::channel(Arc::new(obs.clone()));
        let dropped_metric = metrics.dropped.with_label_values(&[QUEUE_BUFFER]);
        let worker = Worker {
            obs,
            streams: HashMap::new(),
            room: room.clone(),
            view: view_tx,
            dirty: false,
        };
        std::thread::Builder::new()
            .name("agentlens-analysis".into())
            .spawn(move || worker.run(&rx))?;
        Ok(Self {
            tx,
            room,
            view,
            next_id: AtomicU64::new(1),
            dropped_metric,
        })
    }

    /// The latest published observations.
    pub fn observations(&self) -> Arc<Observations> {
        self.view.borrow().clone()
    }

    /// Waits (blocking, at most 10 s) until everything queued so far is analysed and
    /// published. For tests and shutdown; sources never call it.
    pub fn settle(&self) {
        let (tx, rx) = mpsc::sync_channel(1);
        if self.tx.send(Input::Settle(tx)).is_ok() {
            let _ = rx.recv_timeout(Duration::from_secs(10));
        }
    }

    /// Registers a container (its counters start at zero).
    pub fn container(&self, name: &str) {
        let _ = self.tx.send(Input::Container(name.to_string()));
    }

    /// Records why a container's logs are not collected (`None` once they are).
    pub fn logs_unavailable(&self, container: &str, reason: Option<String>) {
        let _ = self.tx.send(Input::Unavailable {
            container: container.to_string(),
            reason,
        });
    }

    fn send_data(&self, len: usize, input: Input) -> bool {
        if !self.room.take(len) {
            self.room.dropped.fetch_add(1, Ordering::Relaxed);
            self.dropped_metric.inc();
            return false;
        }
        if self.tx.send(input).is_err() {
            self.room.give_back(len);
            return false;
        }
        true
    }
}

/// One stream's handle on the analysis: what a source holds. Cheap; never blocks.
#[derive(Debug)]
pub struct StreamSink {
    shared: Arc<crate::shared::Shared>,
    id: u64,
    container: String,
    stream: &'static str,
    origin: Origin,
    cfg: ScanConfig,
    opened: bool,
    gap: bool,
}

impl StreamSink {
    /// A sink for `container`'s `stream` (`stdout`, `stderr`, `file`, `otlp`).
    pub fn new(
        shared: Arc<crate::shared::Shared>,
        container: &str,
        stream: &'static str,
        cfg: ScanConfig,
    ) -> Self {
        shared.analysis.container(container);
        let id = shared.analysis.next_id.fetch_add(1, Ordering::Relaxed);
        Self {
            shared,
            id,
            container: container.to_string(),
            stream,
            origin: Origin {
                source: "log",
                stream,
            },
            cfg,
            opened: false,
            gap: false,
        }
    }

    /// The same sink reporting its GPU OOM detections under another `source` label (`otlp`)
    /// and stream (`otlp-logs`, `otlp-spans`).
    pub fn with_origin(mut self, source: &'static str, stream: &'static str) -> Self {
        self.origin = Origin { source, stream };
        self
    }

    fn open(&mut self) {
        if !self.opened {
            self.opened = true;
            let _ = self.shared.analysis.tx.send(Input::Open {
                id: self.id,
                container: self.container.clone(),
                stream: self.stream,
                origin: self.origin,
                cfg: self.cfg,
            });
        }
    }

    /// Hands a chunk of bytes to the analysis (dropped and counted when it is behind).
    pub fn feed(&mut self, data: &[u8], at_ms: u64) {
        if data.is_empty() {
            return;
        }
        self.open();
        let input = Input::Chunk {
            id: self.id,
            data: data.to_vec(),
            at_ms,
            after_gap: self.gap,
        };
        self.gap = !self.shared.analysis.send_data(data.len(), input);
    }

    /// Hands one complete line (already split by the caller), `truncated` when the caller
    /// cut it; it is cut to [`ANALYSIS_LINE_BYTES`] here.
    pub fn feed_line(&mut self, line: &[u8], truncated: bool, at_ms: u64) {
        self.open();
        let cut = line.len() > ANALYSIS_LINE_BYTES;
        let line = line[..line.len().min(ANALYSIS_LINE_BYTES)].to_vec();
        let input = Input::Line {
            id: self.id,
            truncated: truncated || cut,
            at_ms,
            line,
        };
        let len = line_len(&input);
        self.gap = !self.shared.analysis.send_data(len, input);
    }

    /// End of stream: the last partial line and any open block are analysed.
    pub fn finish(&mut self) {
        if self.opened {
            self.opened = false;
            let _ = self.shared.analysis.tx.send(Input::Close { id: self.id });
        }
    }
}

fn line_len(input: &Input) -> usize {
    match input {
        Input::Line { line, .. } => line.len(),
        Input::Chunk { data, .. } => data.len(),
        _ => 0,
    }
}

impl Drop for StreamSink {
    fn drop(&mut self) {
        self.finish();
    }
}

/// The analysis state of one stream.
struct Stream {
    container: String,
    stream: &'static str,
    origin: Origin,
    cfg: ScanConfig,
    splitter: LineSplitter,
    scanner: StreamScanner,
}

impl Stream {
    fn new(container: String, stream: &'static str, origin: Origin, cfg: ScanConfig) -> Self {
        let cfg = ScanConfig {
            max_line_bytes: cfg.max_line_bytes.min(ANALYSIS_LINE_BYTES),
            ..cfg
        };
        Self {
            container,
            stream,
            origin,
            cfg,
            splitter: LineSplitter::new(cfg.max_line_bytes),
            scanner: StreamScanner::new(cfg),
        }
    }

    /// Analyses the lines of `data`.
    fn chunk(&mut self, obs: &mut Observations, data: &[u8], at_ms: u64) {
        let before = self.splitter.truncated();
        let mut lines = 0u64;
        let mut events = Vec::new();
        let (scanner, container, stream) = (&mut self.scanner, &self.container, self.stream);
        self.splitter.push(data, &mut |line| {
            lines += 1;
            let text = decode(line.bytes);
            if scanner.scan(&text, at_ms, &mut events) == LineKind::Error {
                obs.error_line(container, stream, LineKind::Error, &text, at_ms);
            }
        });
        let truncated = self.splitter.truncated() - before;
        obs.count_lines(&self.container, self.stream, lines, truncated);
        self.apply(obs, events);
    }

    fn line(&mut self, obs: &mut Observations, line: &[u8], truncated: bool, at_ms: u64) {
        let mut events = Vec::new();
        let text = decode(line);
        if self.scanner.scan(&text, at_ms, &mut events) == LineKind::Error {
            obs.error_line(&self.container, self.stream, LineKind::Error, &text, at_ms);
        }
        obs.count_lines(&self.container, self.stream, 1, u64::from(truncated));
        self.apply(obs, events);
    }

    fn idle(&mut self, obs: &mut Observations, now: u64) -> bool {
        let mut events = Vec::new();
        self.scanner.flush_idle(now, &mut events);
        let any = !events.is_empty();
        self.apply(obs, events);
        any
    }

    /// End of stream (or a gap): the partial line and the open block are finished.
    fn finish(&mut self, obs: &mut Observations) {
        let now = now_ms();
        let mut lines = 0;
        let mut events = Vec::new();
        let scanner = &mut self.scanner;
        self.splitter.finish(&mut |line| {
            lines += 1;
            scanner.scan(&decode(line.bytes), now, &mut events);
        });
        self.scanner.finish(&mut events);
        if lines > 0 {
            obs.count_lines(&self.container, self.stream, lines, 0);
        }
        self.apply(obs, events);
    }

    fn restart(&mut self, obs: &mut Observations) {
        self.finish(obs);
        self.splitter = LineSplitter::new(self.cfg.max_line_bytes);
        self.scanner = StreamScanner::new(self.cfg);
    }

    fn apply(&self, obs: &mut Observations, events: Vec<Event>) {
        for e in events {
            obs.event(&self.container, self.origin, e);
        }
    }
}

struct Worker {
    obs: Observations,
    streams: HashMap<u64, Stream>,
    room: Arc<Room>,
    view: tokio::sync::watch::Sender<Arc<Observations>>,
    dirty: bool,
}

impl Worker {
    fn run(mut self, rx: &mpsc::Receiver<Input>) {
        let mut last_publish = Instant::now();
        let mut last_idle = Instant::now();
        loop {
            let wait = if self.dirty {
                PUBLISH_EVERY.saturating_sub(last_publish.elapsed())
            } else {
                IDLE_EVERY.saturating_sub(last_idle.elapsed())
            };
            match rx.recv_timeout(wait) {
                Ok(input) => self.handle(input),
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
            if last_idle.elapsed() >= IDLE_EVERY {
                last_idle = Instant::now();
                let now = now_ms();
                for s in self.streams.values_mut() {
                    self.dirty |= s.idle(&mut self.obs, now);
                }
            }
            if self.dirty && last_publish.elapsed() >= PUBLISH_EVERY {
                self.publish();
                last_publish = Instant::now();
            }
        }
    }

    fn publish(&mut self) {
        self.obs
            .note_queue_drops(self.room.dropped.load(Ordering::Relaxed));
        self.view.send_replace(Arc::new(self.obs.clone()));
        self.dirty = false;
    }

    fn handle(&mut self, input: Input) {
        self.dirty = true;
        match input {
            Input::Open {
                id,
                container,
                stream,
                origin,
                cfg,
            } => {
                self.obs.ensure_container(&container);
                self.streams
                    .insert(id, Stream::new(container, stream, origin, cfg));
            }
            Input::Chunk {
                id,
                data,
                at_ms,
                after_gap,
            } => {
                self.room.give_back(data.len());
                if let Some(s) = self.streams.get_mut(&id) {
                    if after_gap {
                        s.restart(&mut self.obs);
                    }
                    s.chunk(&mut self.obs, &data, at_ms);
                }
            }
            Input::Line {
                id,
                line,
                truncated,
                at_ms,
            } => {
                self.room.give_back(line.len());
                if let Some(s) = self.streams.get_mut(&id) {
                    s.line(&mut self.obs, &line, truncated, at_ms);
                }
            }
            Input::Close { id } => {
                if let Some(mut s) = self.streams.remove(&id) {
                    s.finish(&mut self.obs);
                }
            }
            Input::Container(name) => self.obs.ensure_container(&name),
            Input::Unavailable { container, reason } => {
                self.obs.set_logs_unavailable(&container, reason);
            }
            Input::Settle(done) => {
                self.publish();
                let _ = done.send(());
            }
        }
    }
}
