//! Whether to inject the sidecar into a pod, and the JSON Patch that does it. Pure: the pod,
//! its namespace's AgentDeployments and the injection defaults in, a decision out.

pub mod autoinstrument;
pub mod pointer;
pub mod quantity;
pub mod sidecar;

use std::collections::BTreeMap;

use agentlens_crds::AgentDeployment;
use k8s_openapi::api::core::v1::{Pod, PodSpec, ResourceRequirements};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use serde_json::{Value, json};

use crate::selector;
use pointer::path;
use sidecar::{CONTAINER_NAME, SidecarParams};

/// Label or annotation that forces (`"true"`) or forbids (`"false"`) injection.
pub const INJECT: &str = "agentlens.dev/inject";
/// Annotation set on injected pods, with the sidecar version.
pub const INJECTED: &str = "agentlens.dev/injected";
/// Label naming the AgentDeployment of an injected pod.
pub const AGENT_LABEL: &str = "agentlens.dev/agent";
/// Label set on every pod the webhook injects: the chart's PodMonitor selects it, so only pods
/// that carry a sidecar are scraped (`agentlens.dev/agent` is absent on pods injected by
/// `agentlens.dev/inject: "true"` alone).
pub const SCRAPE_LABEL: &str = "agentlens.dev/sidecar";
/// The value of [`SCRAPE_LABEL`].
pub const SCRAPE_LABEL_VALUE: &str = "injected";
/// The annotations the community Prometheus charts' `kubernetes-pods` job reads; the webhook
/// adds them only when no PodMonitor scrapes the pods (else the pods are scraped twice).
pub const SCRAPE_ANNOTATIONS: [&str; 3] = [
    "prometheus.io/scrape",
    "prometheus.io/port",
    "prometheus.io/path",
];
/// Annotation opting a pod out of `shareProcessNamespace`.
pub const SHARE_PROCESS_NAMESPACE: &str = "agentlens.dev/share-process-namespace";
/// Per-pod resource overrides.
pub const RESOURCE_ANNOTATIONS: [(&str, &str, &str); 4] = [
    ("agentlens.dev/sidecar-cpu", "requests", "cpu"),
    ("agentlens.dev/sidecar-memory", "requests", "memory"),
    ("agentlens.dev/sidecar-cpu-limit", "limits", "cpu"),
    ("agentlens.dev/sidecar-memory-limit", "limits", "memory"),
];

/// Injection defaults of the installation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InjectConfig {
    /// The sidecar image.
    pub image: String,
    /// Inject as a native sidecar (Kubernetes 1.29+).
    pub native_sidecars: bool,
    /// `app.kubernetes.io/name` values of the operator's own pods, never injected.
    pub operator_names: Vec<String>,
    /// SHA-256 (hex) of the token the operator presents to the sidecars' `/v1/*`, written into
    /// the sidecar's environment (`AGENTLENS_API_TOKEN_SHA256`); the token itself stays in the
    /// operator's Secret.
    pub api_token_sha256: Option<String>,
    /// Add the `prometheus.io/*` annotations ([`SCRAPE_ANNOTATIONS`]); off when a PodMonitor
    /// selects the injected pods by [`SCRAPE_LABEL`].
    pub scrape_annotations: bool,
}

impl Default for InjectConfig {
    fn default() -> Self {
        Self {
            image: format!(
                "ghcr.io/agentlens/agentlens-sidecar:{}",
                env!("CARGO_PKG_VERSION")
            ),
            native_sidecars: true,
            operator_names: vec!["agentlens".into(), "agentlens-operator".into()],
            api_token_sha256: None,
            scrape_annotations: true,
        }
    }
}

/// The outcome for one pod.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// No patch, and why.
    Skip(String),
    /// Patch the pod.
    Inject {
        /// The JSON Patch (RFC 6902) as a JSON array.
        patch: Value,
        /// The AgentDeployment that selected the pod, if one did.
        agent: Option<String>,
        /// Things the user should know (shown by kubectl).
        warnings: Vec<String>,
    },
}

fn flag(pod: &Pod, key: &str) -> Option<String> {
    let m = &pod.metadata;
    m.annotations
        .as_ref()
        .and_then(|a| a.get(key))
        .or_else(|| m.labels.as_ref().and_then(|l| l.get(key)))
        .map(|v| v.trim().to_ascii_lowercase())
}

fn has_sidecar(spec: &PodSpec) -> bool {
    spec.containers
        .iter()
        .chain(spec.init_containers.iter().flatten())
        .any(|c| c.name == CONTAINER_NAME)
}

/// Whether a container of the pod asks for NVIDIA GPUs (limits or requests).
pub fn requests_gpu(spec: &PodSpec) -> bool {
    spec.containers
        .iter()
        .chain(spec.init_containers.iter().flatten())
        .any(|c| {
            let r = c.resources.as_ref();
            let has = |m: Option<&BTreeMap<String, Quantity>>| {
                m.is_some_and(|m| m.keys().any(|k| k == "nvidia.com/gpu"))
            };
            has(r.and_then(|r| r.limits.as_ref())) || has(r.and_then(|r| r.requests.as_ref()))
        })
}

/// Containers other tools inject next to the app (meshes, serving and workflow helpers): their
/// UID is not the app's.
pub const INFRA_CONTAINERS: [&str; 7] = [
    "istio-proxy",
    "linkerd-proxy",
    "queue-proxy",
    "wait",
    "cloud-sql-proxy",
    "envoy",
    "vault-agent",
];

/// The UID of the app: the default container's (`kubectl.kubernetes.io/default-container`),
/// else the first non-infrastructure container that sets one, else the pod's.
fn app_uid(pod: &Pod, spec: &PodSpec) -> Option<i64> {
    let default = pod
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get("kubectl.kubernetes.io/default-container"));
    let uid_of = |c: &k8s_openapi::api::core::v1::Container| {
        c.security_context.as_ref().and_then(|s| s.run_as_user)
    };
    let from_default = default
        .and_then(|d| spec.containers.iter().find(|c| &c.name == d))
        .and_then(uid_of);
    from_default
        .or_else(|| {
            spec.containers
                .iter()
                .filter(|c| !INFRA_CONTAINERS.contains(&c.name.as_str()))
                .find_map(uid_of)
        })
        .or_else(|| spec.security_context.as_ref().and_then(|s| s.run_as_user))
}

/// Decides for `pod` (the AdmissionReview's object) in `namespace`. `Err` when the object is
/// not a valid Pod (the caller admits it unchanged, with a warning).
pub fn decide(
    pod_json: &Value,
    namespace: &str,
    ads: &[AgentDeployment],
    cfg: &InjectConfig,
) -> Result<Decision, String> {
    let pod: Pod =
        serde_json::from_value(pod_json.clone()).map_err(|e| format!("not a valid Pod: {e}"))?;
    let Some(spec) = pod.spec.as_ref() else {
        return Err("not a valid Pod: no spec".into());
    };
    let labels = pod.metadata.labels.clone().unwrap_or_default();
    let annotations = pod.metadata.annotations.clone().unwrap_or_default();

    let forced = match flag(&pod, INJECT).as_deref() {
        Some("false") => return Ok(Decision::Skip(format!("{INJECT} is \"false\""))),
        Some("true") => true,
        _ => false,
    };
    if annotations.contains_key(INJECTED) || has_sidecar(spec) {
        return Ok(Decision::Skip("already injected".into()));
    }
    if labels
        .get("app.kubernetes.io/name")
        .is_some_and(|n| cfg.operator_names.iter().any(|o| o == n))
    {
        return Ok(Decision::Skip("a pod of the agentlens operator".into()));
    }
    let mut warnings = Vec::new();
    let mut candidates: Vec<&AgentDeployment> = ads
        .iter()
        .filter(|ad| {
            ad.metadata
                .namespace
                .as_deref()
                .is_none_or(|ns| ns == namespace)
        })
        .filter(|ad| {
            !selector::is_empty(&ad.spec.selector) && selector::matches(&ad.spec.selector, &labels)
        })
        .collect();
    candidates.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    if candidates.len() > 1 {
        warnings.push(format!(
            "agentlens: {} AgentDeployments select this pod; using {}",
            candidates.len(),
            candidates[0].metadata.name.as_deref().unwrap_or("?")
        ));
    }
    let ad = candidates.first().copied();
    if let Some(ad) = ad
        && ad.spec.sidecar.as_ref().and_then(|s| s.inject) == Some(false)
        && !forced
    {
        return Ok(Decision::Skip(format!(
            "AgentDeployment {} has spec.sidecar.inject: false",
            ad.metadata.name.as_deref().unwrap_or("?")
        )));
    }
    if ad.is_none() && !forced {
        return Ok(Decision::Skip("no AgentDeployment selects this pod".into()));
    }
    if spec.host_network == Some(true) && !forced {
        return Ok(Decision::Skip(
            "hostNetwork pods share the node's ports; set agentlens.dev/inject: \"true\" to inject anyway".into(),
        ));
    }

    let agent = ad.and_then(|a| a.metadata.name.clone());
    let sidecar_spec = ad.and_then(|a| a.spec.sidecar.clone()).unwrap_or_default();
    let resources = resources(sidecar_spec.resources.clone(), &annotations, &mut warnings);
    let run_as_user = match app_uid(&pod, spec) {
        Some(0) => {
            warnings.push("agentlens: the app runs as root; the sidecar runs as UID 65532 and cannot read the app's environment".into());
            sidecar::DEFAULT_UID
        }
        Some(uid) => uid,
        None => sidecar::DEFAULT_UID,
    };
    let instrument = ad.and_then(|ad| {
        let target = instrument_target(ad, &labels, namespace, run_as_user, &cfg.image)?;
        autoinstrument::plan(spec, &annotations, &target, &mut warnings)
    });
    let params = SidecarParams {
        image: cfg.image.clone(),
        native: cfg.native_sidecars,
        agent: agent.clone(),
        resources,
        run_as_user,
        gpu: requests_gpu(spec),
        log_files: sidecar_spec.log_files.clone(),
        proxy: sidecar_spec.proxy.as_ref().map(|p| sidecar::ProxyParams {
            listen_port: p.listen_port.unwrap_or(sidecar::PROXY_PORT),
            target_port: p.target_port,
            routes: p.routes.clone(),
            container: serving_container(spec, p.target_port),
        }),
        // Instrumented containers send to the receiver, so it runs for them.
        otlp: sidecar_spec.otlp.as_ref().is_some_and(|o| o.enabled) || instrument.is_some(),
        capture_content: sidecar_spec.capture_content.unwrap_or(false),
        model_paths: sidecar_spec.model_paths.clone(),
        api_token_sha256: cfg.api_token_sha256.clone(),
    };
    let container = serde_json::to_value(sidecar::container(&params)).map_err(|e| e.to_string())?;

    let mut ops = Vec::new();
    // Annotations and labels: create the maps when missing, never overwrite a key.
    let mut new_annotations =
        BTreeMap::from([(INJECTED.to_string(), env!("CARGO_PKG_VERSION").to_string())]);
    if cfg.scrape_annotations && !annotations.keys().any(|k| k.starts_with("prometheus.io/")) {
        let [scrape, port, path] = SCRAPE_ANNOTATIONS;
        new_annotations.insert(scrape.into(), "true".into());
        new_annotations.insert(port.into(), sidecar::PORT.to_string());
        new_annotations.insert(path.into(), "/metrics".into());
    }
    add_map_entries(
        &mut ops,
        "annotations",
        pod.metadata.annotations.is_some(),
        &annotations,
        new_annotations,
    );
    let mut new_labels =
        BTreeMap::from([(SCRAPE_LABEL.to_string(), SCRAPE_LABEL_VALUE.to_string())]);
    if let Some(a) = &agent {
        new_labels.insert(AGENT_LABEL.to_string(), a.clone());
    }
    add_map_entries(
        &mut ops,
        "labels",
        pod.metadata.labels.is_some(),
        &labels,
        new_labels,
    );

    // The container: last among the init containers (after mesh proxies and other init
    // containers, right before the app starts), or last among the containers.
    let mut init_containers = Vec::new();
    if let Some(plan) = &instrument {
        // Before the sidecar: the copy finishes before the sidecar and the app start.
        init_containers
            .push(serde_json::to_value(&plan.init_container).map_err(|e| e.to_string())?);
        append(
            &mut ops,
            "/spec/volumes",
            spec.volumes.is_some(),
            vec![serde_json::to_value(&plan.volume).map_err(|e| e.to_string())?],
        );
        container_ops(&mut ops, spec, plan).map_err(|e| e.to_string())?;
    }
    if cfg.native_sidecars {
        init_containers.push(container);
    } else {
        ops.push(json!({"op": "add", "path": "/spec/containers/-", "value": container}));
    }
    append(
        &mut ops,
        "/spec/initContainers",
        spec.init_containers.is_some(),
        init_containers,
    );

    let opted_out = annotations.get(SHARE_PROCESS_NAMESPACE).map(|v| v.trim()) == Some("false");
    match (spec.share_process_namespace, opted_out) {
        (None, false) => ops.push(json!({"op": "add", "path": "/spec/shareProcessNamespace", "value": true})),
        (Some(false), _) | (None, true) => warnings.push(
            "agentlens: shareProcessNamespace is off; the sidecar cannot measure the app's processes".into(),
        ),
        (Some(true), _) => {}
    }
    if spec.automount_service_account_token == Some(false) {
        warnings.push("agentlens: automountServiceAccountToken is false; container logs will not be collected".into());
    }
    Ok(Decision::Inject {
        patch: Value::Array(ops),
        agent,
        warnings,
    })
}

/// Appends `values` to the array at `array` (creating it when the pod has none).
fn append(ops: &mut Vec<Value>, array: &str, exists: bool, values: Vec<Value>) {
    if values.is_empty() {
        return;
    }
    if exists {
        for v in values {
            ops.push(json!({"op": "add", "path": format!("{array}/-"), "value": v}));
        }
    } else {
        ops.push(json!({"op": "add", "path": array, "value": values}));
    }
}

/// The instrumented containers' variables, `PYTHONPATH` and volume mount.
fn container_ops(
    ops: &mut Vec<Value>,
    spec: &PodSpec,
    plan: &autoinstrument::Plan,
) -> Result<(), serde_json::Error> {
    for a in &plan.containers {
        let Some(c) = spec.containers.get(a.index) else {
            continue;
        };
        let i = a.index.to_string();
        if let Some((j, value)) = &a.python_path {
            let at = path(&["spec", "containers", &i, "env", &j.to_string(), "value"]);
            ops.push(json!({"op": "replace", "path": at, "value": value}));
        }
        let env = a
            .env
            .iter()
            .map(serde_json::to_value)
            .collect::<Result<_, _>>()?;
        append(
            ops,
            &path(&["spec", "containers", &i, "env"]),
            c.env.is_some(),
            env,
        );
        let mount = serde_json::to_value(&a.mount)?;
        append(
            ops,
            &path(&["spec", "containers", &i, "volumeMounts"]),
            c.volume_mounts.is_some(),
            vec![mount],
        );
    }
    Ok(())
}

/// Whom the pod's spans belong to and the instrumentation setting that applies: the first
/// agent (in `agents` order) whose selector matches the pod, its own `autoInstrument` or else
/// the system's. `None` when neither is set.
fn instrument_target(
    ad: &AgentDeployment,
    labels: &BTreeMap<String, String>,
    namespace: &str,
    run_as_user: i64,
    sidecar_image: &str,
) -> Option<autoinstrument::Target> {
    let ad_name = ad.metadata.name.clone().unwrap_or_default();
    let sidecar = ad.spec.sidecar.as_ref();
    let system = sidecar
        .and_then(|s| s.otlp.as_ref())
        .and_then(|o| o.auto_instrument.clone());
    let agent = selector::agent_of(ad, labels);
    let spec = agent.and_then(|a| a.auto_instrument.clone()).or(system)?;
    // Agents sharing the pod as containers: their containers are named after them.
    let containers = ad
        .spec
        .agents
        .iter()
        .filter_map(|a| a.container.as_deref())
        .map(|c| (c.to_string(), selector::agent_name(ad, labels, Some(c))))
        .collect();
    Some(autoinstrument::Target {
        agent: selector::agent_name(ad, labels, None),
        containers,
        agentdeployment: ad_name,
        namespace: namespace.to_string(),
        spec,
        capture_content: sidecar.and_then(|s| s.capture_content).unwrap_or(false),
        run_as_user,
        sidecar_image: sidecar_image.to_string(),
    })
}

fn add_map_entries(
    ops: &mut Vec<Value>,
    field: &str,
    exists: bool,
    existing: &BTreeMap<String, String>,
    new: BTreeMap<String, String>,
) {
    let new: BTreeMap<String, String> = new
        .into_iter()
        .filter(|(k, _)| !existing.contains_key(k))
        .collect();
    if new.is_empty() {
        return;
    }
    if exists {
        for (k, v) in new {
            ops.push(json!({"op": "add", "path": path(&["metadata", field, &k]), "value": v}));
        }
    } else {
        ops.push(json!({"op": "add", "path": path(&["metadata", field]), "value": new}));
    }
}

/// The sidecar's resources: the AgentDeployment's or the defaults, then per-pod annotations
/// (a malformed quantity is ignored with a warning rather than failing the pod).
fn resources(
    from_ad: Option<ResourceRequirements>,
    annotations: &BTreeMap<String, String>,
    warnings: &mut Vec<String>,
) -> ResourceRequirements {
    let mut r = from_ad.unwrap_or_else(sidecar::default_resources);
    for (key, kind, resource) in RESOURCE_ANNOTATIONS {
        let Some(v) = annotations.get(key) else {
            continue;
        };
        let v = v.trim();
        if !quantity::is_quantity(v) {
            warnings.push(format!(
                "agentlens: ignoring {key}: {v:?} is not a quantity"
            ));
            continue;
        }
        let map = if kind == "requests" {
            &mut r.requests
        } else {
            &mut r.limits
        };
        map.get_or_insert_with(BTreeMap::new)
            .insert(resource.into(), Quantity(v.into()));
    }
    r
}

/// The container that declares `port` among its ports (regular containers, then native
/// sidecars): the one the latency proxy measures.
fn serving_container(spec: &PodSpec, port: i32) -> Option<String> {
    spec.containers
        .iter()
        .chain(spec.init_containers.iter().flatten())
        .find(|c| c.ports.iter().flatten().any(|p| p.container_port == port))
        .map(|c| c.name.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_proxied_port_names_the_container_that_declares_it() {
        let spec: PodSpec = serde_json::from_value(serde_json::json!({
            "initContainers": [{"name": "istio-proxy", "restartPolicy": "Always",
                                "ports": [{"containerPort": 15090}]}],
            "containers": [
                {"name": "guard", "ports": [{"containerPort": 9000}]},
                {"name": "vllm", "ports": [{"containerPort": 8000, "name": "http"}]},
            ],
        }))
        .unwrap();
        assert_eq!(serving_container(&spec, 8000).as_deref(), Some("vllm"));
        assert_eq!(
            serving_container(&spec, 15090).as_deref(),
            Some("istio-proxy")
        );
        assert_eq!(serving_container(&spec, 8080), None, "declared by nobody");
    }
}
