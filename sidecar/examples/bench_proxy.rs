//! `make bench` helper for the latency proxy.
//!
//! `bench_proxy upstream PORT`: the upstream, a small hyper HTTP/1.1 server answering every
//! request with a 240-byte JSON body shaped like a chat completion.
//! `bench_proxy load URL RATE SECONDS`: sends GETs at a fixed RATE per second over 16
//! keep-alive connections and prints `p50_us=… p99_us=… requests=… errors=…`. Latency runs
//! from the moment each request is sent (tokio's timer has 1 ms resolution, so the scheduled
//! time would add up to 1 ms of timer lag); at most 16 requests are in flight.

use std::convert::Infallible;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};

const BODY: &str = r#"{"id":"chatcmpl-bench","object":"chat.completion","created":1795759486,"model":"gpt-4o-mini-2024-07-18","choices":[{"index":0,"message":{"role":"assistant","content":"Your invoice was received."},"finish_reason":"stop"}],"usage":{"prompt_tokens":120,"completion_tokens":30}}"#;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    match args.get(1).map(String::as_str) {
        Some("upstream") => rt.block_on(upstream(args[2].parse()?)),
        Some("load") => rt.block_on(load(args[2].clone(), args[3].parse()?, args[4].parse()?)),
        _ => Err("usage: bench_proxy upstream PORT | load URL RATE SECONDS".into()),
    }
}

async fn upstream(port: u16) -> Result<(), Box<dyn std::error::Error>> {
    let l = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    loop {
        let (s, _) = l.accept().await?;
        let _ = s.set_nodelay(true);
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(|_req: Request<hyper::body::Incoming>| async {
                Ok::<_, Infallible>(
                    Response::builder()
                        .header("content-type", "application/json")
                        .body(Full::new(Bytes::from_static(BODY.as_bytes())))
                        .unwrap_or_default(),
                )
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(s), svc)
                .await;
        });
    }
}

async fn load(url: String, rate: u64, seconds: u64) -> Result<(), Box<dyn std::error::Error>> {
    let client = hyper_util::client::legacy::Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(16)
        .build_http::<Full<Bytes>>();
    let uri: hyper::Uri = url.parse()?;
    let interval = Duration::from_nanos(1_000_000_000 / rate.max(1));
    let total = rate * seconds;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Option<u64>>();
    let start = Instant::now();
    let inflight = std::sync::Arc::new(tokio::sync::Semaphore::new(16));
    for i in 0..total {
        let due = start + interval * u32::try_from(i)?;
        tokio::time::sleep_until(due.into()).await;
        let permit = inflight.clone().acquire_owned().await?;
        let (client, uri, tx) = (client.clone(), uri.clone(), tx.clone());
        tokio::spawn(async move {
            let sent = Instant::now();
            let req = Request::get(uri).body(Full::default());
            let ok = match req {
                Ok(r) => match client.request(r).await {
                    Ok(resp) => resp.into_body().collect().await.is_ok(),
                    Err(_) => false,
                },
                Err(_) => false,
            };
            let us = u64::try_from(sent.elapsed().as_micros()).unwrap_or(u64::MAX);
            let _ = tx.send(ok.then_some(us));
            drop(permit);
        });
    }
    drop(tx);
    let mut lat = Vec::new();
    let mut errors = 0;
    while let Some(r) = rx.recv().await {
        match r {
            Some(us) => lat.push(us),
            None => errors += 1,
        }
    }
    lat.sort_unstable();
    // Warm-up: the first second is left out.
    let skip = usize::try_from(rate)?.min(lat.len() / 2);
    let lat = &lat[skip..];
    let q = |p: f64| {
        lat.get(((lat.len() as f64 * p) as usize).min(lat.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0)
    };
    println!(
        "p50_us={} p99_us={} requests={} errors={errors}",
        q(0.5),
        q(0.99),
        lat.len()
    );
    Ok(())
}
