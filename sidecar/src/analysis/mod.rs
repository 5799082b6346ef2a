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

mod sink;
mod worker;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use crate::logscan::ScanConfig;
use crate::metrics::Metrics;
use crate::observations::{Observations, Origin};
pub use sink::StreamSink;
use worker::Worker;

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
pub(crate) const IDLE_EVERY: Duration = Duration::from_millis(250);
/// The `buffer` label of chunks dropped because the analysis fell behind.
pub const QUEUE_BUFFER: &str = "analysisQueue";

pub(crate) enum Input {
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
pub(crate) struct Room {
    items: AtomicUsize,
    bytes: AtomicUsize,
    pub(crate) dropped: AtomicU64,
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

    /// Takes room for a message that must not be lost (a stream's `Close`, whose `Open` was
    /// accepted): it is counted, so it holds back later chunks and `Open`s, but never refused.
    /// Each accepted `Open` allows one, so these stay bounded by the queue's own bound.
    fn force(&self, len: usize) {
        self.items.fetch_add(1, Ordering::AcqRel);
        self.bytes.fetch_add(len, Ordering::AcqRel);
    }

    pub(crate) fn give_back(&self, len: usize) {
        self.items.fetch_sub(1, Ordering::AcqRel);
        self.bytes.fetch_sub(len, Ordering::AcqRel);
    }
}

/// The handle of the analysis thread: the queue's sending side and the published view.
#[derive(Debug)]
pub struct Analysis {
    pub(crate) tx: mpsc::Sender<Input>,
    room: Arc<Room>,
    view: tokio::sync::watch::Receiver<Arc<Observations>>,
    pub(crate) next_id: AtomicU64,
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
        let worker = Worker::new(obs, room.clone(), view_tx);
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

    /// Registers a container (its counters start at zero). Takes room in the queue like a
    /// chunk (a source creating a sink per request must not grow the queue); when it is
    /// dropped, the stream's first accepted `Open` registers the container instead.
    pub fn container(&self, name: &str) {
        self.send_data(0, Input::Container(name.to_string()));
    }

    /// Records why a container's logs are not collected (`None` once they are).
    pub fn logs_unavailable(&self, container: &str, reason: Option<String>) {
        self.send_data(
            0,
            Input::Unavailable {
                container: container.to_string(),
                reason,
            },
        );
    }

    /// Sends a message that must arrive (see [`Room::force`]).
    pub(crate) fn send_forced(&self, input: Input) {
        self.room.force(0);
        if self.tx.send(input).is_err() {
            self.room.give_back(0);
        }
    }

    pub(crate) fn send_data(&self, len: usize, input: Input) -> bool {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_queue_is_bounded_in_bytes_and_items_and_room_comes_back() {
        let room = Room {
            items: AtomicUsize::new(0),
            bytes: AtomicUsize::new(0),
            dropped: AtomicU64::new(0),
        };
        let half = MAX_QUEUE_BYTES / 2;
        assert!(room.take(half));
        assert!(room.take(half));
        assert!(!room.take(1), "bytes full");
        room.give_back(half);
        assert!(room.take(1));
        // Items: small chunks up to the count bound.
        let room = Room {
            items: AtomicUsize::new(0),
            bytes: AtomicUsize::new(0),
            dropped: AtomicU64::new(0),
        };
        for _ in 0..MAX_QUEUE_ITEMS {
            assert!(room.take(1));
        }
        assert!(!room.take(1), "items full");
        assert_eq!(room.bytes.load(Ordering::Relaxed), MAX_QUEUE_ITEMS);
    }
}
