//! `--otlp-forward`: every accepted request is passed on, unchanged, to an existing collector,
//! so adding agentlens never breaks a tracing pipeline. Bounded: at most [`MAX_FORWARDS`] in
//! flight; beyond that a request is not forwarded and counted as `dropped`.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, header};
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::metrics::Metrics;

/// Forwarded requests in flight at most; beyond that they are dropped and counted.
pub const MAX_FORWARDS: usize = 32;
/// Time a forwarded request may take.
const FORWARD_TIMEOUT: Duration = Duration::from_secs(10);
/// Time connecting to the collector may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// The client to the collector.
pub struct Forwarder {
    client: Client<HttpConnector, Full<Bytes>>,
    base: hyper::Uri,
    slots: Arc<tokio::sync::Semaphore>,
    metrics: Metrics,
}

impl std::fmt::Debug for Forwarder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Forwarder")
            .field("base", &self.base)
            .finish()
    }
}

impl Forwarder {
    /// A forwarder to `base` (`http://collector:4318`).
    pub fn new(base: hyper::Uri, metrics: Metrics) -> Self {
        metrics.init_otlp_forward();
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(CONNECT_TIMEOUT));
        Self {
            client: Client::builder(TokioExecutor::new()).build(connector),
            base,
            slots: Arc::new(tokio::sync::Semaphore::new(MAX_FORWARDS)),
            metrics,
        }
    }

    /// Passes one request on in the background (the body is shared, not copied). `held` is the
    /// request's share of the body budget: it is given back only once the forward is done too.
    pub fn forward<H: Send + Sync + 'static>(
        &self,
        path: &'static str,
        headers: &HeaderMap,
        body: Bytes,
        held: Arc<H>,
    ) {
        let metrics = self.metrics.clone();
        let Ok(permit) = self.slots.clone().try_acquire_owned() else {
            metrics.otlp_forwarded.with_label_values(&["dropped"]).inc();
            return;
        };
        let base = self.base.to_string();
        let uri = format!("{}{path}", base.trim_end_matches('/'));
        let mut req = hyper::Request::post(uri);
        for h in [header::CONTENT_TYPE, header::CONTENT_ENCODING] {
            if let Some(v) = headers.get(&h) {
                req = req.header(h, v);
            }
        }
        let Ok(req) = req.body(Full::new(body)) else {
            metrics.otlp_forwarded.with_label_values(&["error"]).inc();
            return;
        };
        let client = self.client.clone();
        tokio::spawn(async move {
            let result = tokio::time::timeout(FORWARD_TIMEOUT, client.request(req)).await;
            let ok = matches!(&result, Ok(Ok(r)) if r.status().is_success());
            // The body is gone once the request is: its budget goes back before it is counted.
            drop(result);
            drop(held);
            metrics
                .otlp_forwarded
                .with_label_values(&[if ok { "ok" } else { "error" }])
                .inc();
            drop(permit);
        });
    }
}
