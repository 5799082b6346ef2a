//! State shared by the collectors and the HTTP endpoints.

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

use agentlens_crds::snapshot::{PodIdentity, SidecarMode};

use crate::gpu::XidCounts;
use crate::metrics::Metrics;
use crate::observations::Observations;
use crate::sample::Sample;

/// Everything the sidecar knows.
#[derive(Debug)]
pub struct Shared {
    /// The metric families.
    pub metrics: Metrics,
    /// What the log analysis found.
    pub observations: Mutex<Observations>,
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
    pub fn new(
        mode: SidecarMode,
        pod: Option<PodIdentity>,
    ) -> Result<Arc<Self>, prometheus::Error> {
        let label = match mode {
            SidecarMode::Run => "run",
            SidecarMode::Serve => "serve",
        };
        let metrics = Metrics::new(label)?;
        Ok(Arc::new(Self {
            observations: Mutex::new(Observations::new(metrics.clone())),
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
}
