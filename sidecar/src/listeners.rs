//! The optional listeners shared by `run` and `serve`: the latency proxy (on a thread and
//! runtime of its own) and the OTLP receiver. Addresses are bound before anything starts, so a taken port is a clear error at
//! start rather than a silent gap in the measurements.

use std::net::SocketAddr;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::otlp::{OtlpConfig, Receiver};
use crate::proxy::{Proxy, ProxyConfig};
use crate::shared::Shared;

/// The optional listeners.
#[derive(Debug, Clone, Default)]
pub struct Listeners {
    /// `--proxy-listen` and where it forwards.
    pub proxy: Option<(SocketAddr, ProxyConfig)>,
    /// The container whose port the proxy forwards to, when known (`run`: the command's;
    /// `serve`: `--proxy-container`, which the webhook sets from the pod's container ports).
    pub proxy_container: Option<String>,
    /// `--otlp-listen` and its settings.
    pub otlp: Option<(SocketAddr, OtlpConfig)>,
}

async fn bind(addr: SocketAddr, what: &str) -> Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| Error::Io {
            what: format!("listening on {addr} ({what})"),
            source,
        })
}

/// Bound listeners, ready to serve.
#[derive(Debug)]
pub struct Bound {
    proxy: Option<(tokio::net::TcpListener, ProxyConfig)>,
    proxy_container: Option<String>,
    otlp: Option<(tokio::net::TcpListener, OtlpConfig)>,
}

impl Listeners {
    /// Binds every configured address.
    pub async fn bind(self) -> Result<Bound> {
        let proxy = match self.proxy {
            Some((a, c)) => Some((bind(a, "latency proxy").await?, c)),
            None => None,
        };
        let otlp = match self.otlp {
            Some((a, c)) => Some((bind(a, "OTLP receiver").await?, c)),
            None => None,
        };
        Ok(Bound {
            proxy,
            proxy_container: self.proxy_container,
            otlp,
        })
    }
}

impl Bound {
    /// Starts serving until `stop` changes.
    pub fn spawn(
        self,
        shared: &Arc<Shared>,
        stop: &tokio::sync::watch::Receiver<bool>,
    ) -> Vec<tokio::task::JoinHandle<()>> {
        let mut tasks = Vec::new();
        if let Some((l, c)) = self.proxy {
            if let Some(container) = &self.proxy_container {
                shared
                    .metrics
                    .proxy_upstream
                    .with_label_values(&[container])
                    .set(1);
            }
            let proxy = Proxy::new(c, shared.clone());
            match spawn_proxy_thread(l, proxy, stop.clone()) {
                Ok(t) => tasks.push(t),
                Err(e) => tracing::warn!("latency proxy not started: {e}"),
            }
        }
        if let Some((l, c)) = self.otlp {
            let receiver = Receiver::new(c, shared.clone());
            tasks.push(crate::otlp::spawn(l, receiver, stop.clone()));
        }
        tasks
    }
}

/// Runs the proxy on a thread and runtime of its own (`agentlens-proxy`), so nothing else the
/// sidecar does (log analysis, OTLP decoding, a scrape) delays a proxied request. The returned
/// task ends when the thread does.
fn spawn_proxy_thread(
    listener: tokio::net::TcpListener,
    proxy: Arc<Proxy>,
    stop: tokio::sync::watch::Receiver<bool>,
) -> std::io::Result<tokio::task::JoinHandle<()>> {
    // The socket moves to the proxy's own reactor.
    let listener = listener.into_std()?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
    std::thread::Builder::new()
        .name("agentlens-proxy".into())
        .spawn(move || {
            rt.block_on(async move {
                match tokio::net::TcpListener::from_std(listener) {
                    Ok(l) => {
                        let _ = crate::proxy::spawn(l, proxy, stop).await;
                    }
                    Err(e) => tracing::warn!("latency proxy: {e}"),
                }
            });
            let _ = done_tx.send(());
        })?;
    Ok(tokio::spawn(async move {
        let _ = done_rx.await;
    }))
}
