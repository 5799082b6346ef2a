//! Pulling `/v1/snapshot` from the sidecars: ready injected pods only, a 2 s timeout, at most
//! 16 requests in flight; a failure is counted, never fatal.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::status::PodFacts;
use crate::status::inventory::PackageLists;
use agentlens_crds::Snapshot;
use futures::StreamExt;
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// Most snapshot requests in flight.
pub const MAX_IN_FLIGHT: usize = 16;
/// Timeout of one snapshot request.
pub const TIMEOUT: Duration = Duration::from_secs(2);
/// Largest snapshot accepted.
pub const MAX_BYTES: usize = 4 * 1024 * 1024;

/// Package lists kept (by inventory digest), least recently inserted dropped first.
pub const PACKAGE_LISTS: usize = 512;
/// Largest inventory document accepted.
pub const MAX_INVENTORY_BYTES: usize = 32 * 1024 * 1024;
/// Inventory documents fetched per reconcile at most (the rest on the next ones).
pub const INVENTORY_FETCHES: usize = 8;

#[derive(Debug, Default)]
struct ListCache {
    lists: PackageLists,
    order: std::collections::VecDeque<String>,
}

/// Fetches snapshots over plain HTTP from the pods' IPs.
#[derive(Clone, Debug)]
pub struct SnapshotClient {
    http: Client<HttpConnector, Empty<Bytes>>,
    port: u16,
    /// `Authorization` value for the sidecars' `/v1/*` (`Bearer <token>`).
    authorization: Option<hyper::header::HeaderValue>,
    lists: Arc<Mutex<ListCache>>,
}

impl SnapshotClient {
    /// A client for the sidecars' `port` (9477), presenting `token` (the one whose SHA-256 the
    /// webhook wrote into the sidecars) as a bearer token.
    pub fn new(port: u16, token: Option<String>) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(TIMEOUT));
        let authorization = token.and_then(|t| {
            let mut v = hyper::header::HeaderValue::from_str(&format!("Bearer {t}")).ok()?;
            v.set_sensitive(true);
            Some(v)
        });
        Self {
            http: Client::builder(TokioExecutor::new()).build(connector),
            port,
            authorization,
            lists: Arc::default(),
        }
    }

    async fn get(
        &self,
        ip: &str,
        path: &str,
        limit: usize,
        timeout: Duration,
    ) -> Result<Bytes, String> {
        let uri: hyper::Uri = format!("http://{}:{}{path}", ip, self.port)
            .parse()
            .map_err(|e| format!("{e}"))?;
        let mut req = hyper::Request::get(uri);
        if let Some(auth) = &self.authorization {
            req = req.header(hyper::header::AUTHORIZATION, auth.clone());
        }
        let req = req.body(Empty::new()).map_err(|e| e.to_string())?;
        let fut = async {
            let resp = self.http.request(req).await.map_err(|e| e.to_string())?;
            if !resp.status().is_success() {
                return Err(format!("status {}", resp.status()));
            }
            Ok(http_body_util::Limited::new(resp.into_body(), limit)
                .collect()
                .await
                .map_err(|e| e.to_string())?
                .to_bytes())
        };
        tokio::time::timeout(timeout, fut)
            .await
            .map_err(|_| "timeout".to_string())?
    }

    /// The package lists of the inventories in `snapshots` (fetched from `/v1/inventory` the
    /// first time a digest is seen, then cached) and of `also` (previous digests, if cached).
    pub async fn package_lists(
        &self,
        snapshots: &BTreeMap<String, Snapshot>,
        pods: &[&PodFacts],
        also: &[String],
    ) -> PackageLists {
        let missing: Vec<(String, String, String)> = {
            let Ok(cache) = self.lists.lock() else {
                return PackageLists::new();
            };
            let mut seen = std::collections::BTreeSet::new();
            snapshots
                .iter()
                .flat_map(|(pod, s)| s.inventory.iter().map(move |i| (pod, i)))
                .filter(|(_, i)| i.packages > 0 && !cache.lists.contains_key(&i.digest))
                .filter(|(_, i)| seen.insert(i.digest.clone()))
                .filter_map(|(pod, i)| {
                    let ip = pods.iter().find(|p| &p.name == pod)?.pod_ip.clone()?;
                    Some((ip, i.container.clone(), i.digest.clone()))
                })
                .take(INVENTORY_FETCHES)
                .collect()
        };
        for (ip, container, digest) in missing {
            let path = format!("/v1/inventory?container={container}");
            match self
                .get(&ip, &path, MAX_INVENTORY_BYTES, Duration::from_secs(5))
                .await
            {
                Ok(body) => match serde_json::from_slice::<serde_json::Value>(&body) {
                    Ok(bom) => {
                        let list = Arc::new(crate::status::inventory::package_list(&bom));
                        if let Ok(mut c) = self.lists.lock() {
                            if c.order.len() >= PACKAGE_LISTS
                                && let Some(old) = c.order.pop_front()
                            {
                                c.lists.remove(&old);
                            }
                            c.order.push_back(digest.clone());
                            c.lists.insert(digest, list);
                        }
                    }
                    Err(e) => tracing::debug!("inventory of {container}: {e}"),
                },
                Err(e) => tracing::debug!("inventory of {container}: {e}"),
            }
        }
        let wanted: std::collections::BTreeSet<&String> = snapshots
            .values()
            .flat_map(|s| s.inventory.iter().map(|i| &i.digest))
            .chain(also)
            .collect();
        self.lists
            .lock()
            .map(|c| {
                c.lists
                    .iter()
                    .filter(|(d, _)| wanted.contains(d))
                    .map(|(d, l)| (d.clone(), l.clone()))
                    .collect()
            })
            .unwrap_or_default()
    }

    async fn one(&self, ip: &str) -> Result<Snapshot, String> {
        let body = self.get(ip, "/v1/snapshot", MAX_BYTES, TIMEOUT).await?;
        serde_json::from_slice(&body)
            .map(crate::status::kept::reduce)
            .map_err(|e| e.to_string())
    }

    /// Snapshots of the ready, injected pods among `pods`, by pod name, each reduced to what the
    /// status reads as soon as it is read ([`crate::status::kept::reduce`]); the number of
    /// failures.
    pub async fn fetch(&self, pods: &[&PodFacts]) -> (BTreeMap<String, Snapshot>, u64) {
        let targets: Vec<(String, String)> = pods
            .iter()
            .filter(|p| p.injected && p.ready)
            .filter_map(|p| Some((p.name.clone(), p.pod_ip.clone()?)))
            .collect();
        let results: Vec<(String, Result<Snapshot, String>)> = futures::stream::iter(targets)
            .map(|(name, ip)| async move { (name, self.one(&ip).await) })
            .buffer_unordered(MAX_IN_FLIGHT)
            .collect()
            .await;
        let mut out = BTreeMap::new();
        let mut failures = 0;
        for (name, r) in results {
            match r {
                Ok(s) => {
                    out.insert(name, s);
                }
                Err(e) => {
                    failures += 1;
                    tracing::debug!(pod = %name, "snapshot: {e}");
                }
            }
        }
        (out, failures)
    }
}
