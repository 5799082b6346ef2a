//! Bad input never crashes the webhook and never blocks a pod: a clear 400/413 without a
//! request uid, an allowed response with a warning with one.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use agentlens_operator::admission::{MAX_BODY, Outcome, review};
use agentlens_operator::inject::InjectConfig;
use serde_json::{Value, json};

fn req(request: Value) -> Vec<u8> {
    serde_json::to_vec(&json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request})).unwrap()
}

fn pod_request(object: Value) -> Value {
    json!({
        "uid": "b0a1c2d3-e4f5-4a6b-8c7d-9e0f1a2b3c4d",
        "kind": {"group": "", "version": "v1", "kind": "Pod"},
        "resource": {"group": "", "version": "v1", "resource": "pods"},
        "namespace": "agents", "operation": "CREATE", "object": object
    })
}

/// (case, body, expected HTTP status, expected outcome, text the answer must contain)
fn cases() -> Vec<(&'static str, Vec<u8>, u16, Outcome, &'static str)> {
    let good_pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "annotations": {"agentlens.dev/inject": "true"}},
        "spec": {"containers": [{"name": "app", "image": "x"}]}});
    vec![
        ("not_json", b"{not json".to_vec(), 400, Outcome::BadRequest, "not JSON"),
        ("empty_body", Vec::new(), 400, Outcome::BadRequest, "not JSON"),
        ("json_array", b"[1,2,3]".to_vec(), 400, Outcome::BadRequest, "AdmissionReview"),
        ("wrong_kind", serde_json::to_vec(&json!({"apiVersion": "admission.k8s.io/v1", "kind": "Pod"})).unwrap(), 400, Outcome::BadRequest, "AdmissionReview"),
        ("v1beta1_review", serde_json::to_vec(&json!({"apiVersion": "admission.k8s.io/v1beta1", "kind": "AdmissionReview", "request": pod_request(good_pod.clone())})).unwrap(), 400, Outcome::BadRequest, "admission.k8s.io/v1"),
        ("missing_request", serde_json::to_vec(&json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview"})).unwrap(), 400, Outcome::BadRequest, "no request"),
        ("request_not_object", serde_json::to_vec(&json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": "x"})).unwrap(), 400, Outcome::BadRequest, "no request"),
        ("missing_uid", req(json!({"kind": {"kind": "Pod"}, "object": good_pod})), 400, Outcome::BadRequest, "no uid"),
        ("body_over_3_mib", {
            let mut p = good_pod.clone();
            p["metadata"]["annotations"]["big"] = json!("x".repeat(MAX_BODY));
            req(pod_request(p))
        }, 413, Outcome::BadRequest, "exceeds"),
        ("object_not_a_pod", req(json!({
            "uid": "u1", "kind": {"group": "", "version": "v1", "kind": "ConfigMap"},
            "resource": {"group": "", "version": "v1", "resource": "configmaps"}, "operation": "CREATE",
            "object": {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}
        })), 200, Outcome::Unhandled, "only mutates pods"),
        ("pod_with_wrong_field_types", req(pod_request(json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "labels": "oops"},
            "spec": {"containers": "app"}}))), 200, Outcome::Unhandled, "not a valid Pod"),
        ("pod_without_spec", req(pod_request(json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}}))), 200, Outcome::Unhandled, "no spec"),
        ("missing_object", req(json!({"uid": "u2", "kind": {"kind": "Pod"}, "resource": {"resource": "pods"}, "operation": "CREATE"})), 200, Outcome::Unhandled, "no pod object"),
        ("update_operation", req(json!({"uid": "u3", "kind": {"kind": "Pod"}, "resource": {"resource": "pods"}, "operation": "UPDATE", "object": good_pod.clone()})), 200, Outcome::Skipped, "\"allowed\":true"),
        ("ephemeral_containers_subresource", req(json!({"uid": "u4", "kind": {"kind": "Pod"}, "resource": {"resource": "pods"}, "subResource": "ephemeralcontainers", "operation": "CREATE", "object": good_pod.clone()})), 200, Outcome::Skipped, "\"allowed\":true"),
        ("good_request_after_bad_ones", req(pod_request(good_pod)), 200, Outcome::Injected, "JSONPatch"),
    ]
}

#[test]
fn every_malformed_input_gets_a_clear_answer() {
    let cfg = InjectConfig::default();
    for (name, body, status, outcome, text) in cases() {
        let a = review(&body, &[], &cfg);
        assert_eq!(a.status, status, "{name}");
        assert_eq!(a.outcome, outcome, "{name}");
        let body = String::from_utf8(a.body).unwrap();
        assert!(body.contains(text), "{name}: {body}");
        let v: Value = serde_json::from_str(&body).unwrap();
        if status == 200 {
            assert_eq!(v["response"]["allowed"], true, "{name}: must never block");
            assert!(v["response"]["uid"].is_string(), "{name}");
        } else {
            assert!(v["error"].is_string(), "{name}");
        }
    }
}
