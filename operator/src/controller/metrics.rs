//! The operator's own metrics. Labels are bounded: controller names and error categories.

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, Opts, Registry, TextEncoder,
};

/// The `spec.sidecar.gpu.memoryPressureRatio` of a system that does not set one.
pub const DEFAULT_MEMORY_PRESSURE_RATIO: f64 = 0.95;

/// The GPU memory pressure threshold of a system: its spec's, or the default.
pub fn memory_pressure_ratio(spec: &agentlens_crds::AgentDeploymentSpec) -> f64 {
    spec.sidecar
        .as_ref()
        .and_then(|s| s.gpu.as_ref())
        .and_then(|g| g.memory_pressure_ratio)
        .unwrap_or(DEFAULT_MEMORY_PRESSURE_RATIO)
}

/// Reconcile metrics.
#[derive(Clone, Debug)]
pub struct OperatorMetrics {
    registry: Registry,
    /// `agentlens_operator_reconciles_total{controller}`
    pub reconciles: IntCounterVec,
    /// `agentlens_operator_reconcile_errors_total{controller,category}`
    pub errors: IntCounterVec,
    /// `agentlens_operator_reconcile_duration_seconds{controller}`
    pub duration: HistogramVec,
    /// `agentlens_operator_status_writes_total{controller}`
    pub writes: IntCounterVec,
    /// `agentlens_operator_snapshot_failures_total`
    pub snapshot_failures: IntCounterVec,
    /// `agentlens_operator_leader` (1 while this replica leads)
    pub leader: IntGauge,
    /// `agentlens_operator_watch_errors_total{resource,category}`: failed list/watch calls of
    /// the cache (retried with backoff).
    pub watch_errors: IntCounterVec,
    /// `agentlens_operator_trigger_drops_total{feed}`: change notifications a controller fell
    /// too far behind to receive; each drop is answered by reconciling everything once.
    pub trigger_drops: IntCounterVec,
    /// `agentlens_operator_cache_ready` (1 once every cache has listed its objects)
    pub cache_ready: IntGauge,
    /// `agentlens_agentdeployment_uninjected_pods{namespace,agentdeployment}`: pods that should
    /// carry the sidecar and do not (the `AgentLensSidecarMissing` alert).
    pub uninjected: prometheus::IntGaugeVec,
    /// `agentlens_agentdeployment_gpu_oom_events{namespace,agentdeployment}`: GPU OOMs in the
    /// system's status.
    pub gpu_oom: prometheus::IntGaugeVec,
    /// `agentlens_agentdeployment_gpu_memory_pressure_ratio{namespace,agentdeployment}`: the
    /// system's `spec.sidecar.gpu.memoryPressureRatio` (or its default), the threshold the
    /// `AgentLensGpuMemoryPressure` alert compares each GPU's used/total against.
    pub gpu_memory_pressure_ratio: prometheus::GaugeVec,
    /// `agentlens_webhook_requests_total{outcome}`: admission reviews answered, by outcome
    /// (`injected`, `skipped`, `unhandled`, `bad_request`).
    pub webhook_requests: IntCounterVec,
    /// `agentlens_webhook_duration_seconds`: time to answer an admission review.
    pub webhook_duration: prometheus::Histogram,
    /// `agentlens_maturity_score{namespace,agentdeployment}` (0-100).
    pub maturity_score: prometheus::IntGaugeVec,
    /// `agentlens_maturity_check_passed{namespace,agentdeployment,check}`: 1 or 0 for each
    /// applicable check (17 ids at most, so the label stays bounded).
    pub maturity_check: prometheus::IntGaugeVec,
}

impl OperatorMetrics {
    /// Creates and registers the families.
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let m = Self {
            reconciles: IntCounterVec::new(
                Opts::new("agentlens_operator_reconciles_total", "Reconciles run."),
                &["controller"],
            )?,
            errors: IntCounterVec::new(
                Opts::new(
                    "agentlens_operator_reconcile_errors_total",
                    "Reconciles that failed, by error category.",
                ),
                &["controller", "category"],
            )?,
            duration: HistogramVec::new(
                HistogramOpts::new(
                    "agentlens_operator_reconcile_duration_seconds",
                    "Time a reconcile took.",
                )
                .buckets(vec![
                    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                ]),
                &["controller"],
            )?,
            writes: IntCounterVec::new(
                Opts::new(
                    "agentlens_operator_status_writes_total",
                    "Status patches sent (only when the status changed).",
                ),
                &["controller"],
            )?,
            snapshot_failures: IntCounterVec::new(
                Opts::new(
                    "agentlens_operator_snapshot_failures_total",
                    "Sidecar snapshots that could not be pulled.",
                ),
                &["reason"],
            )?,
            leader: IntGauge::with_opts(Opts::new(
                "agentlens_operator_leader",
                "1 while this replica holds the leader lease.",
            ))?,
            watch_errors: IntCounterVec::new(
                Opts::new(
                    "agentlens_operator_watch_errors_total",
                    "List and watch calls of the cache that failed, by resource and category.",
                ),
                &["resource", "category"],
            )?,
            trigger_drops: IntCounterVec::new(
                Opts::new(
                    "agentlens_operator_trigger_drops_total",
                    "Change notifications dropped because a controller fell behind (each answered by a full reconcile).",
                ),
                &["feed"],
            )?,
            cache_ready: IntGauge::with_opts(Opts::new(
                "agentlens_operator_cache_ready",
                "1 once every cache of this replica has listed its objects.",
            ))?,
            uninjected: prometheus::IntGaugeVec::new(
                Opts::new(
                    "agentlens_agentdeployment_uninjected_pods",
                    "Pods of an AgentDeployment that run without the sidecar.",
                ),
                &["namespace", "agentdeployment"],
            )?,
            gpu_oom: prometheus::IntGaugeVec::new(
                Opts::new(
                    "agentlens_agentdeployment_gpu_oom_events",
                    "GPU out-of-memory events recorded in an AgentDeployment's status.",
                ),
                &["namespace", "agentdeployment"],
            )?,
            gpu_memory_pressure_ratio: prometheus::GaugeVec::new(
                Opts::new(
                    "agentlens_agentdeployment_gpu_memory_pressure_ratio",
                    "GPU memory used/total above which an AgentDeployment is under memory pressure (spec.sidecar.gpu.memoryPressureRatio).",
                ),
                &["namespace", "agentdeployment"],
            )?,
            webhook_requests: IntCounterVec::new(
                Opts::new(
                    "agentlens_webhook_requests_total",
                    "Admission reviews the webhook answered, by outcome.",
                ),
                &["outcome"],
            )?,
            webhook_duration: prometheus::Histogram::with_opts(
                HistogramOpts::new(
                    "agentlens_webhook_duration_seconds",
                    "Time the webhook took to answer an admission review.",
                )
                .buckets(vec![
                    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                ]),
            )?,
            maturity_score: prometheus::IntGaugeVec::new(
                Opts::new(
                    "agentlens_maturity_score",
                    "Operational-maturity score of an AgentDeployment, 0-100.",
                ),
                &["namespace", "agentdeployment"],
            )?,
            maturity_check: prometheus::IntGaugeVec::new(
                Opts::new(
                    "agentlens_maturity_check_passed",
                    "1 when an applicable maturity check passes, 0 when it fails.",
                ),
                &["namespace", "agentdeployment", "check"],
            )?,
            registry,
        };
        m.registry.register(Box::new(m.reconciles.clone()))?;
        m.registry.register(Box::new(m.errors.clone()))?;
        m.registry.register(Box::new(m.duration.clone()))?;
        m.registry.register(Box::new(m.writes.clone()))?;
        m.registry.register(Box::new(m.snapshot_failures.clone()))?;
        m.registry.register(Box::new(m.leader.clone()))?;
        m.registry.register(Box::new(m.watch_errors.clone()))?;
        m.registry.register(Box::new(m.trigger_drops.clone()))?;
        m.registry.register(Box::new(m.cache_ready.clone()))?;
        m.registry.register(Box::new(m.uninjected.clone()))?;
        m.registry.register(Box::new(m.gpu_oom.clone()))?;
        m.registry
            .register(Box::new(m.gpu_memory_pressure_ratio.clone()))?;
        m.registry.register(Box::new(m.webhook_requests.clone()))?;
        m.registry.register(Box::new(m.webhook_duration.clone()))?;
        m.registry.register(Box::new(m.maturity_score.clone()))?;
        m.registry.register(Box::new(m.maturity_check.clone()))?;
        for controller in ["agentdeployment", "model"] {
            m.reconciles.with_label_values(&[controller]);
            m.writes.with_label_values(&[controller]);
            for c in crate::error::KUBE_CATEGORIES {
                m.errors.with_label_values(&[controller, c]);
            }
        }
        m.snapshot_failures.with_label_values(&["unreachable"]);
        for o in crate::admission::Outcome::ALL {
            m.webhook_requests.with_label_values(&[o.as_str()]);
        }
        Ok(m)
    }

    /// Drops the per-AgentDeployment series of systems that no longer exist, so a deleted
    /// AgentDeployment stops alerting and the label set stays bounded by the live objects.
    pub fn retain_agent_deployments(&self, live: &std::collections::HashSet<(String, String)>) {
        retain(&self.uninjected, live);
        retain(&self.gpu_oom, live);
        retain(&self.gpu_memory_pressure_ratio, live);
        retain(&self.maturity_score, live);
        retain(&self.maturity_check, live);
    }

    /// Prometheus text exposition.
    pub fn render(&self) -> Result<Vec<u8>, prometheus::Error> {
        let mut buf = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut buf)?;
        Ok(buf)
    }
}

/// Removes the series of `vec` whose `(namespace, agentdeployment)` is not in `live`.
fn retain<T: prometheus::core::MetricVecBuilder>(
    vec: &prometheus::core::MetricVec<T>,
    live: &std::collections::HashSet<(String, String)>,
) {
    for family in prometheus::core::Collector::collect(vec) {
        for metric in family.get_metric() {
            let labels: std::collections::HashMap<&str, &str> = metric
                .get_label()
                .iter()
                .map(|p| (p.name(), p.value()))
                .collect();
            let get = |k: &str| labels.get(k).copied().unwrap_or_default().to_string();
            if !live.contains(&(get("namespace"), get("agentdeployment"))) {
                let _ = vec.remove(&labels);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pressure_threshold_is_the_specs_or_the_default() {
        let finetuned: agentlens_crds::AgentDeployment = serde_saphyr::from_str(include_str!(
            "../../../examples/finetuned-gpu/agentdeployment.yaml"
        ))
        .unwrap();
        let invoice: agentlens_crds::AgentDeployment = serde_saphyr::from_str(include_str!(
            "../../../examples/invoice-rpa/agentdeployment.yaml"
        ))
        .unwrap();
        for (ad, expected) in [
            (&finetuned, 0.97),
            (&invoice, DEFAULT_MEMORY_PRESSURE_RATIO),
        ] {
            assert_eq!(memory_pressure_ratio(&ad.spec), expected);
        }
    }
}
