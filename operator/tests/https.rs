//! The webhook over real HTTPS on loopback with generated certificates, and a certificate
//! rotation in the middle: a keep-alive connection opened before the rotation keeps working,
//! new connections get the new certificate, a half-written pair is not picked up.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use agentlens_operator::inject::InjectConfig;
use agentlens_operator::webhook::{WebhookState, router, serve_tls};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::{Value, json};

struct Ca {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

fn ca(name: &str) -> Ca {
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.distinguished_name.push(rcgen::DnType::CommonName, name);
    Ca {
        issuer: CertifiedIssuer::self_signed(p, KeyPair::generate().unwrap()).unwrap(),
    }
}

/// Writes a serving certificate for 127.0.0.1 signed by `ca`, atomically (rename), as the
/// kubelet's secret volume update does.
fn write_pair(dir: &Path, ca: &Ca) {
    let key = KeyPair::generate().unwrap();
    let p = CertificateParams::new(vec![
        "127.0.0.1".to_string(),
        "agentlens-webhook.agentlens-system.svc".to_string(),
    ])
    .unwrap();
    let cert = p.signed_by(&key, &ca.issuer).unwrap();
    std::fs::write(dir.join("tls.crt.tmp"), cert.pem()).unwrap();
    std::fs::write(dir.join("tls.key.tmp"), key.serialize_pem()).unwrap();
    std::fs::rename(dir.join("tls.key.tmp"), dir.join("tls.key")).unwrap();
    std::fs::rename(dir.join("tls.crt.tmp"), dir.join("tls.crt")).unwrap();
}

type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

async fn connect(addr: std::net::SocketAddr, trusted: &[&Ca]) -> Result<Sender, String> {
    let mut roots = rustls::RootCertStore::empty();
    for ca in trusted {
        roots
            .add(CertificateDer::from(ca.issuer.der().to_vec()))
            .unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| e.to_string())?;
    let tls = tokio_rustls::TlsConnector::from(Arc::new(cfg))
        .connect(ServerName::try_from("127.0.0.1").unwrap(), tcp)
        .await
        .map_err(|e| e.to_string())?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    Ok(sender)
}

fn review_body() -> Vec<u8> {
    serde_json::to_vec(&json!({
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {"uid": "3b8f2c1a-0d9e-4f7b-a6c5-2e1d0c9b8a7f", "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"}, "namespace": "agents", "operation": "CREATE",
            "object": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "nb", "annotations": {"agentlens.dev/inject": "true"}},
                "spec": {"containers": [{"name": "notebook", "image": "jupyter/pytorch-notebook"}]}}}
    }))
    .unwrap()
}

async fn post(sender: &mut Sender) -> Result<Value, String> {
    let req = hyper::Request::post("/mutate-pods")
        .header("content-type", "application/json")
        .header("host", "127.0.0.1")
        .body(Full::new(Bytes::from(review_body())))
        .unwrap();
    let resp = sender.send_request(req).await.map_err(|e| e.to_string())?;
    assert_eq!(resp.status(), 200);
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    serde_json::from_slice(&body).map_err(|e| e.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_with_certificate_rotation() {
    let dir = tempfile::tempdir().unwrap();
    let (ca1, ca2) = (ca("agentlens-ca-1"), ca("agentlens-ca-2"));
    write_pair(dir.path(), &ca1);
    let tls = agentlens_operator::tls::server_config(
        &dir.path().join("tls.crt"),
        &dir.path().join("tls.key"),
    )
    .unwrap();
    let state = Arc::new(WebhookState::fixed(Vec::new(), InjectConfig::default()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve_tls(listener, router(state), tls, async {
        let _ = stop_rx.await;
    }));

    // A keep-alive connection from before the rotation.
    let mut early = connect(addr, &[&ca1, &ca2]).await.unwrap();
    let v = post(&mut early).await.unwrap();
    assert_eq!(v["response"]["patchType"], "JSONPatch");
    assert!(
        connect(addr, &[&ca2]).await.is_err(),
        "still the first certificate"
    );

    write_pair(dir.path(), &ca2);
    // A handshake at least CHECK_EVERY after the last check reloads the pair: try until one
    // presents the new certificate.
    let mut late = agentlens_tests::net::wait_until_async(Duration::from_secs(30), async || {
        connect(addr, &[&ca2]).await.ok()
    })
    .await
    .expect("new connections get the rotated certificate");
    assert_eq!(post(&mut late).await.unwrap()["response"]["allowed"], true);
    assert!(
        connect(addr, &[&ca1]).await.is_err(),
        "the old certificate is no longer served"
    );
    let v = post(&mut early)
        .await
        .expect("the connection opened before the rotation still works");
    assert_eq!(v["response"]["allowed"], true);

    // A half-written rotation (key truncated) keeps the current certificate.
    std::fs::write(
        dir.path().join("tls.key"),
        b"-----BEGIN PRIVATE KEY-----\nMIIE",
    )
    .unwrap();
    // Nothing observable happens when the broken pair is ignored: wait out the check
    // interval (a lower bound, so a slow machine only waits longer), then handshake twice.
    tokio::time::sleep(agentlens_operator::tls::CHECK_EVERY + Duration::from_millis(300)).await;
    let _ = connect(addr, &[&ca2]).await;
    let mut after_bad = connect(addr, &[&ca2])
        .await
        .expect("a broken pair is not picked up");
    assert_eq!(
        post(&mut after_bad).await.unwrap()["response"]["allowed"],
        true
    );

    // Garbage on the TLS port does not stop the server.
    let mut raw = tokio::net::TcpStream::connect(addr).await.unwrap();
    tokio::io::AsyncWriteExt::write_all(&mut raw, b"GET / HTTP/1.1\r\n\r\n")
        .await
        .unwrap();
    drop(raw);
    let mut again = connect(addr, &[&ca2]).await.unwrap();
    assert_eq!(post(&mut again).await.unwrap()["response"]["allowed"], true);

    let _ = stop_tx.send(());
    server.await.unwrap();
}
