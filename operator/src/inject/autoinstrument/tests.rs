use agentlens_crds::autoinstrument::InstrumentLanguage;
use k8s_openapi::api::core::v1::Pod;

use super::*;

fn target(provider: InstrumentProvider, capture: bool) -> Target {
    Target {
        agentdeployment: "support-desk".into(),
        agent: "planner".into(),
        containers: BTreeMap::from([("critic".to_string(), "reviewer".to_string())]),
        namespace: "agents".into(),
        spec: AutoInstrumentSpec {
            enabled: None,
            language: InstrumentLanguage::Python,
            provider,
            image: None,
        },
        capture_content: capture,
        run_as_user: 10001,
        sidecar_image: "registry.example/agentlens/agentlens-sidecar:0.3.1".into(),
    }
}

fn pod(json: serde_json::Value) -> (PodSpec, BTreeMap<String, String>) {
    let pod: Pod = serde_json::from_value(json).unwrap();
    (
        pod.spec.unwrap(),
        pod.metadata.annotations.unwrap_or_default(),
    )
}

fn value<'a>(env: &'a [EnvVar], name: &str) -> Option<&'a str> {
    env.iter()
        .find(|e| e.name == name)
        .and_then(|e| e.value.as_deref())
}

#[test]
fn python_path_puts_the_bootstrap_first_and_the_packages_last() {
    let cases = [
        (
            InstrumentProvider::OpenTelemetry,
            None,
            "/otel-auto-instrumentation-python/opentelemetry/instrumentation/auto_instrumentation:/otel-auto-instrumentation-python",
        ),
        (
            InstrumentProvider::OpenInference,
            Some(""),
            "/otel-auto-instrumentation-python/opentelemetry/instrumentation/auto_instrumentation:/otel-auto-instrumentation-python",
        ),
        (
            InstrumentProvider::OpenLit,
            Some("/app/src:/app/vendor"),
            "/otel-auto-instrumentation-python/openlit/cli/bootstrap:/app/src:/app/vendor:/otel-auto-instrumentation-python",
        ),
    ];
    for (provider, existing, want) in cases {
        assert_eq!(python_path(provider, existing), want, "{provider:?}");
    }
}

#[test]
fn content_capture_follows_capture_content_in_each_providers_own_variable() {
    let cases = [
        (
            InstrumentProvider::OpenTelemetry,
            false,
            "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT",
            "NO_CONTENT",
        ),
        (
            InstrumentProvider::OpenTelemetry,
            true,
            "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT",
            "SPAN_ONLY",
        ),
        (
            InstrumentProvider::OpenInference,
            false,
            "OPENINFERENCE_HIDE_INPUTS",
            "true",
        ),
        (
            InstrumentProvider::OpenInference,
            true,
            "OPENINFERENCE_HIDE_OUTPUTS",
            "false",
        ),
        (
            InstrumentProvider::OpenLit,
            false,
            "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT",
            "false",
        ),
    ];
    for (provider, capture, name, want) in cases {
        let env = env(&target(provider, capture), "agent");
        assert_eq!(value(&env, name), Some(want), "{provider:?} {capture}");
    }
}

#[test]
fn the_resource_names_pod_namespace_container_and_agent() {
    let env = env(&target(InstrumentProvider::OpenTelemetry, false), "agent");
    let at = |name: &str| env.iter().position(|e| e.name == name).unwrap();
    // Kubernetes expands $(VAR) only for variables defined earlier in the list.
    assert!(at(POD_NAME_ENV) < at("OTEL_RESOURCE_ATTRIBUTES"));
    assert!(at(NODE_NAME_ENV) < at("OTEL_RESOURCE_ATTRIBUTES"));
    assert_eq!(
        value(&env, "OTEL_RESOURCE_ATTRIBUTES"),
        Some(
            format!(
                "k8s.pod.name=$({POD_NAME_ENV}),k8s.namespace.name=agents,k8s.container.name=agent,\
                 k8s.node.name=$({NODE_NAME_ENV}),{AGENTDEPLOYMENT_ATTRIBUTE}=support-desk,{AGENT_ATTRIBUTE}=planner"
            )
            .as_str()
        )
    );
    assert_eq!(value(&env, "OTEL_SERVICE_NAME"), Some("planner"));
    // A container an agent names (`agents[].container`) is that agent's.
    let critic = super::env(&target(InstrumentProvider::OpenTelemetry, false), "critic");
    assert_eq!(value(&critic, "OTEL_SERVICE_NAME"), Some("reviewer"));
    assert!(
        value(&critic, "OTEL_RESOURCE_ATTRIBUTES")
            .unwrap()
            .ends_with(&format!("k8s.container.name=critic,k8s.node.name=$({NODE_NAME_ENV}),{AGENTDEPLOYMENT_ATTRIBUTE}=support-desk,{AGENT_ATTRIBUTE}=reviewer"))
    );
    assert_eq!(
        value(&env, "OTEL_EXPORTER_OTLP_ENDPOINT"),
        Some(format!("http://127.0.0.1:{OTLP_PORT}").as_str())
    );
    assert_eq!(
        value(&env, "OTEL_EXPORTER_OTLP_PROTOCOL"),
        Some("http/protobuf")
    );
}

#[test]
fn the_pods_own_settings_win_and_are_reported() {
    let (spec, ann) = pod(serde_json::json!({
        "metadata": {"name": "p"},
        "spec": {"containers": [{
            "name": "agent",
            "image": "python:3.11",
            "env": [
                {"name": "PYTHONPATH", "value": "/app"},
                {"name": "OTEL_EXPORTER_OTLP_ENDPOINT", "value": "http://collector:4318"},
                {"name": "OTEL_SERVICE_NAME", "value": "my-agent"}
            ]
        }]}
    }));
    let mut warnings = Vec::new();
    let plan = plan(
        &spec,
        &ann,
        &target(InstrumentProvider::OpenTelemetry, false),
        &mut warnings,
    )
    .unwrap();
    let c = &plan.containers[0];
    assert_eq!(
        c.python_path,
        Some((
            0,
            python_path(InstrumentProvider::OpenTelemetry, Some("/app"))
        ))
    );
    for kept in [
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_SERVICE_NAME",
        "PYTHONPATH",
    ] {
        assert!(c.env.iter().all(|e| e.name != kept), "{kept} added again");
    }
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_SERVICE_NAME"));
}

#[test]
fn which_pods_and_containers_are_instrumented() {
    let app = serde_json::json!({"name": "agent", "image": "python:3.11"});
    let mesh = serde_json::json!({"name": "istio-proxy", "image": "istio/proxyv2"});
    let mounted = serde_json::json!({"name": "agent", "image": "python:3.11",
        "volumeMounts": [{"name": "x", "mountPath": "/otel-auto-instrumentation-python/"}]});
    let from_ref = serde_json::json!({"name": "agent", "image": "python:3.11",
        "env": [{"name": "PYTHONPATH", "valueFrom": {"configMapKeyRef": {"name": "c", "key": "k"}}}]});
    let disabled = Target {
        spec: AutoInstrumentSpec {
            enabled: Some(false),
            ..AutoInstrumentSpec::default()
        },
        ..target(InstrumentProvider::OpenLit, false)
    };
    let on = target(InstrumentProvider::OpenLit, false);
    // (case, annotations, containers, target, instrumented container indexes, warnings)
    let cases = [
        (
            "plain_python_agent",
            serde_json::json!({}),
            vec![app.clone()],
            &on,
            vec![0],
            0,
        ),
        (
            "istio_mesh_pod",
            serde_json::json!({}),
            vec![mesh.clone(), app.clone()],
            &on,
            vec![1],
            0,
        ),
        (
            "only_a_mesh_proxy",
            serde_json::json!({}),
            vec![mesh],
            &on,
            vec![],
            0,
        ),
        (
            "opted_out_by_annotation",
            serde_json::json!({AUTO_INSTRUMENT: "false"}),
            vec![app.clone()],
            &on,
            vec![],
            0,
        ),
        (
            "otel_operator_instruments_it",
            serde_json::json!({OTEL_OPERATOR_INJECT_PYTHON: "true"}),
            vec![app.clone()],
            &on,
            vec![],
            1,
        ),
        (
            "disabled_for_the_agent",
            serde_json::json!({}),
            vec![app.clone()],
            &disabled,
            vec![],
            0,
        ),
        (
            "mount_path_taken",
            serde_json::json!({}),
            vec![mounted],
            &on,
            vec![],
            1,
        ),
        (
            "pythonpath_from_a_configmap",
            serde_json::json!({}),
            vec![from_ref],
            &on,
            vec![],
            1,
        ),
    ];
    for (case, annotations, containers, target, want, want_warnings) in cases {
        let (spec, ann) = pod(serde_json::json!({
            "metadata": {"name": "p", "annotations": annotations},
            "spec": {"containers": containers}
        }));
        let mut warnings = Vec::new();
        let got: Vec<usize> = plan(&spec, &ann, target, &mut warnings)
            .map(|p| p.containers.iter().map(|c| c.index).collect())
            .unwrap_or_default();
        assert_eq!(got, want, "{case}");
        assert_eq!(warnings.len(), want_warnings, "{case}: {warnings:?}");
    }
}

#[test]
fn the_init_container_copies_the_image_layout_with_the_sidecar_binary() {
    let (spec, ann) = pod(serde_json::json!({
        "metadata": {"name": "p"},
        "spec": {"containers": [{"name": "agent", "image": "python:3.11"}]}
    }));
    for provider in InstrumentProvider::ALL {
        let plan = plan(&spec, &ann, &target(provider, false), &mut Vec::new()).unwrap();
        let c = &plan.init_container;
        assert_eq!(
            c.image.as_deref(),
            Some(
                format!(
                    "registry.example/agentlens/agentlens-autoinstrument-{}:0.3.1",
                    provider.as_str()
                )
                .as_str()
            )
        );
        assert_eq!(
            c.args.as_deref(),
            Some(
                &[
                    COPY_TREE_SUBCOMMAND.to_string(),
                    IMAGE_SOURCE_DIR.into(),
                    MOUNT_PATH.into()
                ][..]
            )
        );
        assert_eq!(c.volume_mounts.as_ref().unwrap()[0].name, plan.volume.name);
        assert_eq!(plan.containers[0].mount.read_only, Some(true));
    }
    let custom = Target {
        spec: AutoInstrumentSpec {
            image: Some("registry.local/otel-python:1".into()),
            ..AutoInstrumentSpec::default()
        },
        ..target(InstrumentProvider::OpenTelemetry, false)
    };
    let plan = plan(&spec, &ann, &custom, &mut Vec::new()).unwrap();
    assert_eq!(
        plan.init_container.image.as_deref(),
        Some("registry.local/otel-python:1")
    );
}

#[test]
fn the_default_image_sits_beside_the_sidecars() {
    let v = env!("CARGO_PKG_VERSION");
    let cases = [
        (
            "ghcr.io/agentlens/agentlens-sidecar:0.1.0",
            "ghcr.io/agentlens/agentlens-autoinstrument-openlit:0.1.0".to_string(),
        ),
        (
            "localhost:5000/agentlens-sidecar:dev",
            "localhost:5000/agentlens-autoinstrument-openlit:dev".to_string(),
        ),
        (
            "ghcr.io/agentlens/agentlens-sidecar@sha256:0123",
            format!("ghcr.io/agentlens/agentlens-autoinstrument-openlit:{v}"),
        ),
        (
            "mirror.local/sidecar:1",
            format!("ghcr.io/agentlens/agentlens-autoinstrument-openlit:{v}"),
        ),
    ];
    for (sidecar, want) in cases {
        assert_eq!(
            default_image(sidecar, InstrumentProvider::OpenLit),
            want,
            "{sidecar}"
        );
    }
}
