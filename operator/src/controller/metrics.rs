//! The operator's own metrics. Labels are bounded: controller names and error categories.

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, Opts, Registry, TextEncoder,
};

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
        Ok(m)
    }

    /// Drops the per-AgentDeployment series of systems that no longer exist, so a deleted
    /// AgentDeployment stops alerting and the label set stays bounded by the live objects.
    pub fn retain_agent_deployments(&self, live: &std::collections::HashSet<(String, String)>) {
        for vec in [
            &self.uninjected,
            &self.gpu_oom,
            &self.maturity_score,
            &self.maturity_check,
        ] {
            for family in prometheus::core::Collector::collect(vec) {
                for metric in family.get_metric() {
                    let labels: Vec<(&str, &str)> = metric
                        .get_label()
                        .iter()
                        .map(|p| (p.name(), p.value()))
                        .collect();
                    let get = |k: &str| labels.iter().find(|(n, _)| *n == k).map(|(_, v)| *v);
                    let key = (
                        get("namespace").unwrap_or_default().to_string(),
                        get("agentdeployment").unwrap_or_default().to_string(),
                    );
                    if !live.contains(&key) {
                        let mut by_name = std::collections::HashMap::new();
                        for (n, v) in &labels {
                            by_name.insert(*n, *v);
                        }
                        let _ = vec.remove(&by_name);
                    }
                }
            }
        }
    }

    /// Prometheus text exposition.
    pub fn render(&self) -> Result<Vec<u8>, prometheus::Error> {
        let mut buf = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut buf)?;
        Ok(buf)
    }
}
