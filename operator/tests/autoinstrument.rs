//! Zero-code instrumentation, proven without containers. Two uninstrumented Python agents (the
//! plain `openai` client; the planner asks the researcher over HTTP, a Flask app) talk to an OpenAI-compatible
//! stub with known `usage`, each run with exactly what the webhook gives its container: the
//! patched pod's environment (downward-API values and `$(VAR)` references resolved as the
//! kubelet does) and the shared volume filled by running the init container's own arguments with
//! the real `agentlens-sidecar copy-tree` from the provider's built layout (`make tools`,
//! `scripts/autoinstrument-layout.sh`). Two mappings stand in for the pod: the volume's mount path
//! becomes a local directory, and the OTLP port the sidecar's free loopback port. The spans go to
//! a real `agentlens-sidecar run --otlp-listen`, whose `agentlens_genai_tokens_total` must equal
//! the stub's usage for each model, for each of the three providers; with `opentelemetry` and
//! `openlit`, whose layouts carry the HTTP client and server instrumentations (OpenInference's
//! does not), the planner's HTTP call to the researcher (urllib to Flask) must also be the
//! planner → researcher edge of the sidecar's agent graph.
//!
//! Also here: the patched pods pass `kubernetes-validate --strict`, the pod's own `PYTHONPATH`
//! and `OTEL_EXPORTER_OTLP_ENDPOINT` are kept, an agent's own setting replaces the system's, and
//! admitting a patched pod again changes nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod autoinstrument_local;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use agentlens_crds::autoinstrument::InstrumentProvider;
use agentlens_operator::inject::autoinstrument::python_path;
use agentlens_operator::inject::{Decision, InjectConfig, decide};
use agentlens_tests::tools::{Tool, kubernetes_validate, python_tool};
use autoinstrument_local::*;
use serde_json::{Value, json};

/// Token series: (model, kind) → tokens.
type Tokens = BTreeMap<(String, String), u64>;

/// One provider end to end; returns the token series the sidecar counted and its agent edges
/// (from, to, calls).
fn run_provider(
    t: &Tools,
    provider: InstrumentProvider,
    layout: &Path,
) -> (Tokens, Vec<(String, String, u64)>) {
    let dir = tempfile::tempdir().unwrap();
    let ad = agentdeployment(provider, None);
    let started = start_sidecar_and_stub(t, dir.path(), None);
    let (api, otlp, stub) = (started.api, started.otlp, started.stub);
    let app_env = |model: &str| {
        vec![
            ("OPENAI_BASE_URL", format!("http://127.0.0.1:{stub}/v1")),
            ("OPENAI_API_KEY", "stub-key".to_string()),
            ("MODEL", model.to_string()),
        ]
    };

    // The researcher's pod, admitted; its init container fills the volume both agents use here.
    let researcher_pod = pod("researcher", &app_env("gpt-4o-mini"));
    let (patched, _) = admit(&researcher_pod, &ad);
    let volume = dir.path().join("otel-auto-instrumentation-python");
    run_init_container(
        &t.sidecar,
        &init_container(&patched).unwrap(),
        layout,
        &volume,
    );
    let env = process_env(
        &app_container(&patched),
        "researcher-6d4b9c7f5-x2k8q",
        &volume,
        otlp,
    );
    let researcher_port_file = dir.path().join("researcher.port");
    let mut researcher = Reaped(
        spawn_agent(&t.python, "researcher.py", &env, &[&researcher_port_file])
            .spawn()
            .unwrap(),
    );
    let researcher_port = wait_for("the researcher", Duration::from_secs(60), || {
        read_port(&researcher_port_file)
    });

    let mut planner_env = app_env("gpt-4o");
    planner_env.push((
        "RESEARCHER_URL",
        format!("http://127.0.0.1:{researcher_port}/ask"),
    ));
    let (patched, _) = admit(&pod("planner", &planner_env), &ad);
    let env = process_env(
        &app_container(&patched),
        "planner-6d4b9c7f5-x2k8q",
        &volume,
        otlp,
    );
    let out = spawn_agent::<&str>(&t.python, "planner.py", &env, &[])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{provider:?} planner: {}\nthe researcher then: {:?}",
        String::from_utf8_lossy(&out.stderr),
        researcher.0.try_wait()
    );
    let status = researcher.0.wait().unwrap();
    assert!(status.success(), "{provider:?} researcher: {status}");

    let usage = stub_usage(&t.python);
    let want: BTreeMap<(String, String), u64> = usage
        .values()
        .flat_map(|(model, input, output)| {
            [
                ((model.clone(), "input".to_string()), *input),
                ((model.clone(), "output".to_string()), *output),
            ]
        })
        .collect();
    // The agents have exited (their SDKs flush at exit); the receiver hands spans to its owner
    // asynchronously, so wait until the counts stop being short.
    let mut last = BTreeMap::new();
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(30) {
        last = token_series(&get(api, "/metrics").unwrap_or_default());
        if last.len() >= want.len() && want.iter().all(|(k, v)| last.get(k) >= Some(v)) {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        last, want,
        "{provider:?}: tokens counted vs the stub's usage"
    );
    // The planner's HTTP call to the researcher: a CLIENT span (urllib) and the SERVER span
    // under it (Flask), from two agents, make the planner → researcher edge, where the layout
    // carries the HTTP instrumentations.
    let edges = || -> Option<Vec<(String, String, u64)>> {
        let s: Value = serde_json::from_str(&get(api, "/v1/snapshot")?).ok()?;
        Some(
            s["agentGraph"]
                .as_array()?
                .iter()
                .map(|e| {
                    (
                        e["from"].as_str().unwrap_or_default().to_string(),
                        e["to"].as_str().unwrap_or_default().to_string(),
                        e["calls"].as_u64().unwrap_or_default(),
                    )
                })
                .collect(),
        )
    };
    let edges = if http_edge(provider) {
        wait_for(
            "the planner → researcher edge",
            Duration::from_secs(10),
            || edges().filter(|e| !e.is_empty()),
        )
    } else {
        edges().unwrap_or_default()
    };
    if http_edge(provider) {
        assert_eq!(
            edges,
            [("planner".to_string(), "researcher".to_string(), 1)],
            "{provider:?}: the agent graph"
        );
    }
    (last, edges)
}

/// Whether the provider's layout instruments HTTP clients and servers (so its spans carry the
/// agent edge of a plain HTTP hand-off).
fn http_edge(provider: InstrumentProvider) -> bool {
    matches!(
        provider,
        InstrumentProvider::OpenTelemetry | InstrumentProvider::OpenLit
    )
}

#[test]
fn uninstrumented_agents_send_their_tokens_with_each_provider() {
    let Some(t) = tools() else { return };
    for provider in InstrumentProvider::ALL {
        let Some(layout) = layout(provider) else {
            return;
        };
        let start = Instant::now();
        let (tokens, edges) = run_provider(&t, provider, &layout);
        eprintln!(
            "{}: {tokens:?}, agent edges {edges:?} in {:.1} s",
            provider.as_str(),
            start.elapsed().as_secs_f64()
        );
    }
}

#[test]
fn the_pods_own_settings_are_kept() {
    let ad = agentdeployment(InstrumentProvider::OpenTelemetry, None);
    let mut own = pod("planner", &[]);
    own["spec"]["containers"][0]["env"] = json!([
        {"name": "PYTHONPATH", "value": "/app/lib"},
        {"name": "OTEL_EXPORTER_OTLP_ENDPOINT", "value": "http://collector.observability:4318"}
    ]);
    let (patched, warnings) = admit(&own, &ad);
    let c = app_container(&patched);
    let env: BTreeMap<String, Option<String>> = c
        .env
        .iter()
        .flatten()
        .map(|e| (e.name.clone(), e.value.clone()))
        .collect();
    assert_eq!(
        env["PYTHONPATH"].as_deref(),
        Some(python_path(InstrumentProvider::OpenTelemetry, Some("/app/lib")).as_str())
    );
    assert_eq!(
        env["OTEL_EXPORTER_OTLP_ENDPOINT"].as_deref(),
        Some("http://collector.observability:4318")
    );
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("OTEL_EXPORTER_OTLP_ENDPOINT")),
        "{warnings:?}"
    );
    assert_eq!(
        c.env
            .iter()
            .flatten()
            .filter(|e| e.name == "OTEL_EXPORTER_OTLP_ENDPOINT")
            .count(),
        1
    );
}

#[test]
fn an_agents_own_setting_replaces_the_systems() {
    let ad = agentdeployment(InstrumentProvider::OpenLit, Some(json!({"enabled": false})));
    let (planner, _) = admit(&pod("planner", &[]), &ad);
    let (researcher, _) = admit(&pod("researcher", &[]), &ad);
    assert!(init_container(&planner).is_some());
    assert!(init_container(&researcher).is_none());
    assert!(
        app_container(&researcher)
            .env
            .unwrap_or_default()
            .is_empty()
    );
    let service = app_container(&planner)
        .env
        .unwrap()
        .into_iter()
        .find(|e| e.name == "OTEL_SERVICE_NAME")
        .and_then(|e| e.value);
    assert_eq!(service.as_deref(), Some("planner"));

    let other = agentdeployment(
        InstrumentProvider::OpenLit,
        Some(json!({"provider": "openinference", "image": "registry.local/oi:1"})),
    );
    let (researcher, _) = admit(&pod("researcher", &[]), &other);
    let init = init_container(&researcher).unwrap();
    assert_eq!(init.image.as_deref(), Some("registry.local/oi:1"));
    assert_eq!(
        app_container(&researcher)
            .env
            .unwrap()
            .into_iter()
            .find(|e| e.name == "PYTHONPATH")
            .and_then(|e| e.value),
        Some(python_path(InstrumentProvider::OpenInference, None))
    );
}

#[test]
fn patched_pods_are_valid_and_a_second_admission_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for provider in InstrumentProvider::ALL {
        let ad = agentdeployment(provider, None);
        for agent in ["planner", "researcher"] {
            let (patched, _) = admit(&pod(agent, &[("MODEL", "gpt-4o".into())]), &ad);
            let again = decide(
                &patched,
                NAMESPACE,
                std::slice::from_ref(&ad),
                &InjectConfig::default(),
            )
            .unwrap();
            assert!(matches!(again, Decision::Skip(_)), "{again:?}");
            let file = dir
                .path()
                .join(format!("{}-{agent}.json", provider.as_str()));
            std::fs::write(&file, serde_json::to_vec_pretty(&patched).unwrap()).unwrap();
            files.push(file);
        }
    }
    let bin = match python_tool("kubernetes-validate") {
        Tool::Found(b) => b,
        Tool::Skip(why) => {
            eprintln!("skipped kubernetes-validate: {why}");
            return;
        }
    };
    for version in ["1.29.0", "1.32.0"] {
        let v = kubernetes_validate(&bin, version, &files);
        assert!(v.ok, "kubernetes-validate {version}:\n{}", v.report);
        assert_eq!(v.passed, files.len(), "{}", v.report);
    }
}
