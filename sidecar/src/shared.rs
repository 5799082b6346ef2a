//! State shared by the collectors and the HTTP endpoints. Each piece has one owner that
//! publishes it (see [`crate::view`]); readers load the latest published value and never hold
//! a lock while they work on it.

use std::collections::BTreeMap;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, OnceLock};

use agentlens_crds::snapshot::{PodIdentity, SidecarMode};

use crate::analysis::Analysis;
use crate::gpu::XidCounts;
use crate::inventory::ContainerInventory;
use crate::metrics::Metrics;
use crate::observations::Observations;
use crate::otlp::owner::GenAi;
use crate::sample::Sample;
use crate::view::View;

/// The latest inventory of each container, by container name.
pub type Inventories = BTreeMap<String, Arc<ContainerInventory>>;

/// Everything the sidecar knows.
#[derive(Debug)]
pub struct Shared {
    /// The metric families.
    pub metrics: Metrics,
    /// The log analysis: its queue and what it found (see [`Shared::observations`]).
    pub analysis: Analysis,
    /// The latest sample, published by the sampler thread (see [`Shared::sample`]).
    pub sample: View<Sample>,
    /// Set once the first sample was taken (`/readyz`).
    pub ready: AtomicBool,
    /// `run` or `serve`.
    pub mode: SidecarMode,
    /// The pod (serve mode).
    pub pod: Option<PodIdentity>,
    /// Critical XID counts, published by the XID watcher thread.
    pub xid: View<XidCounts>,
    /// When `/metrics` was last fetched (ms since the epoch; 0 = never).
    pub last_scrape_ms: std::sync::atomic::AtomicU64,
    /// Request latency (proxy, or OTLP server spans when no proxy runs).
    pub latency: crate::latency::Histogram,
    /// What the OTLP receiver learnt, owned by its GenAI thread (when the receiver runs).
    pub genai: OnceLock<GenAi>,
    /// The latest inventory of each container, published by the inventory thread.
    pub inventory: View<Inventories>,
}

impl Shared {
    /// Fresh state.
    pub fn new(mode: SidecarMode, pod: Option<PodIdentity>) -> crate::Result<Arc<Self>> {
        let label = match mode {
            SidecarMode::Run => "run",
            SidecarMode::Serve => "serve",
            // Only a newer sidecar's document reads as this; none is started with it.
            SidecarMode::Unknown => "unknown",
        };
        let metrics = Metrics::new(label).map_err(crate::Error::Metrics)?;
        let analysis = Analysis::start(metrics.clone()).map_err(|source| crate::Error::Io {
            what: "starting the analysis thread".into(),
            source,
        })?;
        Ok(Arc::new(Self {
            analysis,
            metrics,
            sample: View::default(),
            ready: AtomicBool::new(false),
            mode,
            pod,
            xid: View::default(),
            last_scrape_ms: std::sync::atomic::AtomicU64::new(0),
            latency: crate::latency::Histogram::default(),
            genai: OnceLock::new(),
            inventory: View::default(),
        }))
    }

    /// The latest sample (an empty one before the sampler's first).
    pub fn sample(&self) -> Arc<Sample> {
        self.sample.load().unwrap_or_default()
    }

    /// The latest inventories (none before the inventory thread's first).
    pub fn inventories(&self) -> Arc<Inventories> {
        self.inventory.load().unwrap_or_default()
    }

    /// What the log analysis found, as last published (at most
    /// [`crate::analysis::PUBLISH_EVERY`] old).
    pub fn observations(&self) -> Arc<Observations> {
        self.analysis.observations()
    }

    /// Waits until everything handed to the analysis and the GenAI store so far is in what
    /// they publish.
    pub fn settle(&self) {
        self.analysis.settle();
        if let Some(genai) = self.genai.get() {
            genai.settle();
        }
    }
}
