//! The latency proxy against a real upstream HTTP server on loopback (hyper, HTTP/1.1 and
//! h2c, with a WebSocket endpoint from tokio-tungstenite): bodies byte-exact, streaming,
//! WebSocket, upstream down, slow upstream, client disconnect, forwarded headers, metrics.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use agentlens_crds::snapshot::SidecarMode;
use agentlens_sidecar::proxy::{self, Proxy, ProxyConfig};
use agentlens_sidecar::shared::Shared;
use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::{Request, Response};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

mod common;
use common::wait_until_async;

type Body = http_body_util::combinators::BoxBody<Bytes, Infallible>;

fn full(b: impl Into<Bytes>) -> Body {
    Full::new(b.into()).boxed()
}

/// What a test controls and sees of the upstream.
#[derive(Default)]
struct Hooks {
    /// Lets `/stream` send the rest and `/slow` answer.
    release: Notify,
    /// How many `/slow` requests arrived.
    slow_arrived: AtomicUsize,
}

/// The upstream: `/echo` returns the body, `/headers` the request headers as JSON, `/stream`
/// sends a first event and the rest only after `release` is notified, `/slow` answers only
/// after `release` is notified, `/version` the HTTP version it was spoken to with.
async fn upstream(release: Arc<Hooks>) -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let (s, _) = l.accept().await.unwrap();
            let release = release.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                    let release = release.clone();
                    async move { Ok::<_, Infallible>(answer(req, release).await) }
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(s), svc)
                    .await;
            });
        }
    });
    port
}

async fn answer(req: Request<Incoming>, release: Arc<Hooks>) -> Response<Body> {
    match req.uri().path() {
        "/echo" => {
            let body = req.into_body().collect().await.unwrap().to_bytes();
            Response::new(full(body))
        }
        "/headers" => {
            let h: serde_json::Map<String, serde_json::Value> = req
                .headers()
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_str().unwrap().into()))
                .collect();
            Response::new(full(serde_json::to_vec(&h).unwrap()))
        }
        "/version" => Response::new(full(format!("{:?}", req.version()))),
        "/stream" => {
            let (tx, rx) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, Infallible>>(4);
            tokio::spawn(async move {
                let _ = tx
                    .send(Ok(Frame::data(Bytes::from("data: first\n\n"))))
                    .await;
                release.release.notified().await;
                let _ = tx
                    .send(Ok(Frame::data(Bytes::from("data: rest\n\n"))))
                    .await;
            });
            let stream = tokio_stream(rx);
            Response::builder()
                .header("content-type", "text/event-stream")
                .body(BodyExt::boxed(StreamBody::new(stream)))
                .unwrap()
        }
        "/slow" => {
            release.slow_arrived.fetch_add(1, Ordering::SeqCst);
            release.release.notified().await;
            Response::new(full("late"))
        }
        _ => Response::builder().status(404).body(full("")).unwrap(),
    }
}

fn tokio_stream<T: Send + 'static>(
    mut rx: tokio::sync::mpsc::Receiver<T>,
) -> impl futures::Stream<Item = T> + Send + 'static {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

/// A WebSocket echo server (tokio-tungstenite does the HTTP upgrade itself).
async fn websocket_upstream() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let (s, _) = l.accept().await.unwrap();
            tokio::spawn(async move {
                let mut ws = tokio_tungstenite::accept_async(s).await.unwrap();
                while let Some(Ok(m)) = ws.next().await {
                    if m.is_text() || m.is_binary() {
                        ws.send(m).await.unwrap();
                    }
                }
            });
        }
    });
    port
}

async fn start_proxy(upstream: u16, timeout: Duration) -> (u16, Arc<Shared>) {
    let shared = Shared::new(SidecarMode::Run, None).unwrap();
    let p = Proxy::new(
        ProxyConfig {
            upstream: format!("127.0.0.1:{upstream}"),
            routes: vec!["/v1/chat/*".into()],
            response_timeout: timeout,
        },
        shared.clone(),
    );
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    let (tx, rx) = tokio::sync::watch::channel(false);
    std::mem::forget(tx); // serve for the whole test
    proxy::spawn(l, p, rx);
    (port, shared)
}

fn client() -> Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>> {
    Client::builder(TokioExecutor::new()).build_http()
}

async fn get(port: u16, path: &str) -> Response<Incoming> {
    client()
        .request(
            Request::get(format!("http://127.0.0.1:{port}{path}"))
                .body(Full::default())
                .unwrap(),
        )
        .await
        .unwrap()
}

fn metrics(shared: &Shared) -> String {
    String::from_utf8(shared.metrics.render().unwrap()).unwrap()
}

/// Waits (with a deadline) until every one of `lines` is in the metrics: a request is recorded
/// when the proxy has finished it, just after the client saw its end.
async fn wait_for_metrics(shared: &Shared, lines: &[&str]) {
    let seen = wait_until_async(Duration::from_secs(10), async || {
        let m = metrics(shared);
        lines.iter().all(|l| m.contains(l)).then_some(())
    })
    .await;
    assert!(seen.is_some(), "{lines:?} not in\n{}", metrics(shared));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_are_byte_exact_in_http1_and_h2c_and_headers_are_forwarded() {
    let up = upstream(Arc::default()).await;
    let (port, shared) = start_proxy(up, Duration::from_secs(5)).await;
    // 5 MiB of every byte value.
    let body: Vec<u8> = (0..5 << 20).map(|i: u32| (i % 251) as u8).collect();
    let resp = client()
        .request(
            Request::post(format!("http://127.0.0.1:{port}/echo"))
                .body(Full::new(Bytes::from(body.clone())))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.into_body().collect().await.unwrap().to_bytes(), body);

    let h2 = Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build_http::<Full<Bytes>>();
    let resp = h2
        .request(
            Request::post(format!("http://127.0.0.1:{port}/echo"))
                .body(Full::new(Bytes::from(body.clone())))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(resp.version(), hyper::Version::HTTP_2);
    assert_eq!(resp.into_body().collect().await.unwrap().to_bytes(), body);
    let v = h2
        .request(
            Request::get(format!("http://127.0.0.1:{port}/version"))
                .body(Full::default())
                .unwrap(),
        )
        .await
        .unwrap();
    let v = v.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(&v[..], b"HTTP/2.0", "h2c in, h2c upstream");

    let resp = client()
        .request(
            Request::get(format!("http://127.0.0.1:{port}/headers"))
                .header("host", "agent.example")
                .header("x-custom", "kept")
                .header("x-forwarded-for", "10.0.0.7")
                .header("connection", "keep-alive, x-hop")
                .header("x-hop", "dropped")
                .header("keep-alive", "timeout=5")
                .body(Full::default())
                .unwrap(),
        )
        .await
        .unwrap();
    let h: serde_json::Value =
        serde_json::from_slice(&resp.into_body().collect().await.unwrap().to_bytes()).unwrap();
    assert_eq!(h["x-custom"], "kept");
    assert_eq!(h["x-forwarded-for"], "10.0.0.7, 127.0.0.1");
    assert_eq!(h["x-forwarded-proto"], "http");
    assert_eq!(h["x-forwarded-host"], "agent.example");
    assert_eq!(h["host"], "agent.example");
    assert!(
        h.get("x-hop").is_none() && h.get("keep-alive").is_none(),
        "{h}"
    );

    let m = metrics(&shared);
    assert!(
        m.contains(
            "agentlens_request_duration_seconds_count{code=\"200\",method=\"POST\",route=\"/echo\"} 2"
        ),
        "{m}"
    );
    assert!(m.contains(
        "agentlens_request_first_byte_seconds_count{method=\"GET\",route=\"/headers\",streamed=\"false\"} 1"
    ));
    let latency = shared.latency.summary().unwrap();
    assert_eq!((latency.requests, latency.errors), (4, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_reaches_the_client_before_the_upstream_finishes() {
    let release = Arc::new(Hooks::default());
    let up = upstream(release.clone()).await;
    let (port, shared) = start_proxy(up, Duration::from_secs(5)).await;
    let resp = get(port, "/stream").await;
    let mut body = resp.into_body();
    // The upstream sends the rest only after we saw the first event through the proxy: a
    // proxy that buffered would never deliver it and the timeout would fail the test.
    let first = tokio::time::timeout(Duration::from_secs(5), body.frame())
        .await
        .expect("first event before the upstream finished")
        .unwrap()
        .unwrap();
    assert_eq!(first.data_ref().unwrap(), &Bytes::from("data: first\n\n"));
    // The first event is the answer's latency for an SSE stream: recorded before it was
    // passed on, labelled streamed so the latency alert reads it instead of the whole body.
    assert!(
        metrics(&shared).contains(
            "agentlens_request_first_byte_seconds_count{method=\"GET\",route=\"/stream\",streamed=\"true\"} 1"
        ),
        "{}",
        metrics(&shared)
    );
    assert!(
        !metrics(&shared).contains("agentlens_request_duration_seconds_count{code=\"200\",method=\"GET\",route=\"/stream\"}"),
        "not recorded while the stream is open"
    );
    release.release.notify_one();
    let rest = body.collect().await.unwrap().to_bytes();
    assert_eq!(rest, Bytes::from("data: rest\n\n"));
    wait_for_metrics(
        &shared,
        &["agentlens_request_duration_seconds_count{code=\"200\",method=\"GET\",route=\"/stream\"} 1"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_upgrades_pass_through() {
    let up = websocket_upstream().await;
    let (port, shared) = start_proxy(up, Duration::from_secs(5)).await;
    let s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let (mut ws, resp) = tokio_tungstenite::client_async(format!("ws://127.0.0.1:{port}/ws"), s)
        .await
        .unwrap();
    assert_eq!(resp.status(), 101);
    for text in [
        "hello",
        "a second message through the same upgraded connection",
    ] {
        ws.send(tokio_tungstenite::tungstenite::Message::text(text))
            .await
            .unwrap();
        let back = ws.next().await.unwrap().unwrap();
        assert_eq!(back.into_text().unwrap().as_str(), text);
    }
    ws.close(None).await.unwrap();
    wait_for_metrics(
        &shared,
        &["agentlens_request_duration_seconds_count{code=\"101\",method=\"GET\",route=\"/ws\"} 1"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_down_is_502_and_slow_upstream_is_504() {
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let (port, shared) = start_proxy(closed, Duration::from_secs(5)).await;
    let resp = get(port, "/v1/chat/completions").await;
    assert_eq!(resp.status(), 502);
    let m = metrics(&shared);
    assert!(
        m.contains("agentlens_proxy_upstream_errors_total{kind=\"connect\"} 1"),
        "{m}"
    );
    assert!(m.contains(
        "agentlens_request_duration_seconds_count{code=\"502\",method=\"GET\",route=\"/v1/chat/*\"} 1"
    ));
    assert_eq!(shared.latency.summary().unwrap().errors, 1);

    let up = upstream(Arc::default()).await;
    let (port, shared) = start_proxy(up, Duration::from_millis(500)).await;
    // `/slow` never answers here: only the proxy's timeout can end the request (the client's
    // own deadline only keeps a broken proxy from hanging the test).
    let resp = tokio::time::timeout(Duration::from_secs(60), get(port, "/slow"))
        .await
        .expect("the proxy answered before the client gave up");
    assert_eq!(resp.status(), 504);
    assert!(metrics(&shared).contains("agentlens_proxy_upstream_errors_total{kind=\"timeout\"} 1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_goes_away_is_recorded_as_499_and_the_proxy_keeps_serving() {
    let release = Arc::new(Hooks::default());
    let up = upstream(release.clone()).await;
    let (port, shared) = start_proxy(up, Duration::from_secs(5)).await;
    // Mid-stream: headers and the first event read, then the connection closed.
    let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    s.write_all(b"GET /stream HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = vec![0u8; 4096];
    let mut got = Vec::new();
    while !String::from_utf8_lossy(&got).contains("data: first") {
        let n = s.read(&mut buf).await.unwrap();
        assert!(n > 0);
        got.extend_from_slice(&buf[..n]);
    }
    drop(s);
    // Before any answer: the upstream is slow, the client gives up.
    let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    s.write_all(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    // Gone once the request reached the upstream.
    let arrived = wait_until_async(Duration::from_secs(10), async || {
        (release.slow_arrived.load(Ordering::SeqCst) == 1).then_some(())
    })
    .await;
    assert!(arrived.is_some(), "/slow never reached the upstream");
    drop(s);
    wait_for_metrics(
        &shared,
        &[
            "agentlens_request_duration_seconds_count{code=\"499\",method=\"GET\",route=\"/stream\"} 1",
            "agentlens_request_duration_seconds_count{code=\"499\",method=\"GET\",route=\"/slow\"} 1",
        ],
    )
    .await;
    release.release.notify_waiters();
    let resp = client()
        .request(
            Request::post(format!("http://127.0.0.1:{port}/echo"))
                .body(Full::new(Bytes::from("still here")))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(
        resp.into_body().collect().await.unwrap().to_bytes(),
        Bytes::from("still here")
    );
}
