//! Mutating admission webhooks called through their Service.

use super::*;

/// A mutating webhook on loopback with its own CA: labels pods `injected=true`, refuses names
/// starting with `deny-`, and counts the reviews it gets.
struct Webhook {
    port: u16,
    ca_pem: String,
    reviews: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

async fn start_webhook() -> Webhook {
    use http_body_util::{BodyExt, Full};
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let issuer = CertifiedIssuer::self_signed(ca, KeyPair::generate().unwrap()).unwrap();
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["hook.default.svc".to_string()])
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        vec![cert.der().clone()],
        rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
    )
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let reviews = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&reviews);
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            let acceptor = acceptor.clone();
            let counter = Arc::clone(&counter);
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let service = hyper::service::service_fn(
                    move |req: hyper::Request<hyper::body::Incoming>| {
                        let counter = Arc::clone(&counter);
                        async move {
                            counter.fetch_add(1, Ordering::SeqCst);
                            let review: Value = serde_json::from_slice(
                                &req.into_body().collect().await.unwrap().to_bytes(),
                            )
                            .unwrap();
                            let request = &review["request"];
                            let name = request["object"]["metadata"]["name"]
                                .as_str()
                                .unwrap_or_default();
                            let response = if name.starts_with("deny-") {
                                json!({"uid": request["uid"], "allowed": false, "status": {"code": 403, "message": "names starting with deny- are refused"}})
                            } else {
                                let ops = if request["object"]["metadata"]["labels"].is_object() {
                                    json!([{"op": "add", "path": "/metadata/labels/injected", "value": "true"}])
                                } else {
                                    json!([{"op": "add", "path": "/metadata/labels", "value": {"injected": "true"}}])
                                };
                                use base64::Engine;
                                let patch = base64::engine::general_purpose::STANDARD
                                    .encode(ops.to_string());
                                json!({"uid": request["uid"], "allowed": true, "patchType": "JSONPatch", "patch": patch})
                            };
                            let body = json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": response});
                            Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(
                                bytes::Bytes::from(body.to_string()),
                            )))
                        }
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    Webhook {
        port,
        ca_pem: issuer.pem(),
        reviews,
    }
}

#[tokio::test]
async fn mutating_webhooks_are_called_through_their_service() {
    use k8s_openapi::api::admissionregistration::v1::MutatingWebhookConfiguration;
    use k8s_openapi::api::core::v1::{Namespace, Service};
    use std::sync::atomic::Ordering;
    let emu = start(&[]);
    let client = client(&emu.admin_kubeconfig()).await;
    let hook = start_webhook().await;
    let pp = PostParams::default();
    let namespaces: Api<Namespace> = Api::all(client.clone());
    for (name, labels) in [
        ("inj", json!({"agentlens.dev/injection": "enabled"})),
        ("plain", json!({})),
    ] {
        namespaces
            .create(
                &pp,
                &serde_json::from_value(json!({"metadata": {"name": name, "labels": labels}}))
                    .unwrap(),
            )
            .await
            .unwrap();
    }
    // The webhook's Service and its one endpoint pod (loopback IP, named target port).
    let services: Api<Service> = Api::namespaced(client.clone(), "default");
    services
        .create(&pp, &serde_json::from_value(json!({"metadata": {"name": "hook"},
            "spec": {"selector": {"app": "hook"}, "ports": [{"port": 443, "targetPort": "https"}]}})).unwrap())
        .await
        .unwrap();
    let default_pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let endpoint: Pod = serde_json::from_value(json!({"metadata": {"name": "hook-0", "labels": {"app": "hook"}},
        "spec": {"containers": [{"name": "hook", "image": "i", "ports": [{"name": "https", "containerPort": hook.port}]}]}}))
    .unwrap();
    default_pods.create(&pp, &endpoint).await.unwrap();
    let ready = |status: &str| json!({"status": {"podIP": "127.0.0.1", "conditions": [{"type": "Ready", "status": status}]}});
    default_pods
        .patch_status(
            "hook-0",
            &PatchParams::default(),
            &Patch::Merge(ready("True")),
        )
        .await
        .unwrap();
    use base64::Engine;
    let config: MutatingWebhookConfiguration = serde_json::from_value(json!({
        "metadata": {"name": "pods"},
        "webhooks": [{
            "name": "pods.test",
            "admissionReviewVersions": ["v1"],
            "sideEffects": "None",
            "failurePolicy": "Fail",
            "clientConfig": {"service": {"namespace": "default", "name": "hook", "path": "/mutate", "port": 443},
                             "caBundle": base64::engine::general_purpose::STANDARD.encode(&hook.ca_pem)},
            "rules": [{"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods"], "scope": "Namespaced"}],
            "namespaceSelector": {"matchLabels": {"agentlens.dev/injection": "enabled"}},
            "objectSelector": {"matchExpressions": [{"key": "agentlens.dev/component", "operator": "NotIn", "values": ["operator"]}]}
        }]
    }))
    .unwrap();
    let configs: Api<MutatingWebhookConfiguration> = Api::all(client.clone());
    configs.create(&pp, &config).await.unwrap();

    let pod = |name: &str, labels: Value| -> Pod {
        serde_json::from_value(json!({"metadata": {"name": name, "labels": labels}, "spec": {"containers": [{"name": "c", "image": "i"}]}})).unwrap()
    };
    let inj: Api<Pod> = Api::namespaced(client.clone(), "inj");
    let plain: Api<Pod> = Api::namespaced(client.clone(), "plain");
    let injected = inj
        .create(&pp, &pod("a", json!({"app": "a"})))
        .await
        .unwrap();
    assert_eq!(injected.metadata.labels.unwrap()["injected"], "true");
    assert_eq!(hook.reviews.load(Ordering::SeqCst), 1);
    let untouched = plain.create(&pp, &pod("b", json!({}))).await.unwrap();
    assert!(untouched.metadata.labels.unwrap_or_default().is_empty());
    let operator = inj
        .create(
            &pp,
            &pod("op", json!({"agentlens.dev/component": "operator"})),
        )
        .await
        .unwrap();
    assert!(!operator.metadata.labels.unwrap().contains_key("injected"));
    assert_eq!(
        hook.reviews.load(Ordering::SeqCst),
        1,
        "selectors keep the webhook out"
    );
    let denied = status_of(
        inj.create(&pp, &pod("deny-me", json!({})))
            .await
            .unwrap_err(),
    );
    assert_eq!(denied.code, 403);
    assert_eq!(
        denied.message,
        "admission webhook \"pods.test\" denied the request: names starting with deny- are refused"
    );

    // No ready endpoint: failurePolicy Fail refuses the create, Ignore lets it through as is.
    default_pods
        .patch_status(
            "hook-0",
            &PatchParams::default(),
            &Patch::Merge(ready("False")),
        )
        .await
        .unwrap();
    let failed = status_of(inj.create(&pp, &pod("c", json!({}))).await.unwrap_err());
    assert_eq!(failed.code, 500);
    assert!(
        failed
            .message
            .contains("no endpoints available for service \"hook\""),
        "{}",
        failed.message
    );
    let ignore = json!([{"op": "replace", "path": "/webhooks/0/failurePolicy", "value": "Ignore"}]);
    configs
        .patch(
            "pods",
            &PatchParams::default(),
            &Patch::<Value>::Json(serde_json::from_value(ignore).unwrap()),
        )
        .await
        .unwrap();
    let unpatched = inj.create(&pp, &pod("d", json!({}))).await.unwrap();
    assert!(
        !unpatched
            .metadata
            .labels
            .unwrap_or_default()
            .contains_key("injected")
    );
}
