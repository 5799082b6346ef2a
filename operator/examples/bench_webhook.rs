//! `make bench` helper: `/mutate-pods` over HTTPS with keep-alive on loopback, the server on
//! one core (CPU 0), the load on another. Latency p50/p99 at a fixed 1,000 requests/s, and the
//! maximum throughput with 8 connections; beside the same server answering an empty
//! AdmissionResponse (`/empty`) as the baseline. Prints one line per figure.

// A benchmark harness: a failed set-up step should stop it loudly.
#![allow(clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use agentlens_operator::inject::InjectConfig;
use agentlens_operator::webhook::{WebhookState, router, serve_tls};
use axum::routing::post;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use rcgen::{CertificateParams, KeyPair};
use rustls::pki_types::{CertificateDer, ServerName};

type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

fn pin(cpu: usize) {
    let mut set = nix::sched::CpuSet::new();
    if set.set(cpu).is_ok() {
        let _ = nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), &set);
    }
}

async fn connect(addr: std::net::SocketAddr, ca: &CertificateDer<'static>) -> Sender {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.clone()).expect("root");
    let cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    tcp.set_nodelay(true).expect("nodelay");
    let tls = tokio_rustls::TlsConnector::from(Arc::new(cfg))
        .connect(ServerName::try_from("127.0.0.1").expect("name"), tcp)
        .await
        .expect("tls");
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .expect("handshake");
    tokio::spawn(conn);
    sender
}

async fn one(sender: &mut Sender, path: &str, body: &Bytes) -> Duration {
    let start = Instant::now();
    let req = hyper::Request::post(path)
        .header("host", "127.0.0.1")
        .header("content-type", "application/json")
        .body(Full::new(body.clone()))
        .expect("request");
    let resp = sender.send_request(req).await.expect("send");
    assert_eq!(resp.status(), 200);
    let _ = resp.into_body().collect().await.expect("body");
    start.elapsed()
}

fn pct(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

fn main() {
    let review: serde_json::Value = {
        let mut pod: serde_json::Value = serde_json::from_str(include_str!(
            "../tests/data/pods/deployment-generatename.json"
        ))
        .expect("pod");
        pod.as_object_mut().expect("object").remove("_comment");
        serde_json::json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
            "request": {"uid": "705ab4f5-6393-11e8-b7cc-42010a800002", "kind": {"group": "", "version": "v1", "kind": "Pod"},
                "resource": {"group": "", "version": "v1", "resource": "pods"}, "namespace": "agents", "operation": "CREATE", "object": pod}})
    };
    let body = Bytes::from(serde_json::to_vec(&review).expect("json"));
    let ads = agentlens_operator::agentdeployments::load_dir(std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data"
    )))
    .expect("ads");

    let key = KeyPair::generate().expect("key");
    let cert = CertificateParams::new(vec!["127.0.0.1".to_string()])
        .expect("params")
        .self_signed(&key)
        .expect("cert");
    let dir = std::env::temp_dir().join(format!("agentlens-bench-webhook-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::write(dir.join("tls.crt"), cert.pem()).expect("crt");
    std::fs::write(dir.join("tls.key"), key.serialize_pem()).expect("key");
    let tls = agentlens_operator::tls::server_config(&dir.join("tls.crt"), &dir.join("tls.key"))
        .expect("tls");
    let ca = cert.der().clone();

    let std_listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = std_listener.local_addr().expect("addr");
    std_listener.set_nonblocking(true).expect("nonblocking");
    std::thread::spawn(move || {
        pin(0);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("rt");
        rt.block_on(async move {
            let state = Arc::new(WebhookState::fixed(ads, InjectConfig::default()));
            let empty = axum::Router::new().route(
                "/empty",
                post(|| async {
                    r#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{"uid":"705ab4f5-6393-11e8-b7cc-42010a800002","allowed":true}}"#
                }),
            );
            let listener = tokio::net::TcpListener::from_std(std_listener).expect("listener");
            serve_tls(listener, router(state).merge(empty), tls, std::future::pending()).await;
        });
    });

    pin(1);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("rt");
    rt.block_on(async move {
        for path in ["/mutate-pods", "/empty"] {
            // Fixed rate: 1,000 requests/s for 10 s on one keep-alive connection.
            let mut s = connect(addr, &ca).await;
            for _ in 0..200 {
                one(&mut s, path, &body).await; // warm-up
            }
            let mut lat = Vec::with_capacity(10_000);
            let mut tick = tokio::time::interval(Duration::from_millis(1));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
            for _ in 0..10_000 {
                tick.tick().await;
                lat.push(one(&mut s, path, &body).await);
            }
            lat.sort();
            println!(
                "rate path={path} rps=1000 p50_ms={:.3} p99_ms={:.3}",
                pct(&lat, 0.50),
                pct(&lat, 0.99)
            );

            // Maximum throughput: 8 keep-alive connections as fast as they go, 5 s.
            let deadline = Instant::now() + Duration::from_secs(5);
            let mut tasks = Vec::new();
            for _ in 0..8 {
                let mut s = connect(addr, &ca).await;
                let body = body.clone();
                tasks.push(tokio::spawn(async move {
                    let mut n = 0u64;
                    while Instant::now() < deadline {
                        one(&mut s, path, &body).await;
                        n += 1;
                    }
                    n
                }));
            }
            let mut total = 0;
            for t in tasks {
                total += t.await.expect("task");
            }
            println!("max path={path} rps={:.0}", total as f64 / 5.0);
        }
    });
    let _ = std::fs::remove_dir_all(&dir);
}
