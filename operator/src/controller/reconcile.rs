//! The reconcilers: observe (reflector stores and sidecar snapshots) → compute (pure, in
//! [`crate::status`]) → apply (a server-side-apply status patch under a fixed field manager,
//! only when the status changed).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use agentlens_crds::{AgentDeployment, Evaluation, Model};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::reflector::Store;
use kube::{Resource, ResourceExt};
use serde_json::json;

use super::metrics::OperatorMetrics;
use super::snapshots::SnapshotClient;
use crate::status;

/// The field manager of every write.
pub const FIELD_MANAGER: &str = "agentlens-operator";
/// How often runtime data is refreshed when nothing else triggers a reconcile.
pub const REQUEUE: Duration = Duration::from_secs(60);

/// Errors of a reconcile.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// The API refused or failed.
    #[error("{what}: {source}")]
    Kube {
        /// What was being done (`patching the status of AgentDeployment ns/name`).
        what: String,
        /// The API's answer or the transport's failure (boxed: it is large).
        #[source]
        source: Box<kube::Error>,
    },
}

impl ReconcileError {
    /// Fixed metric label: the kind of API failure.
    pub fn category(&self) -> &'static str {
        match self {
            ReconcileError::Kube { source, .. } => crate::error::kube_category(source),
        }
    }
}

/// What the reconcilers read.
#[derive(Clone)]
pub struct Ctx {
    /// The client.
    pub client: kube::Client,
    /// Pods of every namespace, as the facts the status reads.
    pub pods: super::index::PodIndex,
    /// ConfigMaps, as content digests.
    pub config_maps: super::index::DigestIndex,
    /// Secrets, as HMACs of their data (never the data).
    pub secrets: super::index::DigestIndex,
    /// Models.
    pub models: Store<Model>,
    /// Evaluations.
    pub evaluations: Store<Evaluation>,
    /// Sidecar snapshots.
    pub snapshots: Option<SnapshotClient>,
    /// The snapshots last pulled per system.
    pub live: Arc<super::live::LiveFigures>,
    /// How often live figures are pulled again (and every system reconciled).
    pub refresh: Duration,
    /// Metrics.
    pub metrics: OperatorMetrics,
    /// The clock (tests fix it).
    pub now: fn() -> Time,
    /// Publishes Kubernetes Events (`None` in tests that do not look at events).
    pub recorder: Option<kube::runtime::events::Recorder>,
    /// Binds the agents' service accounts for their sidecars' log access (`None`: not
    /// managed by this operator).
    pub sidecar_access: Option<Arc<super::sidecar_access::SidecarAccess>>,
}

impl std::fmt::Debug for Ctx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Ctx")
    }
}

/// The real clock.
pub fn wall_clock() -> Time {
    Time(k8s_openapi::jiff::Timestamp::now())
}

fn in_ns<K>(store: &Store<K>, ns: &str) -> Vec<Arc<K>>
where
    K: Resource<DynamicType = ()> + Clone + 'static,
{
    store
        .state()
        .into_iter()
        .filter(|o| o.meta().namespace.as_deref() == Some(ns))
        .collect()
}

fn by_name<K: Resource>(objs: &[Arc<K>]) -> BTreeMap<String, &K> {
    objs.iter()
        .filter_map(|o| o.meta().name.clone().map(|n| (n, o.as_ref())))
        .collect()
}

/// Reconciles one AgentDeployment.
pub async fn reconcile_agent_deployment(
    ad: Arc<AgentDeployment>,
    ctx: Arc<Ctx>,
) -> Result<Action, ReconcileError> {
    let start = Instant::now();
    ctx.metrics
        .reconciles
        .with_label_values(&["agentdeployment"])
        .inc();
    let ns = ad.namespace().unwrap_or_default();
    let pods = ctx.pods.in_namespace(&ns);
    let pod_refs: Vec<&status::PodFacts> = pods.iter().map(AsRef::as_ref).collect();
    let cms = ctx.config_maps.named_in(&ns);
    let secrets = ctx.secrets.named_in(&ns);
    let models = in_ns(&ctx.models, &ns);
    let evals = in_ns(&ctx.evaluations, &ns);
    let eval_refs: Vec<&Evaluation> = evals.iter().map(AsRef::as_ref).collect();
    let matched = status::matched(&ad, &pod_refs);
    let snapshots = live_figures(&ad, &matched, &ctx).await;
    let package_lists = match &ctx.snapshots {
        Some(c) if !snapshots.is_empty() => {
            let previous: Vec<String> = ad
                .status
                .as_ref()
                .map(|s| {
                    s.inventory
                        .iter()
                        .filter_map(|i| i.digest.clone())
                        .collect()
                })
                .unwrap_or_default();
            c.package_lists(&snapshots, &matched, &previous).await
        }
        _ => status::inventory::PackageLists::new(),
    };
    let cm_idx = cms.iter().map(|(n, d)| (n.clone(), d.as_ref())).collect();
    let secret_idx = secrets
        .iter()
        .map(|(n, d)| (n.clone(), d.as_ref()))
        .collect();
    let model_idx = by_name(&models);
    let world = status::World {
        ad: &ad,
        pods: &pod_refs,
        config_maps: &cm_idx,
        secrets: &secret_idx,
        models: &model_idx,
        evaluations: &eval_refs,
        snapshots: &snapshots,
        package_lists: &package_lists,
    };
    let now = (ctx.now)();
    let new_status = status::agent_deployment(&world, ad.status.as_ref(), &now);
    if let (Some(recorder), Some(rt)) = (&ctx.recorder, new_status.runtime.as_ref()) {
        super::actions::publish(
            recorder,
            &ad,
            super::actions::new_events(ad.status.as_ref(), rt),
        )
        .await;
    }
    if ad.spec.sidecar.as_ref().and_then(|s| s.restart_uninjected) == Some(true)
        && new_status
            .pods
            .as_ref()
            .is_some_and(|p| p.uninjected_count > 0)
    {
        let names: Vec<&String> = new_status
            .pods
            .as_ref()
            .map(|p| p.uninjected.iter().collect())
            .unwrap_or_default();
        let uninjected: Vec<&status::PodFacts> = matched
            .iter()
            .copied()
            .filter(|p| names.contains(&&p.name))
            .collect();
        let done =
            super::actions::restart_uninjected(&ctx.client, &ns, &uninjected, &now.0.to_string())
                .await;
        if !done.is_empty() {
            tracing::info!(agentdeployment = %ad.name_any(), "rolled out {} for sidecar injection", done.join(", "));
        }
    }
    let labels = [ns.as_str(), ad.metadata.name.as_deref().unwrap_or_default()];
    let uninjected = new_status.pods.as_ref().map_or(0, |p| p.uninjected_count);
    ctx.metrics
        .uninjected
        .with_label_values(&labels)
        .set(i64::from(uninjected));
    ctx.metrics
        .gpu_memory_pressure_ratio
        .with_label_values(&labels)
        .set(super::metrics::memory_pressure_ratio(&ad.spec));
    let ooms = new_status.runtime.as_ref().map_or(0, |r| r.gpu_oom_events);
    ctx.metrics
        .gpu_oom
        .with_label_values(&labels)
        .set(i64::try_from(ooms).unwrap_or(i64::MAX));
    if let Some(m) = &new_status.maturity {
        ctx.metrics
            .maturity_score
            .with_label_values(&labels)
            .set(i64::from(m.score));
        for c in &m.checks {
            let l = [labels[0], labels[1], c.id.as_str()];
            if c.applicable {
                ctx.metrics
                    .maturity_check
                    .with_label_values(&l)
                    .set(i64::from(c.passed));
            } else {
                let _ = ctx.metrics.maturity_check.remove_label_values(&l);
            }
        }
    }
    if !same_on_the_wire(ad.status.as_ref(), &new_status) {
        tracing::debug!(
            agentdeployment = %ad.name_any(),
            namespace = %ns,
            fields = ?changed_fields(ad.status.as_ref(), &new_status),
            "status changed: writing"
        );
        let api: Api<AgentDeployment> = Api::namespaced(ctx.client.clone(), &ns);
        let patch = json!({
            "apiVersion": AgentDeployment::api_version(&()),
            "kind": AgentDeployment::kind(&()),
            "status": new_status,
        });
        api.patch_status(
            &ad.name_any(),
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&patch),
        )
        .await
        .map_err(|source| ReconcileError::Kube {
            what: format!(
                "patching the status of AgentDeployment {ns}/{}",
                ad.name_any()
            ),
            source: Box::new(source),
        })?;
        ctx.metrics
            .writes
            .with_label_values(&["agentdeployment"])
            .inc();
    }
    // After the status: a binding the API refuses (RBAC of an older chart) fails the
    // reconcile, and is retried, without holding the status back.
    if let Some(access) = &ctx.sidecar_access {
        access.ensure(&ctx.client, &ad, &matched).await?;
    }
    ctx.metrics
        .duration
        .with_label_values(&["agentdeployment"])
        .observe(start.elapsed().as_secs_f64());
    Ok(Action::requeue(ctx.refresh))
}

/// The top-level status fields that differ (for the debug log of a write).
fn changed_fields<T: serde::Serialize>(old: Option<&T>, new: &T) -> Vec<String> {
    let (Ok(old), Ok(serde_json::Value::Object(new))) =
        (serde_json::to_value(old), serde_json::to_value(new))
    else {
        return Vec::new();
    };
    new.iter()
        .filter(|(k, v)| old.get(k.as_str()) != Some(*v))
        .map(|(k, _)| k.clone())
        .collect()
}

/// Whether `new` would change what the API holds: compared as serialised, since fields left
/// out of the JSON (`variants: 1`, empty lists) read back as their defaults and a comparison
/// of the structs would see a change that no write can make.
pub fn same_on_the_wire<T: serde::Serialize>(old: Option<&T>, new: &T) -> bool {
    match (old.map(serde_json::to_value), serde_json::to_value(new)) {
        (Some(Ok(a)), Ok(b)) => a == b,
        _ => false,
    }
}

/// The system's sidecar snapshots, reduced to what the status reads: pulled again when the
/// last pull is older than the refresh interval, else the last ones (see [`super::live`]).
async fn live_figures(
    ad: &AgentDeployment,
    matched: &[&status::PodFacts],
    ctx: &Ctx,
) -> super::live::Snapshots {
    let Some(client) = &ctx.snapshots else {
        return super::live::Snapshots::new();
    };
    let key = (ad.namespace().unwrap_or_default(), ad.name_any());
    let now = Instant::now();
    if let Some(s) = ctx.live.fresh(&key, now, ctx.refresh) {
        return s;
    }
    let (s, failures) = client.fetch(matched).await;
    if failures > 0 {
        ctx.metrics
            .snapshot_failures
            .with_label_values(&["unreachable"])
            .inc_by(failures);
    }
    ctx.live.put(key, now, &s, ctx.refresh);
    s
}

/// Reconciles one Model (its lineage).
pub async fn reconcile_model(m: Arc<Model>, ctx: Arc<Ctx>) -> Result<Action, ReconcileError> {
    let start = Instant::now();
    ctx.metrics.reconciles.with_label_values(&["model"]).inc();
    let ns = m.namespace().unwrap_or_default();
    let models = in_ns(&ctx.models, &ns);
    let idx = by_name(&models);
    let new_status = status::model(&m, &idx, m.status.as_ref(), &(ctx.now)());
    if !same_on_the_wire(m.status.as_ref(), &new_status) {
        let api: Api<Model> = Api::namespaced(ctx.client.clone(), &ns);
        let patch = json!({"apiVersion": Model::api_version(&()), "kind": Model::kind(&()), "status": new_status});
        api.patch_status(
            &m.name_any(),
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&patch),
        )
        .await
        .map_err(|source| ReconcileError::Kube {
            what: format!("patching the status of Model {ns}/{}", m.name_any()),
            source: Box::new(source),
        })?;
        ctx.metrics.writes.with_label_values(&["model"]).inc();
    }
    ctx.metrics
        .duration
        .with_label_values(&["model"])
        .observe(start.elapsed().as_secs_f64());
    // Requeued on the interval too: a deleted parent reaches its children this way.
    Ok(Action::requeue(ctx.refresh))
}

/// Error policy: count by category, retry with a delay. The error is logged once, with its
/// cause, where the controller's output stream is consumed (`controllers.rs`).
pub fn on_error<K>(
    controller: &'static str,
) -> impl Fn(Arc<K>, &ReconcileError, Arc<Ctx>) -> Action {
    move |_obj, err, ctx| {
        ctx.metrics
            .errors
            .with_label_values(&[controller, err.category()])
            .inc();
        Action::requeue(Duration::from_secs(15))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use agentlens_crds::agentdeployment_status::{AgentDeploymentStatus, InventorySummary};

    /// Found against the emulator: `variants: 1` is left out of the JSON and reads back as 0,
    /// so comparing structs wrote the same status on every reconcile.
    #[test]
    fn a_status_that_reads_back_differently_but_serialises_the_same_is_not_written() {
        let row = |variants| InventorySummary {
            container: "main".into(),
            pods: 2,
            variants,
            ..InventorySummary::default()
        };
        let stored = AgentDeploymentStatus {
            inventory: vec![row(0)],
            ..AgentDeploymentStatus::default()
        };
        let computed = AgentDeploymentStatus {
            inventory: vec![row(1)],
            ..AgentDeploymentStatus::default()
        };
        assert_ne!(stored, computed);
        assert!(same_on_the_wire(Some(&stored), &computed));
        let moved = AgentDeploymentStatus {
            inventory: vec![row(2)],
            ..AgentDeploymentStatus::default()
        };
        assert!(!same_on_the_wire(Some(&stored), &moved));
        assert!(!same_on_the_wire(None, &computed));
    }
}
