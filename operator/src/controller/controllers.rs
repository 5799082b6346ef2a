//! The two controllers the leader runs, on the cache's shared streams:
//! - AgentDeployments, triggered by their own spec changes (a generation predicate: the
//!   operator's status writes do not trigger), Models (the systems using a Model or one
//!   descending from it), Evaluations, pod facts and config digests (the `touched` feed), and a
//!   full pass at start and whenever a feed dropped notifications.
//! - Models, triggered by their own spec changes and by their ancestors' (a parent created
//!   later resolves its children's lineage).
//!
//! Every controller error is logged here, once, with its cause.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use agentlens_crds::{AgentDeployment, Model};
use futures::{FutureExt, Stream, StreamExt};
use kube::Resource;
use kube::runtime::Controller;
use kube::runtime::controller::{self, Action};
use kube::runtime::reflector::{ObjectRef, Store};
use tokio::sync::{broadcast, mpsc, oneshot, watch};

use super::cache::{Cache, Touched};
use super::metrics::OperatorMetrics;
use super::reconcile::{
    Ctx, ReconcileError, on_error, reconcile_agent_deployment, reconcile_model,
};
use super::triggers;

/// Reconciles running at once per controller.
pub const CONCURRENCY: u16 = 16;

/// Passes an object when its `metadata.generation` is new (or it has none): spec changes and
/// new objects, not status or metadata-only writes.
#[derive(Debug, Default)]
pub struct GenerationFilter {
    seen: HashMap<String, i64>,
}

impl GenerationFilter {
    /// Whether `obj` should trigger a reconcile. `live` bounds the memory: when the map grows
    /// past twice the objects alive, entries of deleted ones are dropped.
    pub fn pass<K: Resource>(&mut self, obj: &K, live: usize) -> bool {
        let meta = obj.meta();
        let Some(generation) = meta.generation else {
            return true;
        };
        let id = meta
            .uid
            .clone()
            .unwrap_or_else(|| format!("{:?}/{:?}", meta.namespace, meta.name));
        if self.seen.len() > 2 * live + 64 {
            self.seen.clear();
        }
        self.seen.insert(id, generation) != Some(generation)
    }
}

/// A broadcast feed as a stream; notifications lost to lag are counted and answered with a
/// full resync on `resync`.
fn feed<T: Clone + Send + 'static>(
    rx: broadcast::Receiver<T>,
    name: &'static str,
    metrics: OperatorMetrics,
    resync: mpsc::Sender<()>,
) -> impl Stream<Item = T> + Send + 'static {
    futures::stream::unfold(rx, move |mut rx| {
        let (metrics, resync) = (metrics.clone(), resync.clone());
        async move {
            loop {
                match rx.recv().await {
                    Ok(v) => return Some((v, rx)),
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        metrics.trigger_drops.with_label_values(&[name]).inc_by(n);
                        // Full: a resync is already pending, which covers this one.
                        let _ = resync.try_send(());
                    }
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        }
    })
}

fn generation_filtered<K>(
    s: impl Stream<Item = Arc<K>> + Send + 'static,
    store: Store<K>,
) -> impl Stream<Item = Arc<K>> + Send + 'static
where
    K: Resource + Clone + Send + Sync + 'static,
    K::DynamicType: std::hash::Hash + Eq + Clone,
{
    let mut filter = GenerationFilter::default();
    s.filter(move |o| std::future::ready(filter.pass(o.as_ref(), store.len())))
}

fn resyncs(rx: mpsc::Receiver<()>) -> impl Stream<Item = ()> + Send + 'static {
    futures::stream::unfold(
        rx,
        |mut rx| async move { rx.recv().await.map(|()| ((), rx)) },
    )
}

/// One item of a controller's output stream.
type Outcome<K> = Result<
    (ObjectRef<K>, Action),
    controller::Error<ReconcileError, kube::runtime::watcher::Error>,
>;

/// Logs one item of a controller's output: errors with their cause, once.
fn report<K: Resource>(controller: &'static str) -> impl Fn(Outcome<K>) -> std::future::Ready<()> {
    move |r| {
        match r {
            Ok(_) => {}
            // Deleted between the trigger and the reconcile: expected.
            Err(controller::Error::ObjectNotFound(obj)) => {
                tracing::debug!(controller, object = %obj, "gone before its reconcile");
            }
            Err(controller::Error::ReconcilerFailed(err, obj)) => {
                tracing::warn!(
                    controller,
                    object = %obj,
                    category = %err.category(),
                    "reconcile failed: {}",
                    crate::error::chain(&err)
                );
            }
            Err(e) => {
                tracing::warn!(controller, "{}", crate::error::chain(&e));
            }
        }
        std::future::ready(())
    }
}

fn mapped_touched(cache: &Cache, t: &Touched) -> Vec<ObjectRef<AgentDeployment>> {
    let ads = cache.agent_deployments.state();
    match t {
        Touched::Pod(c) => triggers::systems_for_pod(&ads, c.old.as_deref(), c.new.as_deref()),
        Touched::Config { kind, key } => triggers::systems_for_config(
            &ads,
            &cache.pods.in_namespace(&key.0),
            *kind,
            &key.0,
            &key.1,
        ),
    }
}

/// A future resolving when `halt` turns true, in the form `graceful_shutdown_on` takes.
fn halted(mut halt: watch::Receiver<bool>) -> impl Future<Output = ()> + Send + Sync + 'static {
    let (tx, rx) = oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = halt.wait_for(|h| *h).await;
        let _ = tx.send(());
    });
    rx.map(|_| ())
}

/// Runs both controllers until `halt` turns true (then lets running reconciles finish).
pub async fn run(
    cache: &Cache,
    ctx: Arc<Ctx>,
    metrics: &OperatorMetrics,
    halt: watch::Receiver<bool>,
) {
    let cfg = controller::Config::default().concurrency(CONCURRENCY);

    let (ad_resync, ad_resync_rx) = mpsc::channel(1);
    // The first pass: every system, against the listed cache.
    let _ = ad_resync.try_send(());
    let f = &cache.feeds;
    let (ads, models) = (cache.agent_deployments.clone(), cache.models.clone());
    let by_model = {
        let (ads, models) = (ads.clone(), models.clone());
        move |m: Arc<Model>| triggers::systems_for_model(&ads.state(), &models.state(), &m)
    };
    let touched = {
        let cache = cache.clone();
        feed(
            f.touched.subscribe(),
            "touched",
            metrics.clone(),
            ad_resync.clone(),
        )
        .flat_map(move |t| futures::stream::iter(mapped_touched(&cache, &t)))
    };
    let ad_controller = Controller::for_shared_stream(
        generation_filtered(
            feed(
                f.agent_deployments.subscribe(),
                "agentdeployments",
                metrics.clone(),
                ad_resync.clone(),
            ),
            ads.clone(),
        ),
        ads.clone(),
    )
    .watches_shared_stream(
        generation_filtered(
            feed(
                f.models.subscribe(),
                "models",
                metrics.clone(),
                ad_resync.clone(),
            ),
            models.clone(),
        ),
        by_model,
    )
    .watches_shared_stream(
        feed(
            f.evaluations.subscribe(),
            "evaluations",
            metrics.clone(),
            ad_resync.clone(),
        ),
        |e| triggers::system_for_evaluation(&e),
    )
    .reconcile_on(touched)
    .reconcile_all_on(resyncs(ad_resync_rx))
    .with_config(cfg.clone())
    .graceful_shutdown_on(halted(halt.clone()))
    .run(
        reconcile_agent_deployment,
        on_error("agentdeployment"),
        ctx.clone(),
    )
    .for_each(report("agentdeployment"));

    let (model_resync, model_resync_rx) = mpsc::channel(1);
    let _ = model_resync.try_send(());
    let descendants = {
        let models = models.clone();
        move |m: Arc<Model>| triggers::models_for_model(&models.state(), &m)
    };
    let model_controller = Controller::for_shared_stream(
        generation_filtered(
            feed(
                f.models.subscribe(),
                "models",
                metrics.clone(),
                model_resync.clone(),
            ),
            models.clone(),
        ),
        models.clone(),
    )
    .watches_shared_stream(
        generation_filtered(
            feed(
                f.models.subscribe(),
                "models",
                metrics.clone(),
                model_resync,
            ),
            models.clone(),
        ),
        descendants,
    )
    .reconcile_all_on(resyncs(model_resync_rx))
    .with_config(cfg)
    .graceful_shutdown_on(halted(halt))
    .run(reconcile_model, on_error("model"), ctx)
    .for_each(report("model"));

    futures::future::join(ad_controller, model_controller).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ad(uid: &str, generation: Option<i64>) -> AgentDeployment {
        let mut a = AgentDeployment::default();
        a.metadata.uid = Some(uid.into());
        a.metadata.generation = generation;
        a
    }

    #[test]
    fn only_new_generations_pass() {
        let mut f = GenerationFilter::default();
        assert!(f.pass(&ad("a", Some(1)), 1), "first sighting");
        assert!(
            !f.pass(&ad("a", Some(1)), 1),
            "status write: same generation"
        );
        assert!(f.pass(&ad("a", Some(2)), 1), "spec change");
        assert!(f.pass(&ad("b", Some(2)), 2), "another object");
        assert!(f.pass(&ad("c", None), 2), "no generation: always");
    }
}
