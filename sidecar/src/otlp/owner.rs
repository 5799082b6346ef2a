//! The GenAI store's owner (`agentlens-genai`): the one thread that updates the
//! [`GenAiStore`] (and its metrics), without a lock. The decoding thread hands it each request's
//! span facts and waits until they are taken in, so the store and its metrics are current when
//! the exporter gets its answer, and at most one request's facts exist beside the store (the
//! receiver's body budget and decoded-size bounds hold whatever an exporter sends). It
//! publishes an immutable [`GenAiView`] for `/v1/snapshot` at most every
//! [`PUBLISH_EVERY`], and at once when asked to [`GenAi::settle`].

use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use agentlens_crds::snapshot::{GenAiSnapshot, SnapshotAgentEdge};

use super::genai::SpanFacts;
use super::store::GenAiStore;
use crate::metrics::Metrics;
use crate::snapshot::SNAPSHOT_LIST_LIMIT;

/// What the store knew when it was last published: the snapshot's sections.
#[derive(Debug, Clone)]
pub struct GenAiView {
    /// The GenAI evidence (lists cut at [`SNAPSHOT_LIST_LIMIT`]).
    pub genai: GenAiSnapshot,
    /// The agent call graph (busiest edges first, cut at [`SNAPSHOT_LIST_LIMIT`]).
    pub agent_graph: Vec<SnapshotAgentEdge>,
    /// What the store's bounded maps dropped, by buffer.
    pub dropped: BTreeMap<&'static str, u64>,
}

impl GenAiView {
    fn of(store: &GenAiStore) -> Self {
        let (genai, agent_graph) = store.snapshot(SNAPSHOT_LIST_LIMIT);
        Self {
            genai,
            agent_graph,
            dropped: store.dropped().clone(),
        }
    }
}

enum Input {
    Facts {
        batch: Vec<SpanFacts>,
        at_ms: u64,
        /// Whether the store took the batch in.
        taken: mpsc::SyncSender<bool>,
    },
    Settle(mpsc::SyncSender<()>),
}

/// The handle of the GenAI thread: its queue and the published view. The thread ends when
/// the handle is dropped.
#[derive(Debug)]
pub struct GenAi {
    /// A rendezvous queue: a sender waits until the thread takes its message.
    tx: mpsc::SyncSender<Input>,
    view: tokio::sync::watch::Receiver<Arc<GenAiView>>,
    /// Whether the thread's end was logged.
    gone_logged: AtomicBool,
    /// Whether a late answer was logged.
    late_logged: AtomicBool,
}

/// What became of a request's span facts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ingested {
    /// In the store.
    Taken,
    /// The store failed on the batch (a panic, logged by the thread): lost.
    Failed,
    /// The thread has ended: lost.
    Gone,
    /// The thread took the batch but did not finish within 10 s: it is taken in later.
    Late,
}

impl Ingested {
    /// Whether the spans never reach the store.
    pub fn lost(self) -> bool {
        matches!(self, Self::Failed | Self::Gone)
    }
}

/// How often, at most, the view is rebuilt while spans arrive: the log analysis's interval, so
/// `/v1/snapshot` is as current for spans as for log events. (A rebuild copies the store's
/// prompts and edges; publishing only when a reader asks would be cheaper under steady traffic.)
pub use crate::analysis::PUBLISH_EVERY;

/// Longest a caller waits for the thread (it only ever waits for one request's facts).
const WAIT: Duration = Duration::from_secs(10);

/// The `dropped` key of spans whose facts the store never took in whole: the store failed on
/// their request's batch (spans of it handled before the failure are counted too), or its
/// thread is gone.
pub const LOST: &str = "otlpSpansLost";

/// Runs one batch's work; a panic in it is returned as its message instead of ending the
/// thread. A batch that trips a bug in the store then costs that batch, not every span after it
/// (the thread died, each later `send` failed, and the view stayed as it was with nothing said).
fn guarded(work: impl FnOnce()) -> Result<(), String> {
    std::panic::catch_unwind(AssertUnwindSafe(work)).map_err(|panic| {
        panic
            .downcast_ref::<&str>()
            .map(|s| (*s).to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic without a message".into())
    })
}

impl GenAi {
    /// Starts the thread with an empty store.
    pub fn start(capture_content: bool, metrics: Metrics) -> std::io::Result<Self> {
        let store = GenAiStore::new(capture_content, metrics);
        let (view_tx, view) = tokio::sync::watch::channel(Arc::new(GenAiView::of(&store)));
        let (tx, rx) = mpsc::sync_channel(0);
        std::thread::Builder::new()
            .name("agentlens-genai".into())
            .spawn(move || run(store, &rx, view_tx))?;
        Ok(Self {
            tx,
            view,
            gone_logged: AtomicBool::new(false),
            late_logged: AtomicBool::new(false),
        })
    }

    /// Hands one request's span facts to the store and waits (blocking, at most 10 s) until
    /// they are in it.
    pub fn ingest(&self, batch: Vec<SpanFacts>, at_ms: u64) -> Ingested {
        let (taken, done) = mpsc::sync_channel(1);
        let sent = self.tx.send(Input::Facts {
            batch,
            at_ms,
            taken,
        });
        let outcome = match sent.map(|()| done.recv_timeout(WAIT)) {
            Ok(Ok(true)) => Ingested::Taken,
            Ok(Ok(false)) => Ingested::Failed,
            // The thread has the batch and takes it in later: not lost.
            Ok(Err(mpsc::RecvTimeoutError::Timeout)) => Ingested::Late,
            Ok(Err(mpsc::RecvTimeoutError::Disconnected)) | Err(_) => Ingested::Gone,
        };
        match outcome {
            Ingested::Late if !self.late_logged.swap(true, Ordering::Relaxed) => {
                tracing::warn!(
                    "GenAI thread is more than 10 s behind; spans are kept (logged once)"
                );
            }
            Ingested::Gone if !self.gone_logged.swap(true, Ordering::Relaxed) => {
                tracing::error!(
                    "GenAI thread has ended; spans are lost from now on, counted in agentlens_sidecar_dropped_total{{buffer=\"{LOST}\"}} (logged once)"
                );
            }
            _ => {}
        }
        outcome
    }

    /// The latest published view (at most [`PUBLISH_EVERY`] old).
    pub fn view(&self) -> Arc<GenAiView> {
        self.view.borrow().clone()
    }

    /// Waits (blocking, at most 10 s) until everything ingested so far is published.
    pub fn settle(&self) {
        let (tx, rx) = mpsc::sync_channel(1);
        if self.tx.send(Input::Settle(tx)).is_ok() {
            let _ = rx.recv_timeout(WAIT);
        }
    }
}

/// The thread's state: the store and when it last published.
struct Owner {
    store: GenAiStore,
    view: tokio::sync::watch::Sender<Arc<GenAiView>>,
    last_publish: Instant,
    dirty: bool,
    /// Batches the store failed on.
    failures: u64,
}

impl Owner {
    fn publish(&mut self) {
        self.view.send_replace(Arc::new(GenAiView::of(&self.store)));
        self.last_publish = Instant::now();
        self.dirty = false;
    }

    fn publish_if_due(&mut self) {
        if self.dirty && self.last_publish.elapsed() >= PUBLISH_EVERY {
            self.publish();
        }
    }
}

fn run(
    store: GenAiStore,
    rx: &mpsc::Receiver<Input>,
    view: tokio::sync::watch::Sender<Arc<GenAiView>>,
) {
    let mut o = Owner {
        store,
        view,
        last_publish: Instant::now(),
        dirty: false,
        failures: 0,
    };
    loop {
        let input = if o.dirty {
            match rx.recv_timeout(PUBLISH_EVERY.saturating_sub(o.last_publish.elapsed())) {
                Ok(input) => Some(input),
                Err(mpsc::RecvTimeoutError::Timeout) => None,
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
        } else {
            match rx.recv() {
                Ok(input) => Some(input),
                Err(_) => break,
            }
        };
        match input {
            Some(Input::Facts {
                batch,
                at_ms,
                taken,
            }) => {
                // A batch that trips a bug in the store costs that batch, not every span after
                // it: without this the thread died, each later `send` failed, and the view
                // stayed as it was with nothing said. The store keeps what it had.
                let ok = guarded(|| o.store.ingest(&batch, at_ms));
                drop(batch);
                o.dirty = true;
                // Published before the answer when one is due; otherwise within PUBLISH_EVERY.
                o.publish_if_due();
                if let Err(cause) = &ok {
                    o.failures += 1;
                    if o.failures == 1 {
                        tracing::error!(
                            %cause,
                            "GenAI store failed on a batch of spans; its spans are lost (counted in agentlens_sidecar_dropped_total{{buffer=\"{LOST}\"}}, further failures only counted)"
                        );
                    }
                }
                let _ = taken.send(ok.is_ok());
            }
            Some(Input::Settle(done)) => {
                o.publish();
                let _ = done.send(());
            }
            None => o.publish_if_due(),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_panicking_batch_is_reported_and_the_next_one_runs() {
        assert_eq!(guarded(|| ()), Ok(()));
        assert_eq!(
            guarded(|| panic!("store bug")),
            Err("store bug".to_string())
        );
        let n = 3;
        assert_eq!(guarded(|| panic!("{n} spans")), Err("3 spans".to_string()));
    }

    #[test]
    fn spans_for_a_thread_that_ended_are_refused_not_waited_for() {
        let (tx, rx) = mpsc::sync_channel(0);
        drop(rx);
        let (_view_tx, view) = tokio::sync::watch::channel(Arc::new(GenAiView {
            genai: GenAiSnapshot::default(),
            agent_graph: Vec::new(),
            dropped: BTreeMap::new(),
        }));
        let g = GenAi {
            tx,
            view,
            gone_logged: AtomicBool::new(false),
            late_logged: AtomicBool::new(false),
        };
        assert_eq!(g.ingest(Vec::new(), 0), Ingested::Gone);
        assert_eq!(g.ingest(Vec::new(), 0), Ingested::Gone);
        assert!(g.gone_logged.load(Ordering::Relaxed));
        assert!(!g.late_logged.load(Ordering::Relaxed));
    }

    #[test]
    fn a_running_thread_takes_batches_in() {
        let g = GenAi::start(false, Metrics::new("run").unwrap()).unwrap();
        assert_eq!(g.ingest(Vec::new(), 0), Ingested::Taken);
    }
}
