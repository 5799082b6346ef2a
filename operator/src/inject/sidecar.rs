//! The container the webhook injects.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Capabilities, Container, ContainerPort, EnvVar, EnvVarSource, ObjectFieldSelector,
    ResourceRequirements, SeccompProfile, SecurityContext,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

/// Name of the injected container.
pub const CONTAINER_NAME: &str = agentlens_crds::snapshot::SIDECAR_CONTAINER_NAME;
/// The sidecar's metrics/API port.
pub const PORT: i32 = 9477;
/// Name of [`PORT`] on the container: the port the chart's PodMonitor scrapes.
pub const PORT_NAME: &str = "agentlens";
/// The sidecar's environment variable holding the SHA-256 (hex) of the token `/v1/*` requires
/// (the sidecar reads it as `--api-token-sha256`).
pub const TOKEN_SHA256_ENV: &str = "AGENTLENS_API_TOKEN_SHA256";
/// Default port of the latency proxy.
pub const PROXY_PORT: i32 = 15080;
/// Port of the OTLP/HTTP receiver.
pub const OTLP_PORT: i32 = 4318;

/// The latency proxy's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyParams {
    /// Port the proxy listens on (named `agentlens-proxy`; point the Service's targetPort here).
    pub listen_port: i32,
    /// The agent's port on loopback.
    pub target_port: i32,
    /// Route templates.
    pub routes: Vec<String>,
    /// The container declaring the target port (names it in the latency alert).
    pub container: Option<String>,
}

/// UID the sidecar runs as when the app's UID is unknown or root.
pub const DEFAULT_UID: i64 = 65532;

/// What varies per pod.
#[derive(Debug, Clone, PartialEq)]
pub struct SidecarParams {
    /// Image of the sidecar.
    pub image: String,
    /// Whether it is a native sidecar (init container with `restartPolicy: Always`).
    pub native: bool,
    /// The AgentDeployment, when one selected the pod.
    pub agent: Option<String>,
    /// Resources.
    pub resources: ResourceRequirements,
    /// UID to run as.
    pub run_as_user: i64,
    /// Whether the pod requests GPUs (then the sidecar gets NVML access).
    pub gpu: bool,
    /// Log files to follow.
    pub log_files: Vec<String>,
    /// The latency proxy, when `spec.sidecar.proxy` is set.
    pub proxy: Option<ProxyParams>,
    /// The OTLP receiver, when `spec.sidecar.otlp.enabled`.
    pub otlp: bool,
    /// Keep redacted prompt text (`spec.sidecar.captureContent`).
    pub capture_content: bool,
    /// Model artifact paths to fingerprint.
    pub model_paths: Vec<String>,
    /// SHA-256 (hex) of the token `/v1/*` requires (`AGENTLENS_API_TOKEN_SHA256`).
    pub api_token_sha256: Option<String>,
}

/// A variable from the downward API (`fieldRef`).
pub(crate) fn field_env(name: &str, path: &str) -> EnvVar {
    EnvVar {
        name: name.into(),
        value_from: Some(EnvVarSource {
            field_ref: Some(ObjectFieldSelector {
                field_path: path.into(),
                api_version: Some("v1".into()),
            }),
            ..EnvVarSource::default()
        }),
        value: None,
    }
}

/// A variable with a literal value.
pub(crate) fn value_env(name: &str, value: &str) -> EnvVar {
    EnvVar {
        name: name.into(),
        value: Some(value.into()),
        value_from: None,
    }
}

/// The default resources: requests 10m CPU / 32Mi, limits 200m / 64Mi.
pub fn default_resources() -> ResourceRequirements {
    let q = |s: &str| Quantity(s.to_string());
    ResourceRequirements {
        requests: Some(BTreeMap::from([
            ("cpu".into(), q("10m")),
            ("memory".into(), q("32Mi")),
        ])),
        limits: Some(BTreeMap::from([
            ("cpu".into(), q("200m")),
            ("memory".into(), q("64Mi")),
        ])),
        ..ResourceRequirements::default()
    }
}

/// The restricted Pod Security profile's container settings, as UID `uid`, read-only root.
pub(crate) fn restricted(uid: i64) -> SecurityContext {
    SecurityContext {
        run_as_non_root: Some(true),
        run_as_user: Some(uid),
        read_only_root_filesystem: Some(true),
        allow_privilege_escalation: Some(false),
        capabilities: Some(Capabilities {
            drop: Some(vec!["ALL".into()]),
            add: None,
        }),
        seccomp_profile: Some(SeccompProfile {
            type_: "RuntimeDefault".into(),
            localhost_profile: None,
        }),
        ..SecurityContext::default()
    }
}

/// The container.
pub fn container(p: &SidecarParams) -> Container {
    let mut env = vec![
        field_env("POD_NAME", "metadata.name"),
        field_env("POD_NAMESPACE", "metadata.namespace"),
        field_env("NODE_NAME", "spec.nodeName"),
        value_env("AGENTLENS_AGENT", p.agent.as_deref().unwrap_or("")),
        value_env("AGENTLENS_LISTEN", &format!("0.0.0.0:{PORT}")),
    ];
    if !p.log_files.is_empty() {
        env.push(value_env("AGENTLENS_LOG_FILES", &p.log_files.join(",")));
    }
    let mut ports = vec![ContainerPort {
        name: Some(PORT_NAME.into()),
        container_port: PORT,
        protocol: Some("TCP".into()),
        ..ContainerPort::default()
    }];
    if let Some(proxy) = &p.proxy {
        env.push(value_env(
            "AGENTLENS_PROXY_LISTEN",
            &format!("0.0.0.0:{}", proxy.listen_port),
        ));
        // The pod shares one network namespace: the agent is on loopback.
        env.push(value_env(
            "AGENTLENS_PROXY_UPSTREAM",
            &format!("127.0.0.1:{}", proxy.target_port),
        ));
        if !proxy.routes.is_empty() {
            env.push(value_env("AGENTLENS_PROXY_ROUTES", &proxy.routes.join(",")));
        }
        if let Some(c) = &proxy.container {
            env.push(value_env("AGENTLENS_PROXY_CONTAINER", c));
        }
        ports.push(ContainerPort {
            name: Some("agentlens-proxy".into()),
            container_port: proxy.listen_port,
            protocol: Some("TCP".into()),
            ..ContainerPort::default()
        });
    }
    if p.otlp {
        env.push(value_env(
            "AGENTLENS_OTLP_LISTEN",
            &format!("0.0.0.0:{OTLP_PORT}"),
        ));
        ports.push(ContainerPort {
            name: Some("otlp-http".into()),
            container_port: OTLP_PORT,
            protocol: Some("TCP".into()),
            ..ContainerPort::default()
        });
    }
    if !p.model_paths.is_empty() {
        env.push(value_env("AGENTLENS_MODEL_PATHS", &p.model_paths.join(",")));
    }
    if p.capture_content {
        env.push(value_env("AGENTLENS_CAPTURE_CONTENT", "true"));
    }
    if let Some(hash) = &p.api_token_sha256 {
        env.push(value_env(TOKEN_SHA256_ENV, hash));
    }
    if p.gpu {
        // NVML needs the driver's utility libraries and the device nodes; the sidecar then
        // narrows to the GPUs the app processes were given (their NVIDIA_VISIBLE_DEVICES).
        env.push(value_env("NVIDIA_VISIBLE_DEVICES", "all"));
        env.push(value_env("NVIDIA_DRIVER_CAPABILITIES", "utility"));
    }
    Container {
        name: CONTAINER_NAME.into(),
        image: Some(p.image.clone()),
        args: Some(vec!["serve".into()]),
        env: Some(env),
        ports: Some(ports),
        // No readiness probe: a native sidecar's readiness counts in the pod's, and the
        // sidecar must never be the reason an agent pod is not ready.
        readiness_probe: None,
        resources: Some(p.resources.clone()),
        restart_policy: p.native.then(|| "Always".to_string()),
        security_context: Some(restricted(p.run_as_user)),
        termination_message_policy: Some("FallbackToLogsOnError".into()),
        ..Container::default()
    }
}
