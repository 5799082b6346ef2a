//! The cache every replica keeps, leader or not: one watch per kind, started before
//! leadership is sought, so the webhook of a follower knows every AgentDeployment and a new
//! leader reconciles against listed objects, never an empty cache.
//!
//! - AgentDeployments, Models and Evaluations: `reflector::store_shared` stores (managed
//!   fields dropped). One subscriber per store is drained at once into a bounded
//!   `tokio::sync::broadcast` feed: a follower has no receiver, so nothing waits on it, and a
//!   controller that falls behind loses the oldest notifications (counted) and reconciles
//!   everything once instead of blocking the watch.
//! - Pods, ConfigMaps, Secrets: reduced as they arrive to the facts the status reads
//!   ([`PodFacts`], [`ConfigDigest`]: hashes, never data; Secrets by HMAC under the
//!   installation's key) in [`Index`]es; a change of those facts (not a resourceVersion bump)
//!   goes to the `touched` feed.
//! - ConfigMaps and Secrets are watched only in the namespaces that hold AgentDeployments (or
//!   the fixed list of `--config-namespaces`), one watch per namespace, started and stopped as
//!   systems come and go.
//!
//! [`Cache::wait_until_ready`] resolves once every watch has listed (the configs of the
//! namespaces known at start included); `/readyz` and the controllers wait for it.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;
use std::sync::Arc;

use agentlens_crds::agentdeployment_status::ConfigKind;
use agentlens_crds::{AgentDeployment, Evaluation, Model};
use futures::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, Pod, Secret};
use kube::runtime::reflector::{self, ReflectHandle, Store};
use kube::runtime::watcher::{self, Event};
use kube::runtime::{WatchStreamExt, watcher as watch_api};
use kube::{Api, Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use tokio::sync::{broadcast, oneshot, watch};

use super::index::{Change, DigestIndex, Index, Key, PodIndex};
use super::metrics::OperatorMetrics;
use crate::status::PodFacts;
use crate::status::configs::ConfigDigest;

/// Notifications each feed holds for a slow controller before dropping the oldest.
pub const FEED_CAPACITY: usize = 1024;

/// A change of the facts a status reads, for the controllers' mappers.
#[derive(Debug, Clone)]
pub enum Touched {
    /// A pod's facts changed (or it appeared or went away).
    Pod(Change<PodFacts>),
    /// A ConfigMap's or Secret's content digest changed.
    Config {
        /// Which kind.
        kind: ConfigKind,
        /// (namespace, name).
        key: Key,
    },
}

pub use crate::webhook::AdsByNamespace;

/// Change feeds of the cache, subscribed by the controllers while this replica leads.
#[derive(Clone, Debug)]
pub struct Feeds {
    /// AgentDeployments applied.
    pub agent_deployments: broadcast::Sender<Arc<AgentDeployment>>,
    /// Models applied.
    pub models: broadcast::Sender<Arc<Model>>,
    /// Evaluations applied.
    pub evaluations: broadcast::Sender<Arc<Evaluation>>,
    /// Pod facts and config digests changed.
    pub touched: broadcast::Sender<Touched>,
}

/// What the cache watches beyond the defaults.
#[derive(Debug, Clone)]
pub struct CacheOptions {
    /// Watch ConfigMaps and Secrets in these namespaces only; `None`: in the namespaces that
    /// hold AgentDeployments, as they come and go.
    pub config_namespaces: Option<BTreeSet<String>>,
    /// The installation's HMAC key Secrets are hashed under.
    pub hmac_key: Arc<Vec<u8>>,
}

/// The replica's view of the cluster.
#[derive(Clone, Debug)]
pub struct Cache {
    /// AgentDeployments.
    pub agent_deployments: Store<AgentDeployment>,
    /// Models.
    pub models: Store<Model>,
    /// Evaluations.
    pub evaluations: Store<Evaluation>,
    /// Pods as facts.
    pub pods: PodIndex,
    /// ConfigMaps as digests.
    pub config_maps: DigestIndex,
    /// Secrets as HMACs.
    pub secrets: DigestIndex,
    /// The webhook's view.
    pub by_namespace: watch::Receiver<AdsByNamespace>,
    /// Change feeds.
    pub feeds: Feeds,
    ready: watch::Receiver<bool>,
}

impl Cache {
    /// Starts every watch (tasks on the current runtime) and returns the cache at once; it
    /// fills as the lists arrive.
    pub fn start(client: &Client, opts: CacheOptions, metrics: &OperatorMetrics) -> Self {
        let feeds = Feeds {
            agent_deployments: broadcast::channel(FEED_CAPACITY).0,
            models: broadcast::channel(FEED_CAPACITY).0,
            evaluations: broadcast::channel(FEED_CAPACITY).0,
            touched: broadcast::channel(FEED_CAPACITY).0,
        };
        let (view_tx, by_namespace) = watch::channel(AdsByNamespace::default());
        let (ns_tx, ns_rx) = watch::channel(BTreeSet::new());
        let agent_deployments = reflect(
            Api::all(client.clone()),
            feeds.agent_deployments.clone(),
            metrics.clone(),
            {
                let metrics = metrics.clone();
                move |store: &Store<AgentDeployment>, ev: &Event<AgentDeployment>| {
                    on_agent_deployment(store, ev, &view_tx, &ns_tx, &metrics);
                }
            },
        );
        let models = reflect(
            Api::all(client.clone()),
            feeds.models.clone(),
            metrics.clone(),
            |_: &Store<Model>, _: &Event<Model>| {},
        );
        let evaluations = reflect(
            Api::all(client.clone()),
            feeds.evaluations.clone(),
            metrics.clone(),
            |_: &Store<Evaluation>, _: &Event<Evaluation>| {},
        );
        let pods = PodIndex::default();
        let (pods_synced, pods_ready) = oneshot::channel();
        {
            let touched = feeds.touched.clone();
            tokio::spawn(drive_index(
                Api::<Pod>::all(client.clone()),
                None,
                pods.clone(),
                PodFacts::from_pod,
                move |c| {
                    let _ = touched.send(Touched::Pod(c));
                },
                pods_synced,
                metrics.clone(),
            ));
        }
        let config_maps = DigestIndex::default();
        let secrets = DigestIndex::default();
        // One waiter per store: kube's `Store::wait_until_ready` wakes only the last of
        // several concurrent waiters, so readiness is awaited here once and shared.
        let (ads_listed_tx, ads_listed) = watch::channel(false);
        let (configs_synced, configs_ready) = oneshot::channel();
        tokio::spawn(watch_configs(
            client.clone(),
            opts,
            agent_deployments.clone(),
            (ads_listed, ns_rx),
            (config_maps.clone(), secrets.clone()),
            feeds.touched.clone(),
            configs_synced,
            metrics.clone(),
        ));
        let (ready_tx, ready) = watch::channel(false);
        {
            let (a, m, e) = (
                agent_deployments.clone(),
                models.clone(),
                evaluations.clone(),
            );
            let metrics = metrics.clone();
            tokio::spawn(async move {
                let stores = async {
                    a.wait_until_ready().await?;
                    let _ = ads_listed_tx.send(true);
                    tracing::debug!("cache: AgentDeployments listed");
                    m.wait_until_ready().await?;
                    tracing::debug!("cache: Models listed");
                    e.wait_until_ready().await?;
                    tracing::debug!("cache: Evaluations listed");
                    Ok::<(), kube::runtime::reflector::store::WriterDropped>(())
                };
                if stores.await.is_ok() && pods_ready.await.is_ok() && configs_ready.await.is_ok() {
                    tracing::info!("cache ready: every watch has listed");
                    metrics.cache_ready.set(1);
                    let _ = ready_tx.send(true);
                }
            });
        }
        Self {
            agent_deployments,
            models,
            evaluations,
            pods,
            config_maps,
            secrets,
            by_namespace,
            feeds,
            ready,
        }
    }

    /// Turns true once every watch has listed.
    pub fn ready_signal(&self) -> watch::Receiver<bool> {
        self.ready.clone()
    }

    /// Whether every watch has listed.
    pub fn is_ready(&self) -> bool {
        *self.ready.borrow()
    }

    /// Resolves once every watch has listed (never, if one cannot list: `/readyz` stays
    /// unready and the log says why).
    pub async fn wait_until_ready(&self) {
        let mut r = self.ready.clone();
        let _ = r.wait_for(|ready| *ready).await;
    }
}

fn log_watch_error<K: Resource<DynamicType = ()>>(e: &watcher::Error, metrics: &OperatorMetrics) {
    let category = match e {
        watcher::Error::InitialListFailed(k) | watcher::Error::WatchStartFailed(k) => {
            crate::error::kube_category(k)
        }
        watcher::Error::WatchError(s) => match s.code {
            403 => "forbidden",
            410 => "gone",
            _ => "api",
        },
        watcher::Error::WatchFailed(k) => crate::error::kube_category(k),
        _ => "transport",
    };
    let resource = K::plural(&());
    metrics
        .watch_errors
        .with_label_values(&[&resource, category])
        .inc();
    tracing::warn!(%resource, %category, "watching {resource}: {}", crate::error::chain(e));
}

/// A shared reflector of `K` on every replica; `on_event` runs after each event reached the
/// store.
fn reflect<K>(
    api: Api<K>,
    feed: broadcast::Sender<Arc<K>>,
    metrics: OperatorMetrics,
    mut on_event: impl FnMut(&Store<K>, &Event<K>) + Send + 'static,
) -> Store<K>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
{
    let (store, writer) = reflector::store_shared::<K>(FEED_CAPACITY);
    if let Some(handle) = writer.subscribe() {
        tokio::spawn(forward(handle, feed));
    }
    let reader = store.clone();
    tokio::spawn(async move {
        let stream = watch_api(api, watcher::Config::default())
            .modify(|o: &mut K| o.meta_mut().managed_fields = None)
            .default_backoff()
            .reflect_shared(writer);
        futures::pin_mut!(stream);
        while let Some(ev) = stream.next().await {
            match ev {
                Ok(ev) => on_event(&reader, &ev),
                Err(e) => log_watch_error::<K>(&e, &metrics),
            }
        }
    });
    store
}

/// Drains the store's subscriber into the broadcast feed, so the reflector never waits.
async fn forward<K>(handle: ReflectHandle<K>, feed: broadcast::Sender<Arc<K>>)
where
    K: Resource<DynamicType = ()> + Clone + Send + Sync + 'static,
{
    futures::pin_mut!(handle);
    while let Some(obj) = handle.next().await {
        // No receiver (a follower): dropped here, by design.
        let _ = feed.send(obj);
    }
}

/// A watch of `K` reduced to facts in `index`; `synced` fires after its first full list.
async fn drive_index<K, T>(
    api: Api<K>,
    scope: Option<String>,
    index: Index<T>,
    facts: impl Fn(&K) -> T + Send + 'static,
    on_change: impl Fn(Change<T>) + Send + 'static,
    synced: oneshot::Sender<()>,
    metrics: OperatorMetrics,
) where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + 'static,
    T: PartialEq + Send + Sync + 'static,
{
    let mut synced = Some(synced);
    let stream = watch_api(api, watcher::Config::default()).default_backoff();
    futures::pin_mut!(stream);
    while let Some(ev) = stream.next().await {
        match ev {
            Ok(ev) => {
                for c in index.apply(scope.as_deref(), &ev, &facts) {
                    on_change(c);
                }
                if matches!(ev, Event::InitDone)
                    && let Some(s) = synced.take()
                {
                    tracing::debug!(
                        resource = %K::plural(&()),
                        namespace = scope.as_deref().unwrap_or("*"),
                        objects = index.len(),
                        "cache: listed"
                    );
                    let _ = s.send(());
                }
            }
            Err(e) => log_watch_error::<K>(&e, &metrics),
        }
    }
}

/// The namespaces holding AgentDeployments.
pub fn namespaces_of(ads: &[Arc<AgentDeployment>]) -> BTreeSet<String> {
    ads.iter().filter_map(|a| a.namespace()).collect()
}

/// The webhook's view of one namespace: its AgentDeployments without status, by name.
pub fn webhook_view(ads: &[Arc<AgentDeployment>], ns: &str) -> Vec<AgentDeployment> {
    let mut out: Vec<AgentDeployment> = ads
        .iter()
        .filter(|a| a.namespace().as_deref() == Some(ns))
        .map(|a| {
            let mut a = a.as_ref().clone();
            a.status = None;
            a
        })
        .collect();
    out.sort_by_key(ResourceExt::name_any);
    out
}

fn on_agent_deployment(
    store: &Store<AgentDeployment>,
    ev: &Event<AgentDeployment>,
    view: &watch::Sender<AdsByNamespace>,
    namespaces: &watch::Sender<BTreeSet<String>>,
    metrics: &OperatorMetrics,
) {
    let touched: Vec<String> = match ev {
        Event::Apply(a) | Event::Delete(a) => a.namespace().into_iter().collect(),
        Event::InitDone => {
            let mut all = namespaces_of(&store.state());
            all.extend(view.borrow().keys().cloned());
            all.into_iter().collect()
        }
        Event::Init | Event::InitApply(_) => return,
    };
    let state = store.state();
    // Only a spec, label or membership change reaches the webhook (a status write does not).
    view.send_if_modified(|current| {
        let mut next = current.as_ref().clone();
        let mut changed = false;
        for ns in &touched {
            let fresh = webhook_view(&state, ns);
            if next.get(ns).map(|v| v.as_slice()) != Some(fresh.as_slice()) {
                changed = true;
                if fresh.is_empty() {
                    next.remove(ns);
                } else {
                    next.insert(ns.clone(), Arc::new(fresh));
                }
            }
        }
        if changed {
            *current = Arc::new(next);
        }
        changed
    });
    let live = namespaces_of(&state);
    namespaces.send_if_modified(|current| {
        let changed = *current != live;
        if changed {
            current.clone_from(&live);
        }
        changed
    });
    if matches!(ev, Event::Delete(_) | Event::InitDone) {
        // Deleted systems are never reconciled again: drop their series.
        let keys: std::collections::HashSet<(String, String)> = state
            .iter()
            .map(|a| (a.namespace().unwrap_or_default(), a.name_any()))
            .collect();
        metrics.retain_agent_deployments(&keys);
    }
}

/// Watches ConfigMaps and Secrets per namespace: the fixed list, or those holding
/// AgentDeployments (following `namespaces`). `synced` fires once the first set has listed.
#[allow(clippy::too_many_arguments)]
async fn watch_configs(
    client: Client,
    opts: CacheOptions,
    ads: Store<AgentDeployment>,
    (mut ads_listed, mut namespaces): (watch::Receiver<bool>, watch::Receiver<BTreeSet<String>>),
    (config_maps, secrets): (DigestIndex, DigestIndex),
    touched: broadcast::Sender<Touched>,
    synced: oneshot::Sender<()>,
    metrics: OperatorMetrics,
) {
    if ads_listed.wait_for(|l| *l).await.is_err() {
        return;
    }
    let mut synced = Some(synced);
    let mut running: BTreeMap<String, [tokio::task::JoinHandle<()>; 2]> = BTreeMap::new();
    loop {
        let wanted = match &opts.config_namespaces {
            Some(fixed) => fixed.clone(),
            None => namespaces_of(&ads.state()),
        };
        let gone: Vec<String> = running
            .keys()
            .filter(|ns| !wanted.contains(*ns))
            .cloned()
            .collect();
        for ns in gone {
            if let Some(tasks) = running.remove(&ns) {
                tasks.iter().for_each(tokio::task::JoinHandle::abort);
            }
            config_maps.forget_namespace(&ns);
            secrets.forget_namespace(&ns);
            tracing::info!(namespace = %ns, "no AgentDeployment left: stopped watching its ConfigMaps and Secrets");
        }
        let mut listed = Vec::new();
        let new: Vec<&String> = wanted
            .iter()
            .filter(|ns| !running.contains_key(*ns))
            .collect();
        for ns in new {
            let (cm_tx, cm_rx) = oneshot::channel();
            let (s_tx, s_rx) = oneshot::channel();
            listed.extend([cm_rx, s_rx]);
            let t1 = touched.clone();
            let cms = tokio::spawn(drive_index(
                Api::<ConfigMap>::namespaced(client.clone(), ns),
                Some(ns.clone()),
                config_maps.clone(),
                ConfigDigest::of_configmap,
                move |c| {
                    let _ = t1.send(Touched::Config {
                        kind: ConfigKind::ConfigMap,
                        key: c.key,
                    });
                },
                cm_tx,
                metrics.clone(),
            ));
            let t2 = touched.clone();
            let key = opts.hmac_key.clone();
            let secs = tokio::spawn(drive_index(
                Api::<Secret>::namespaced(client.clone(), ns),
                Some(ns.clone()),
                secrets.clone(),
                move |s: &Secret| ConfigDigest::of_secret(s, Some(key.as_slice())),
                move |c| {
                    let _ = t2.send(Touched::Config {
                        kind: ConfigKind::Secret,
                        key: c.key,
                    });
                },
                s_tx,
                metrics.clone(),
            ));
            running.insert(ns.clone(), [cms, secs]);
        }
        if let Some(done) = synced.take() {
            for l in listed {
                let _ = l.await;
            }
            let _ = done.send(());
        }
        if opts.config_namespaces.is_some() {
            // A fixed list: nothing more to follow.
            return;
        }
        if namespaces.changed().await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_webhook_view_has_no_status_and_is_per_namespace() {
        let d = crate::dump::read(include_str!("../../tests/data/dumps/invoice-rpa.yaml")).unwrap();
        let mut ads: Vec<Arc<AgentDeployment>> =
            d.agent_deployments.iter().cloned().map(Arc::new).collect();
        let ns = ads[0].namespace().unwrap();
        let view = webhook_view(&ads, &ns);
        assert!(!view.is_empty() && view.iter().all(|a| a.status.is_none()));
        assert!(webhook_view(&ads, "elsewhere").is_empty());
        // A status-only change leaves the view equal (so the webhook's map is not rebuilt).
        let mut changed = ads[0].as_ref().clone();
        changed.status = Some(Default::default());
        ads[0] = Arc::new(changed);
        assert_eq!(webhook_view(&ads, &ns), view);
        assert_eq!(namespaces_of(&ads), BTreeSet::from([ns]));
    }
}
