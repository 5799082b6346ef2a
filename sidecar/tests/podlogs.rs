//! Container logs through the Kubernetes API: a fake API server on loopback that drops the log
//! stream mid-traceback and replays the last second on reconnect, as the real one does with
//! `sinceTime`. No line may be lost or repeated, and the traceback is still one event.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agentlens_crds::snapshot::{PodIdentity, SidecarMode};
use agentlens_sidecar::podlogs::{SIDECAR_CONTAINER, app_containers, container_names, watch_pod};
use agentlens_sidecar::shared::Shared;
use agentlens_sidecar::view::View;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use k8s_openapi::api::core::v1::Pod;
use serde_json::json;

const ID: &str = "3f1c9a2e5b7d4c8e9f0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60";

fn pod() -> serde_json::Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "agent-0", "namespace": "ns"},
        "spec": {
            "containers": [{"name": "extractor", "image": "x"}, {"name": "guard", "image": "y"}],
            "initContainers": [{"name": SIDECAR_CONTAINER, "image": "z", "restartPolicy": "Always"}]
        },
        "status": {
            "containerStatuses": [
                {"name": "extractor", "containerID": format!("containerd://{ID}"), "image": "x", "imageID": "", "ready": true, "restartCount": 0},
                {"name": "guard", "containerID": "containerd://abc", "image": "y", "imageID": "", "ready": true, "restartCount": 0}
            ]
        }
    })
}

#[derive(Default)]
struct Fake {
    log_requests: AtomicUsize,
    since: Mutex<Vec<Option<String>>>,
}

const FIRST: &[&str] = &[
    "2026-11-27T08:00:00.100000000Z starting extractor",
    "2026-11-27T08:00:00.900000000Z loading model",
    "2026-11-27T08:00:01.100000000Z Traceback (most recent call last):",
    "2026-11-27T08:00:01.200000000Z   File \"/app/extract.py\", line 42, in run",
    "2026-11-27T08:00:01.200000000Z     fields = parse(page)",
];
// After the drop the API replays from 08:00:01.
const SECOND: &[&str] = &[
    "2026-11-27T08:00:01.100000000Z Traceback (most recent call last):",
    "2026-11-27T08:00:01.200000000Z   File \"/app/extract.py\", line 42, in run",
    "2026-11-27T08:00:01.200000000Z     fields = parse(page)",
    "2026-11-27T08:00:01.300000000Z KeyError: 'invoice_number'",
    "2026-11-27T08:00:02.000000000Z next document",
];

async fn get_pod() -> impl IntoResponse {
    axum::Json(pod())
}

async fn get_log(
    State(f): State<Arc<Fake>>,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    if q.get("container").map(String::as_str) == Some("guard") {
        let status = json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
            "message": "pods \"agent-0\" is forbidden: User \"system:serviceaccount:ns:default\" cannot get resource \"pods/log\"",
            "reason": "Forbidden", "code": 403});
        return (StatusCode::FORBIDDEN, axum::Json(status)).into_response();
    }
    assert_eq!(q.get("follow").map(String::as_str), Some("true"));
    assert_eq!(q.get("timestamps").map(String::as_str), Some("true"));
    f.since.lock().unwrap().push(q.get("sinceTime").cloned());
    let n = f.log_requests.fetch_add(1, Ordering::SeqCst);
    let body = match n {
        // The first stream ends mid-traceback (connection dropped).
        0 => FIRST.join("\n") + "\n",
        1 => SECOND.join("\n") + "\n",
        // Later streams: nothing new, then the connection closes again.
        _ => {
            tokio::time::sleep(Duration::from_millis(200)).await;
            String::new()
        }
    };
    body.into_response()
}

#[test]
fn names_and_app_containers_from_the_pod() {
    let pod: Pod = serde_json::from_value(pod()).unwrap();
    assert_eq!(container_names(&pod)[ID], "extractor");
    assert_eq!(
        app_containers(&pod).into_iter().collect::<Vec<_>>(),
        ["extractor", "guard"]
    );
}

#[tokio::test(flavor = "current_thread")]
async fn logs_resume_after_a_drop_without_loss_or_repeats() {
    // Workspace test builds also link aws-lc-rs (a dev-dependency elsewhere); pick ring, as the
    // binaries do.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let fake = Arc::new(Fake::default());
    let app = axum::Router::new()
        .route("/api/v1/namespaces/ns/pods/agent-0", get(get_pod))
        .route("/api/v1/namespaces/ns/pods/agent-0/log", get(get_log))
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let config = kube::Config::new(format!("http://{addr}").parse().unwrap());
    let client = kube::Client::try_from(config).unwrap();
    let api: kube::Api<Pod> = kube::Api::namespaced(client, "ns");
    let pod_id = PodIdentity {
        namespace: "ns".into(),
        name: "agent-0".into(),
        node: None,
        agent: Some("invoice-rpa".into()),
    };
    let shared = Shared::new(SidecarMode::Serve, Some(pod_id)).unwrap();
    let names: View<BTreeMap<String, String>> = View::default();
    let watcher = tokio::spawn(watch_pod(
        api,
        "agent-0".into(),
        shared.clone(),
        names.publisher(BTreeMap::new()).unwrap(),
    ));

    // Wait for the third log request: both real streams have been read by then.
    common::wait_until_async(Duration::from_secs(30), async || {
        (fake.log_requests.load(Ordering::SeqCst) >= 3).then_some(())
    })
    .await
    .expect("a third log request");
    // Then until the new lines and the guard container's reason arrived (deadline, no fixed
    // sleep before the assertions).
    common::wait_until_async(Duration::from_secs(30), async || {
        shared.settle();
        let obs = shared.observations();
        let done = obs
            .containers()
            .get("extractor")
            .is_some_and(|c| c.stdout_lines >= 7)
            && obs
                .containers()
                .get("guard")
                .is_some_and(|c| c.unavailable_reason.is_some());
        done.then_some(())
    })
    .await;
    watcher.abort();

    assert_eq!(
        names.load().unwrap().get(ID).map(String::as_str),
        Some("extractor")
    );
    let since = fake.since.lock().unwrap().clone();
    assert_eq!(since[0], None);
    assert_eq!(
        since[1].as_deref(),
        Some("2026-11-27T08:00:01Z"),
        "resumed from the second of the last line"
    );
    shared.settle();
    let obs = shared.observations();
    let c = &obs.containers()["extractor"];
    assert_eq!(c.stdout_lines, 7, "5 + 2 new lines, none repeated");
    assert_eq!(
        c.tracebacks, 1,
        "the traceback split by the drop is one event"
    );
    assert_eq!(obs.groups()[0].exception, "KeyError");
    assert!(c.unavailable_reason.is_none());
    let guard = obs.containers()["guard"]
        .unavailable_reason
        .clone()
        .unwrap();
    assert!(guard.contains("forbidden"), "{guard}");
}
