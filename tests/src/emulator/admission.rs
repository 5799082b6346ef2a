//! Mutating admission webhooks: for a CREATE (POST) or UPDATE (PUT) that a stored
//! MutatingWebhookConfiguration's rules, namespace selector and object selector match, the
//! emulator sends an `admission.k8s.io/v1` AdmissionReview to the webhook — a `url`, or a
//! `service` resolved to a ready pod's IP and port (round robin over the Service's pods, as
//! kube-proxy spreads connections) — verifies it with the `caBundle`, applies the returned
//! JSONPatch, and honours `allowed: false` and `failurePolicy`. Webhooks are called once each,
//! in order (no reinvocation); PATCH requests and validating webhooks are not sent.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};

use super::api::{Api, Incoming};
use super::authz::Identity;
use super::request::{ResourcePath, Route, route};
use super::selector::LabelSelector;
use super::status::ApiError;
use super::store::uid;

/// Largest webhook answer read.
const MAX_RESPONSE: usize = 3 * 1024 * 1024;

/// One webhook to call for a request.
#[derive(Debug, Clone)]
pub struct WebhookCall {
    /// The webhook's name (`pods.agentlens.dev`).
    pub name: String,
    /// Where to connect, or why there is nowhere (no endpoints).
    pub address: Result<SocketAddr, String>,
    /// TLS server name and the `Host` header.
    pub host: String,
    /// Request path (with query).
    pub path: String,
    /// The CA bundle, PEM.
    pub ca_pem: Vec<u8>,
    /// `timeoutSeconds`.
    pub timeout: Duration,
    /// `failurePolicy: Ignore`.
    pub ignore_failure: bool,
}

/// What to send to which webhooks, for one request.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The webhooks, in order.
    pub calls: Vec<WebhookCall>,
    /// The AdmissionReview to send (its `request.object` is replaced as patches apply).
    pub review: Value,
}

/// A `metav1.LabelSelector` object as a selector string.
fn selector_of(v: &Value) -> Result<LabelSelector, String> {
    let mut terms = Vec::new();
    for (k, val) in v["matchLabels"].as_object().into_iter().flatten() {
        terms.push(format!("{k}={}", val.as_str().unwrap_or_default()));
    }
    for e in v["matchExpressions"].as_array().into_iter().flatten() {
        let key = e["key"].as_str().unwrap_or_default();
        let values: Vec<&str> = e["values"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        terms.push(match e["operator"].as_str().unwrap_or_default() {
            "In" => format!("{key} in ({})", values.join(",")),
            "NotIn" => format!("{key} notin ({})", values.join(",")),
            "Exists" => key.to_string(),
            "DoesNotExist" => format!("!{key}"),
            other => return Err(format!("unknown selector operator {other}")),
        });
    }
    LabelSelector::parse(&terms.join(","))
}

fn listed(list: &Value, want: &str) -> bool {
    list.as_array().is_some_and(|l| {
        l.iter()
            .any(|x| x.as_str().is_some_and(|s| s == "*" || s == want))
    })
}

fn rule_matches(rule: &Value, op: &str, rp: &ResourcePath, namespaced: bool) -> bool {
    let scope_ok = match rule["scope"].as_str().unwrap_or("*") {
        "Namespaced" => namespaced,
        "Cluster" => !namespaced,
        _ => true,
    };
    listed(&rule["operations"], op)
        && listed(&rule["apiGroups"], &rp.group)
        && listed(&rule["apiVersions"], &rp.version)
        && listed(&rule["resources"], &rp.plural)
        && scope_ok
}

impl Api {
    /// The webhooks a request must pass, with the review to send; None when no webhook applies
    /// (or the request is not a create/update of an object the caller may write).
    pub fn admission_plan(&mut self, inc: &Incoming) -> Option<Plan> {
        let op = match inc.method.as_str() {
            "POST" => "CREATE",
            "PUT" => "UPDATE",
            _ => return None,
        };
        let Some(Route::Resource(rp)) = route(&inc.path) else {
            return None;
        };
        if rp.subresource.is_some() || inc.query.get("dryRun").is_some_and(|d| d == "All") {
            return None;
        }
        let configs: Vec<Value> = self
            .store
            .list(
                "admissionregistration.k8s.io",
                "mutatingwebhookconfigurations",
                None,
            )
            .map(|(_, v)| v.clone())
            .collect();
        if configs.is_empty() {
            return None;
        }
        let id = inc.token.as_deref().and_then(|t| self.identity(t))?;
        let t = self.store.resource(&rp.group, &rp.plural)?.clone();
        if !self.may_write(&id, &t, &rp, op) {
            return None;
        }
        let mut object: Value = serde_json::from_slice(&inc.body).ok()?;
        let namespace = rp.namespace.clone().unwrap_or_default();
        if t.namespaced {
            object["metadata"]["namespace"] = json!(namespace);
        }
        let name = rp
            .name
            .clone()
            .or_else(|| object["metadata"]["name"].as_str().map(String::from))
            .unwrap_or_default();
        let ns_labels = self
            .store
            .get("", "namespaces", "", &namespace)
            .map(|n| n["metadata"]["labels"].clone())
            .unwrap_or(Value::Null);
        let old = rp
            .name
            .as_ref()
            .and_then(|n| self.store.get(&rp.group, &rp.plural, &namespace, n))
            .cloned();
        let mut calls = Vec::new();
        for config in &configs {
            for hook in config["webhooks"].as_array().into_iter().flatten() {
                let rules_ok = hook["rules"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|r| rule_matches(r, op, &rp, t.namespaced));
                let ns_ok = !t.namespaced
                    || selector_of(&hook["namespaceSelector"]).is_ok_and(|s| s.matches(&ns_labels));
                let obj_ok = selector_of(&hook["objectSelector"])
                    .is_ok_and(|s| s.matches(&object["metadata"]["labels"]));
                if rules_ok && ns_ok && obj_ok {
                    calls.push(self.webhook_call(hook));
                }
            }
        }
        if calls.is_empty() {
            return None;
        }
        let kind = json!({"group": t.group, "version": rp.version, "kind": t.kind});
        let resource = json!({"group": t.group, "version": rp.version, "resource": t.plural});
        let review = json!({
            "apiVersion": "admission.k8s.io/v1",
            "kind": "AdmissionReview",
            "request": {
                "uid": uid(),
                "kind": kind, "resource": resource, "requestKind": kind, "requestResource": resource,
                "name": name, "namespace": namespace, "operation": op,
                "userInfo": {"username": id.user(), "groups": id.groups()},
                "object": object, "oldObject": old,
                "dryRun": false,
                "options": {"kind": if op == "CREATE" { "CreateOptions" } else { "UpdateOptions" }, "apiVersion": "meta.k8s.io/v1"}
            }
        });
        Some(Plan { calls, review })
    }

    fn webhook_call(&mut self, hook: &Value) -> WebhookCall {
        let cc = &hook["clientConfig"];
        let ca_pem = cc["caBundle"]
            .as_str()
            .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
            .unwrap_or_default();
        let timeout =
            Duration::from_secs(hook["timeoutSeconds"].as_u64().unwrap_or(10).clamp(1, 30));
        let (address, host, path) = if let Some(url) = cc["url"].as_str() {
            let rest = url.trim_start_matches("https://");
            let (hostport, path) = rest
                .split_once('/')
                .map_or((rest, "/".to_string()), |(h, p)| (h, format!("/{p}")));
            let host = hostport
                .rsplit_once(':')
                .map_or(hostport, |(h, _)| h)
                .trim_matches(['[', ']'])
                .to_string();
            let with_port = if hostport.contains(':') {
                hostport.to_string()
            } else {
                format!("{hostport}:443")
            };
            let address = with_port
                .replace("localhost", "127.0.0.1")
                .parse::<SocketAddr>()
                .map_err(|e| format!("{url}: {e}"));
            (address, host, path)
        } else {
            let svc = &cc["service"];
            let (ns, name) = (
                svc["namespace"].as_str().unwrap_or_default(),
                svc["name"].as_str().unwrap_or_default(),
            );
            let port = svc["port"].as_u64().unwrap_or(443);
            let path = svc["path"].as_str().unwrap_or("/").to_string();
            (
                self.service_endpoint(ns, name, port),
                format!("{name}.{ns}.svc"),
                path,
            )
        };
        WebhookCall {
            name: hook["name"].as_str().unwrap_or_default().to_string(),
            address,
            host,
            path: format!("{path}?timeout={}s", timeout.as_secs()),
            ca_pem,
            timeout,
            ignore_failure: hook["failurePolicy"] == "Ignore",
        }
    }

    /// A ready pod behind a Service port, round robin: its IP and the target port.
    fn service_endpoint(&mut self, ns: &str, name: &str, port: u64) -> Result<SocketAddr, String> {
        let no_endpoints = || format!("no endpoints available for service \"{name}\"");
        let svc = self
            .store
            .get("", "services", ns, name)
            .ok_or_else(|| format!("service \"{name}\" not found"))?;
        let ports = svc["spec"]["ports"].as_array().cloned().unwrap_or_default();
        let entry = ports
            .iter()
            .find(|p| p["port"].as_u64() == Some(port))
            .ok_or_else(no_endpoints)?;
        let target = entry.get("targetPort").cloned().unwrap_or(json!(port));
        let selector = svc["spec"]["selector"].clone();
        let ready: Vec<Value> = self
            .store
            .list("", "pods", Some(ns))
            .map(|(_, p)| p)
            .filter(|p| {
                selector.as_object().is_some_and(|s| {
                    !s.is_empty() && s.iter().all(|(k, v)| p["metadata"]["labels"][k] == *v)
                }) && p["status"]["podIP"].is_string()
                    && p["status"]["conditions"].as_array().is_some_and(|c| {
                        c.iter()
                            .any(|c| c["type"] == "Ready" && c["status"] == "True")
                    })
            })
            .cloned()
            .collect();
        if ready.is_empty() {
            return Err(no_endpoints());
        }
        self.round_robin = self.round_robin.wrapping_add(1);
        let pod = &ready[self.round_robin % ready.len()];
        let target_port = match &target {
            Value::Number(n) => n.as_u64(),
            Value::String(port_name) => pod["spec"]["containers"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|c| c["ports"].as_array().cloned().unwrap_or_default())
                .find(|p| p["name"] == *port_name)
                .and_then(|p| p["containerPort"].as_u64()),
            _ => None,
        }
        .ok_or_else(no_endpoints)?;
        format!(
            "{}:{target_port}",
            pod["status"]["podIP"].as_str().unwrap_or_default()
        )
        .parse()
        .map_err(|e| format!("endpoint of service \"{name}\": {e}"))
    }

    fn identity(&self, token: &str) -> Option<Identity> {
        self.tokens.get(token).cloned()
    }
}

async fn post(call: &WebhookCall, body: Vec<u8>) -> Result<Value, String> {
    let address = call.address.clone()?;
    let mut roots = rustls::RootCertStore::empty();
    use rustls::pki_types::pem::PemObject;
    for cert in rustls::pki_types::CertificateDer::pem_slice_iter(&call.ca_pem) {
        roots
            .add(cert.map_err(|e| format!("caBundle: {e}"))?)
            .map_err(|e| format!("caBundle: {e}"))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name =
        rustls::pki_types::ServerName::try_from(call.host.clone()).map_err(|e| e.to_string())?;
    let tcp = tokio::net::TcpStream::connect(address)
        .await
        .map_err(|e| format!("dial tcp {address}: {e}"))?;
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .map_err(|e| format!("tls: {e}"))?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    let req = hyper::Request::post(call.path.as_str())
        .header(hyper::header::HOST, call.host.as_str())
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| e.to_string())?;
    let resp = sender.send_request(req).await.map_err(|e| e.to_string())?;
    if !resp.status().is_success() {
        return Err(format!("the server responded with {}", resp.status()));
    }
    let bytes = Limited::new(resp.into_body(), MAX_RESPONSE)
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    serde_json::from_slice(&bytes).map_err(|e| format!("decoding the AdmissionReview: {e}"))
}

/// Sends the review to every webhook in turn, applying their patches; the object to store, or
/// the error the API server answers with.
pub async fn run(plan: Plan) -> Result<Value, ApiError> {
    let mut review = plan.review;
    for call in &plan.calls {
        let body = serde_json::to_vec(&review).map_err(|e| ApiError::internal(e.to_string()))?;
        let answer = tokio::time::timeout(call.timeout, post(call, body))
            .await
            .unwrap_or_else(|_| Err(format!("context deadline exceeded ({:?})", call.timeout)));
        let response = match answer {
            Ok(a) => a["response"].clone(),
            Err(e) if call.ignore_failure => {
                tracing::warn!("webhook {} failed, ignored: {e}", call.name);
                continue;
            }
            Err(e) => {
                return Err(ApiError::internal(format!(
                    "Internal error occurred: failed calling webhook \"{}\": failed to call webhook: Post \"https://{}{}\": {e}",
                    call.name, call.host, call.path
                )));
            }
        };
        if response["allowed"] != true {
            let message = response["status"]["message"].as_str().unwrap_or_default();
            let code = response["status"]["code"]
                .as_u64()
                .and_then(|c| u16::try_from(c).ok())
                .unwrap_or(403);
            let mut e = ApiError::forbidden("", "", "", String::new());
            e.code = code;
            e.message = format!(
                "admission webhook \"{}\" denied the request: {message}",
                call.name
            );
            e.details = Value::Null;
            return Err(e);
        }
        if let Some(patch) = response["patch"].as_str() {
            let raw = base64::engine::general_purpose::STANDARD
                .decode(patch)
                .map_err(|e| {
                    ApiError::internal(format!("webhook {}: patch is not base64: {e}", call.name))
                })?;
            let ops: json_patch::Patch = serde_json::from_slice(&raw).map_err(|e| {
                ApiError::internal(format!(
                    "webhook {}: patch is not a JSON patch: {e}",
                    call.name
                ))
            })?;
            json_patch::patch(&mut review["request"]["object"], &ops).map_err(|e| {
                ApiError::internal(format!("webhook {}: applying its patch: {e}", call.name))
            })?;
        }
    }
    Ok(review["request"]["object"].take())
}
