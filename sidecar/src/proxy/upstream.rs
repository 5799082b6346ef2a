//! The upstream side of an HTTP/1 client connection: one upstream connection per client
//! connection, opened on its first request and reopened when the upstream closes it.

use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::header::HeaderValue;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;

/// One client connection: its address and its upstream HTTP/1.1 connection.
pub struct Upstream1 {
    pub(super) peer_ip: HeaderValue,
    sender: Mutex<Option<hyper::client::conn::http1::SendRequest<Incoming>>>,
}

impl Upstream1 {
    /// State for a connection from `peer`.
    pub fn new(peer: SocketAddr) -> Self {
        Self {
            peer_ip: HeaderValue::from_str(&peer.ip().to_string())
                .unwrap_or_else(|_| HeaderValue::from_static("unknown")),
            sender: Mutex::new(None),
        }
    }

    /// Sends `req` on this client connection's upstream connection, opening it when there is
    /// none or the upstream closed it. Errors are the `kind` label of the upstream error.
    pub(super) async fn send(
        &self,
        upstream: &str,
        mut req: Request<Incoming>,
        upgrade: bool,
    ) -> Result<Response<Incoming>, &'static str> {
        let cached = self.sender.lock().ok().and_then(|mut s| s.take());
        let mut reused = cached.as_ref().is_some_and(|s| !s.is_closed());
        let mut sender = match cached {
            Some(s) if reused => s,
            _ => connect(upstream).await?,
        };
        loop {
            sender.ready().await.map_err(|_| "other")?;
            match sender.try_send_request(req).await {
                Ok(r) => {
                    // An upgraded connection is the client's from now on; otherwise it is
                    // kept for this client connection's next request.
                    if !upgrade && let Ok(mut s) = self.sender.lock() {
                        *s = Some(sender);
                    }
                    return Ok(r);
                }
                Err(mut e) => {
                    // The upstream closed a kept-alive connection before taking the request:
                    // it was never sent, so it goes once more on a fresh connection.
                    match e.take_message() {
                        Some(unsent) if reused => {
                            req = unsent;
                            reused = false;
                            sender = connect(upstream).await?;
                        }
                        _ => {
                            tracing::debug!("proxy: upstream {upstream}: {}", e.error());
                            return Err("other");
                        }
                    }
                }
            }
        }
    }
}

async fn connect(
    upstream: &str,
) -> Result<hyper::client::conn::http1::SendRequest<Incoming>, &'static str> {
    let stream = tokio::time::timeout(
        Duration::from_secs(5),
        tokio::net::TcpStream::connect(upstream),
    )
    .await
    .map_err(|_| "connect")?
    .map_err(|e| {
        tracing::debug!("proxy: connecting to {upstream}: {e}");
        "connect"
    })?;
    let _ = stream.set_nodelay(true);
    let (sender, conn) = hyper::client::conn::http1::Builder::new()
        .handshake(TokioIo::new(stream))
        .await
        .map_err(|_| "connect")?;
    tokio::spawn(async move {
        if let Err(e) = conn.with_upgrades().await {
            tracing::debug!("proxy: upstream connection: {e}");
        }
    });
    Ok(sender)
}
