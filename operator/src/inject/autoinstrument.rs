//! Zero-code GenAI instrumentation (`spec.sidecar.otlp.autoInstrument`): the init container that
//! copies a provider's Python packages into a shared `emptyDir`, and for each app container the
//! volume mount, `PYTHONPATH` and `OTEL_*` settings that load them and aim them at the sidecar's
//! OTLP receiver. Same names and layout as the OpenTelemetry Operator's Python injection
//! (`/otel-auto-instrumentation-python`, `PYTHONPATH` = bootstrap, the pod's own value, packages)
//! so users who know it find their way. Pure: a pod spec and the resolved setting in, the
//! containers' additions and warnings out.

use std::collections::BTreeMap;

use agentlens_crds::autoinstrument::{AutoInstrumentSpec, InstrumentProvider};
// One definition with the sidecar, which recognises the layout on `PYTHONPATH`.
pub use agentlens_crds::autoinstrument::{AGENT_ATTRIBUTE, MOUNT_PATH, bootstrap_dir, python_path};
use k8s_openapi::api::core::v1::{
    Container, EmptyDirVolumeSource, EnvVar, PodSpec, ResourceRequirements, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use super::INFRA_CONTAINERS;
use super::sidecar::{CONTAINER_NAME, OTLP_PORT, field_env, restricted, value_env};

/// Annotation on a pod (template): `"false"` keeps the pod's containers uninstrumented.
pub const AUTO_INSTRUMENT: &str = "agentlens.dev/auto-instrument";
/// The OpenTelemetry Operator's Python annotation: a pod it instruments is left to it.
pub const OTEL_OPERATOR_INJECT_PYTHON: &str = "instrumentation.opentelemetry.io/inject-python";
/// Name of the init container and of the shared volume.
pub const INIT_CONTAINER_NAME: &str = "agentlens-auto-instrumentation-python";
/// Where an instrumentation image holds the packages.
pub const IMAGE_SOURCE_DIR: &str = "/autoinstrumentation";
/// The sidecar's subcommand that copies a directory tree (the images carry no shell or `cp`).
pub const COPY_TREE_SUBCOMMAND: &str = "copy-tree";
/// Size limit of the shared volume: the largest layout (openlit, ~140 MB) with room to spare.
pub const VOLUME_SIZE_LIMIT: &str = "512Mi";
/// Image name of a provider's instrumentation, before `-<provider>`; it lives beside the sidecar's.
pub const IMAGE_NAME: &str = "agentlens-autoinstrument";
/// The sidecar's image name, which the instrumentation image's name replaces.
pub const SIDECAR_IMAGE_NAME: &str = "agentlens-sidecar";
/// The downward-API variables `OTEL_RESOURCE_ATTRIBUTES` refers to as `$(NAME)`.
pub const POD_NAME_ENV: &str = "OTEL_RESOURCE_ATTRIBUTES_POD_NAME";
/// See [`POD_NAME_ENV`].
pub const NODE_NAME_ENV: &str = "OTEL_RESOURCE_ATTRIBUTES_NODE_NAME";
/// The OpenLIT layout's price table (empty: agentlens counts tokens, not money), relative to
/// the layout.
pub const OPENLIT_PRICING_FILE: &str = "agentlens-openlit-pricing.json";
/// Resource attribute naming the AgentDeployment of the spans.
pub const AGENTDEPLOYMENT_ATTRIBUTE: &str = "agentlens.agentdeployment";

/// The instrumentation image of a provider: in the sidecar image's registry, with its tag
/// (`make images` builds them side by side), else `ghcr.io/agentlens` at this operator's version.
/// A sidecar pinned by digest gives the version tag (a digest names one image only).
pub fn default_image(sidecar_image: &str, provider: InstrumentProvider) -> String {
    let name = format!("{IMAGE_NAME}-{}", provider.as_str());
    let version = env!("CARGO_PKG_VERSION");
    match sidecar_image.rsplit_once(SIDECAR_IMAGE_NAME) {
        Some((registry, tag)) if tag.starts_with(':') && !tag.contains('@') => {
            format!("{registry}{name}{tag}")
        }
        Some((registry, _)) => format!("{registry}{name}:{version}"),
        None => format!("ghcr.io/agentlens/{name}:{version}"),
    }
}

/// Whom the spans belong to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The AgentDeployment that selected the pod.
    pub agentdeployment: String,
    /// The pod's agent (`agents[].name` whose selector matches the pod), else the
    /// AgentDeployment's name: `OTEL_SERVICE_NAME` of its containers.
    pub agent: String,
    /// Containers named by an agent (`agents[].container`) → that agent, which replaces
    /// [`Target::agent`] for them.
    pub containers: BTreeMap<String, String>,
    /// The namespace of the pod.
    pub namespace: String,
    /// The resolved setting (the agent's, else the system's).
    pub spec: AutoInstrumentSpec,
    /// `spec.sidecar.captureContent`: whether prompt and completion text is recorded.
    pub capture_content: bool,
    /// UID of the init container (the sidecar's).
    pub run_as_user: i64,
    /// The sidecar's image, beside which the instrumentation images are.
    pub sidecar_image: String,
}

/// The `OTEL_*` (and provider) variables for one container, in the order they must be defined
/// (the downward-API variables before `OTEL_RESOURCE_ATTRIBUTES`, which refers to them).
pub fn env(target: &Target, container: &str) -> Vec<EnvVar> {
    let provider = target.spec.provider;
    let agent = target.containers.get(container).unwrap_or(&target.agent);
    let capture = if target.capture_content {
        "true"
    } else {
        "false"
    };
    let resource = [
        ("k8s.pod.name", format!("$({POD_NAME_ENV})")),
        ("k8s.namespace.name", target.namespace.clone()),
        ("k8s.container.name", container.to_string()),
        ("k8s.node.name", format!("$({NODE_NAME_ENV})")),
        (AGENTDEPLOYMENT_ATTRIBUTE, target.agentdeployment.clone()),
        (AGENT_ATTRIBUTE, agent.clone()),
    ]
    .iter()
    .map(|(k, v)| format!("{k}={v}"))
    .collect::<Vec<_>>()
    .join(",");
    let mut out = vec![
        field_env(POD_NAME_ENV, "metadata.name"),
        field_env(NODE_NAME_ENV, "spec.nodeName"),
        value_env(
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            &format!("http://127.0.0.1:{OTLP_PORT}"),
        ),
        value_env("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
        value_env("OTEL_SERVICE_NAME", agent),
        value_env("OTEL_RESOURCE_ATTRIBUTES", &resource),
        value_env("OTEL_TRACES_EXPORTER", "otlp"),
        // The receiver takes traces and logs; metrics would be refused.
        value_env("OTEL_METRICS_EXPORTER", "none"),
        value_env("OTEL_LOGS_EXPORTER", "otlp"),
    ];
    match provider {
        // opentelemetry-util-genai's modes (it refuses true/false).
        InstrumentProvider::OpenTelemetry => out.push(value_env(
            "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT",
            if target.capture_content {
                "SPAN_ONLY"
            } else {
                "NO_CONTENT"
            },
        )),
        InstrumentProvider::OpenInference => {
            let hide = if target.capture_content {
                "false"
            } else {
                "true"
            };
            out.push(value_env("OPENINFERENCE_HIDE_INPUTS", hide));
            out.push(value_env("OPENINFERENCE_HIDE_OUTPUTS", hide));
        }
        InstrumentProvider::OpenLit => {
            out.push(value_env(
                "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT",
                capture,
            ));
            out.push(value_env("OPENLIT_DISABLE_METRICS", "true"));
            // Its price table from the layout, not fetched from GitHub at every start.
            out.push(value_env(
                "OPENLIT_PRICING_JSON",
                &format!("{MOUNT_PATH}/{OPENLIT_PRICING_FILE}"),
            ));
        }
    }
    out
}

/// What to add to one app container.
#[derive(Debug, Clone, PartialEq)]
pub struct ContainerAdditions {
    /// Index in `spec.containers`.
    pub index: usize,
    /// Variables to append (the container sets none of these names).
    pub env: Vec<EnvVar>,
    /// `(index in env, new value)` when the container sets `PYTHONPATH` itself.
    pub python_path: Option<(usize, String)>,
    /// The mount of the shared volume.
    pub mount: VolumeMount,
}

/// The whole plan for a pod.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The init container that copies the packages.
    pub init_container: Container,
    /// The shared volume.
    pub volume: Volume,
    /// Per app container.
    pub containers: Vec<ContainerAdditions>,
}

/// Plans the instrumentation of the pod's app containers (every container but the sidecar and
/// mesh or serving helpers). `None` when nothing is instrumented (the reason is in `warnings`
/// when the user should know it).
pub fn plan(
    spec: &PodSpec,
    annotations: &BTreeMap<String, String>,
    target: &Target,
    warnings: &mut Vec<String>,
) -> Option<Plan> {
    if !target.spec.is_enabled() {
        return None;
    }
    if annotations.get(AUTO_INSTRUMENT).map(|v| v.trim()) == Some("false") {
        return None;
    }
    if annotations
        .get(OTEL_OPERATOR_INJECT_PYTHON)
        .is_some_and(|v| v.trim() != "false")
    {
        warnings.push(format!(
            "agentlens: {OTEL_OPERATOR_INJECT_PYTHON} is set; leaving the Python instrumentation to the OpenTelemetry Operator"
        ));
        return None;
    }
    let taken = |name: &str| {
        spec.volumes.iter().flatten().any(|v| v.name == name)
            || spec
                .init_containers
                .iter()
                .flatten()
                .any(|c| c.name == name)
    };
    if taken(INIT_CONTAINER_NAME) {
        return None;
    }
    let mut containers = Vec::new();
    for (index, c) in spec.containers.iter().enumerate() {
        if c.name == CONTAINER_NAME || INFRA_CONTAINERS.contains(&c.name.as_str()) {
            continue;
        }
        if let Some(a) = container_additions(index, c, target, warnings) {
            containers.push(a);
        }
    }
    if containers.is_empty() {
        return None;
    }
    Some(Plan {
        init_container: init_container(target),
        volume: Volume {
            name: INIT_CONTAINER_NAME.into(),
            empty_dir: Some(EmptyDirVolumeSource {
                medium: None,
                size_limit: Some(Quantity(VOLUME_SIZE_LIMIT.into())),
            }),
            ..Volume::default()
        },
        containers,
    })
}

fn container_additions(
    index: usize,
    c: &Container,
    target: &Target,
    warnings: &mut Vec<String>,
) -> Option<ContainerAdditions> {
    if c.volume_mounts
        .iter()
        .flatten()
        .any(|m| m.mount_path.trim_end_matches('/') == MOUNT_PATH)
    {
        warnings.push(format!(
            "agentlens: container {} already mounts {MOUNT_PATH}; not instrumented",
            c.name
        ));
        return None;
    }
    let own = c.env.as_deref().unwrap_or_default();
    let own_python_path = match own.iter().position(|e| e.name == "PYTHONPATH") {
        Some(i) if own[i].value_from.is_some() => {
            warnings.push(format!(
                "agentlens: container {} takes PYTHONPATH from a reference; not instrumented",
                c.name
            ));
            return None;
        }
        Some(i) => Some((
            i,
            python_path(target.spec.provider, own[i].value.as_deref()),
        )),
        None => None,
    };
    let mut kept = Vec::new();
    let mut env: Vec<EnvVar> = env(target, &c.name)
        .into_iter()
        .filter(|e| {
            let set = own.iter().any(|o| o.name == e.name);
            if set && e.value_from.is_none() {
                kept.push(e.name.clone());
            }
            !set
        })
        .collect();
    if own_python_path.is_none() {
        env.insert(
            0,
            value_env("PYTHONPATH", &python_path(target.spec.provider, None)),
        );
    }
    if !kept.is_empty() {
        warnings.push(format!(
            "agentlens: container {} sets {} itself; its values are kept",
            c.name,
            kept.join(", ")
        ));
    }
    Some(ContainerAdditions {
        index,
        env,
        python_path: own_python_path,
        mount: VolumeMount {
            name: INIT_CONTAINER_NAME.into(),
            mount_path: MOUNT_PATH.into(),
            read_only: Some(true),
            ..VolumeMount::default()
        },
    })
}

fn init_container(target: &Target) -> Container {
    let q = |s: &str| Quantity(s.into());
    Container {
        name: INIT_CONTAINER_NAME.into(),
        image: Some(
            target
                .spec
                .image
                .clone()
                .unwrap_or_else(|| default_image(&target.sidecar_image, target.spec.provider)),
        ),
        args: Some(vec![
            COPY_TREE_SUBCOMMAND.into(),
            IMAGE_SOURCE_DIR.into(),
            MOUNT_PATH.into(),
        ]),
        volume_mounts: Some(vec![VolumeMount {
            name: INIT_CONTAINER_NAME.into(),
            mount_path: MOUNT_PATH.into(),
            ..VolumeMount::default()
        }]),
        resources: Some(ResourceRequirements {
            requests: Some(BTreeMap::from([
                ("cpu".into(), q("10m")),
                ("memory".into(), q("32Mi")),
            ])),
            limits: Some(BTreeMap::from([
                ("cpu".into(), q("500m")),
                ("memory".into(), q("128Mi")),
            ])),
            ..ResourceRequirements::default()
        }),
        security_context: Some(restricted(target.run_as_user)),
        termination_message_policy: Some("FallbackToLogsOnError".into()),
        ..Container::default()
    }
}

#[cfg(test)]
mod tests;
