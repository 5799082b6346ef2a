//! The `admission.k8s.io/v1` AdmissionReview exchange around [`crate::inject::decide`]. Pure:
//! request bytes in, HTTP status and response bytes out. Bad input gets a clear 400; anything
//! with a request uid gets an allowed response (with a warning when it could not be handled),
//! so the webhook never blocks a pod.

use base64::Engine;
use serde_json::{Value, json};

use crate::inject::{Decision, InjectConfig, decide};
use agentlens_crds::AgentDeployment;

/// Largest request body accepted (the API server sends objects up to 3 MiB).
pub const MAX_BODY: usize = 3 * 1024 * 1024;

/// What to answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// Body (JSON).
    pub body: Vec<u8>,
    /// What was decided, for logs and a bounded metric label.
    pub outcome: Outcome,
}

/// The decision class, a bounded metric label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A patch was returned.
    Injected,
    /// Admitted unchanged.
    Skipped,
    /// Admitted unchanged because the object could not be handled.
    Unhandled,
    /// HTTP 400/413: not an AdmissionReview.
    BadRequest,
}

impl Outcome {
    /// Every outcome, so the metric's series exist at 0 before the first review.
    pub const ALL: [Outcome; 4] = [
        Outcome::Injected,
        Outcome::Skipped,
        Outcome::Unhandled,
        Outcome::BadRequest,
    ];

    /// Label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Injected => "injected",
            Outcome::Skipped => "skipped",
            Outcome::Unhandled => "unhandled",
            Outcome::BadRequest => "bad_request",
        }
    }
}

fn bad_request(status: u16, message: &str) -> Answer {
    Answer {
        status,
        body: serde_json::to_vec(&json!({"error": message})).unwrap_or_default(),
        outcome: Outcome::BadRequest,
    }
}

fn respond(uid: &Value, response: Value, outcome: Outcome) -> Answer {
    let mut r = response;
    r["uid"] = uid.clone();
    r["allowed"] = Value::Bool(true);
    let body =
        json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": r});
    Answer {
        status: 200,
        body: serde_json::to_vec(&body).unwrap_or_default(),
        outcome,
    }
}

/// Handles one `POST /mutate-pods` body.
pub fn review(body: &[u8], ads: &[AgentDeployment], cfg: &InjectConfig) -> Answer {
    review_in(body, |_| ads, cfg)
}

/// [`review`] with the AgentDeployments of the pod's namespace looked up by `ads_in` once the
/// namespace is known (the operator's cache keeps them by namespace, so nothing is copied).
pub fn review_in<A: AsRef<[AgentDeployment]>>(
    body: &[u8],
    ads_in: impl FnOnce(&str) -> A,
    cfg: &InjectConfig,
) -> Answer {
    if body.len() > MAX_BODY {
        return bad_request(
            413,
            &format!("request body of {} bytes exceeds {MAX_BODY}", body.len()),
        );
    }
    let v: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => return bad_request(400, &format!("request body is not JSON: {e}")),
    };
    if v.get("kind").and_then(Value::as_str) != Some("AdmissionReview") {
        return bad_request(400, "expected kind AdmissionReview");
    }
    if v.get("apiVersion").and_then(Value::as_str) != Some("admission.k8s.io/v1") {
        return bad_request(400, "expected apiVersion admission.k8s.io/v1");
    }
    let Some(req) = v.get("request").filter(|r| r.is_object()) else {
        return bad_request(400, "AdmissionReview has no request");
    };
    let uid = match req.get("uid") {
        Some(Value::String(s)) if !s.is_empty() => Value::String(s.clone()),
        _ => return bad_request(400, "AdmissionReview request has no uid"),
    };
    let warn = |msg: String| json!({"warnings": [agentlens_crds::text::truncate(&msg, 240)]});
    let kind = req.pointer("/kind/kind").and_then(Value::as_str);
    let resource = req.pointer("/resource/resource").and_then(Value::as_str);
    if kind != Some("Pod") || resource.is_some_and(|r| r != "pods") {
        return respond(
            &uid,
            warn(format!(
                "agentlens only mutates pods, got {}",
                kind.unwrap_or("?")
            )),
            Outcome::Unhandled,
        );
    }
    if req
        .get("operation")
        .and_then(Value::as_str)
        .is_some_and(|op| op != "CREATE")
    {
        return respond(&uid, json!({}), Outcome::Skipped);
    }
    if req.get("subResource").and_then(Value::as_str).is_some() {
        return respond(&uid, json!({}), Outcome::Skipped);
    }
    let Some(object) = req.get("object").filter(|o| o.is_object()) else {
        return respond(
            &uid,
            warn("agentlens: the request has no pod object".into()),
            Outcome::Unhandled,
        );
    };
    let namespace = req
        .get("namespace")
        .and_then(Value::as_str)
        .or_else(|| {
            object
                .pointer("/metadata/namespace")
                .and_then(Value::as_str)
        })
        .unwrap_or("default");
    let ads = ads_in(namespace);
    match decide(object, namespace, ads.as_ref(), cfg) {
        Err(e) => respond(
            &uid,
            warn(format!("agentlens did not inject: {e}")),
            Outcome::Unhandled,
        ),
        Ok(Decision::Skip(reason)) => respond(
            &uid,
            json!({"auditAnnotations": {"agentlens.dev/decision": reason}}),
            Outcome::Skipped,
        ),
        Ok(Decision::Inject {
            patch,
            agent,
            warnings,
        }) => {
            let bytes = serde_json::to_vec(&patch).unwrap_or_default();
            let mut r = json!({
                "patchType": "JSONPatch",
                "patch": base64::engine::general_purpose::STANDARD.encode(bytes),
                "auditAnnotations": {"agentlens.dev/decision": format!("injected ({})", agent.as_deref().unwrap_or("forced"))},
            });
            if !warnings.is_empty() {
                r["warnings"] = json!(
                    warnings
                        .iter()
                        .map(|w| agentlens_crds::text::truncate(w, 240))
                        .collect::<Vec<_>>()
                );
            }
            respond(&uid, r, Outcome::Injected)
        }
    }
}
