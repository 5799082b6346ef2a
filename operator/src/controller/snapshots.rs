//! Pulling `/v1/snapshot` from the sidecars: ready injected pods only, a 2 s timeout, at most
//! 16 requests in flight; a failure is counted, never fatal.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::status::PodFacts;
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

/// Fetches snapshots over plain HTTP from the pods' IPs.
#[derive(Clone, Debug)]
pub struct SnapshotClient {
    http: Client<HttpConnector, Empty<Bytes>>,
    port: u16,
}

impl SnapshotClient {
    /// A client for the sidecars' `port` (9477).
    pub fn new(port: u16) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(TIMEOUT));
        Self {
            http: Client::builder(TokioExecutor::new()).build(connector),
            port,
        }
    }

    async fn one(&self, ip: &str) -> Result<Snapshot, String> {
        let uri: hyper::Uri = format!("http://{}:{}/v1/snapshot", ip, self.port)
            .parse()
            .map_err(|e| format!("{e}"))?;
        let fut = async {
            let resp = self.http.get(uri).await.map_err(|e| e.to_string())?;
            if !resp.status().is_success() {
                return Err(format!("status {}", resp.status()));
            }
            let body = http_body_util::Limited::new(resp.into_body(), MAX_BYTES)
                .collect()
                .await
                .map_err(|e| e.to_string())?
                .to_bytes();
            serde_json::from_slice(&body).map_err(|e| e.to_string())
        };
        tokio::time::timeout(TIMEOUT, fut)
            .await
            .map_err(|_| "timeout".to_string())?
    }

    /// Snapshots of the ready, injected pods among `pods`, by pod name; the number of failures.
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
