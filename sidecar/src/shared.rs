//! State shared by the collectors and the HTTP endpoints.

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

use agentlens_crds::snapshot::{PodIdentity, SidecarMode};

use crate::analysis::Analysis;
use crate::gpu::XidCounts;
use crate::metrics::Metrics;
use crate::observations::Observations;
use crate::sample::Sample;

/// Everything the sidecar knows.
#[derive(Debug)]
pub struct Shared {
    /// The metric families.
    pub metrics: Metrics,
    /// The log analysis: its queue and what it found (see [`Shared::observations`]).
    pub analysis: Analysis,
    /// The latest sample.
    pub sample: Mutex<Sample>,
    /// Set once the first sample was taken (`/readyz`).
    pub ready: AtomicBool,
    /// `run` or `serve`.
    pub mode: SidecarMode,
    /// The pod (serve mode).
    pub pod: Option<PodIdentity>,
    /// Critical XID counts.
    pub xid: XidCounts,
    /// When `/metrics` was last fetched (ms since the epoch; 0 = never).
    pub last_scrape_ms: std::sync::atomic::AtomicU64,
    /// Request latency (proxy, or OTLP server spans when no proxy runs).
    pub latency: crate::latency::Histogram,
    /// What the OTLP receiver learnt (when it runs).
    pub genai: Mutex<Option<crate::otlp::store::GenAiStore>>,
    /// The latest inventory of each container.
    pub inventory:
        Mutex<std::collections::BTreeMap<String, Arc<crate::inventory::ContainerInventory>>>,
}

impl Shared {
    /// Fresh state.
    pub fn new(mode: SidecarMode, pod: Option<PodIdentity>) -> crate::Result<Arc<Self>> {
        let label = match mode {
            SidecarMode::Run => "run",
            SidecarMode::Serve => "serve",
        };
        let metrics = Metrics::new(label).map_err(crate::Error::Metrics)?;
        let analysis = Analysis::start(metrics.clone()).map_err(|source| crate::Error::Io {
            what: "starting the analysis thread".into(),
            source,
        })?;
        Ok(Arc::new(Self {
            analysis,
            metrics,
            sample: Mutex::new(Sample::default()),
            ready: AtomicBool::new(false),
            mode,
            pod,
            xid: XidCounts::default(),
            last_scrape_ms: std::sync::atomic::AtomicU64::new(0),
            latency: crate::latency::Histogram::default(),
            genai: Mutex::new(None),
            inventory: Mutex::new(std::collections::BTreeMap::new()),
        }))
    }

    /// What the log analysis found, as last published (at most
    /// [`crate::analysis::PUBLISH_EVERY`] old).
    pub fn observations(&self) -> Arc<Observations> {
        self.analysis.observations()
    }

    /// Waits until everything handed to the analysis so far is in [`Shared::observations`].
    pub fn settle(&self) {
        self.analysis.settle();
    }
}
