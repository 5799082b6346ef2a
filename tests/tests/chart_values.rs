//! The chart's values users expect, rendered with the real helm v4: the webhook certificate
//! modes (`webhook.certificate.mode`), renders that are byte-identical every time (what Argo CD
//! and Flux need to show no diff), the ServiceAccount, extra args and env, security contexts
//! (OpenShift unsets the UIDs), topology spread, component labels and the PDB.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use agentlens_tests::tools::{helm, helm_template};
use agentlens_tests::workspace_root;
use serde_json::{Value, json};

const NS: &str = "agentlens-system";

fn helm_bin() -> Option<PathBuf> {
    helm().or_skip()
}

/// helm's raw stdout, or its error.
fn raw(bin: &Path, extra: &[&str]) -> Result<String, String> {
    let out = Command::new(bin)
        .args(["template", "agentlens", "charts/agentlens", "-n", NS])
        .args(extra)
        .current_dir(workspace_root())
        .output()
        .unwrap();
    if out.status.success() {
        Ok(String::from_utf8(out.stdout).unwrap())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

fn find<'a>(docs: &'a [Value], kind: &str, name: &str) -> &'a Value {
    docs.iter()
        .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name}"))
}

fn operator_pod(docs: &[Value]) -> &Value {
    &find(docs, "Deployment", "agentlens-operator")["spec"]["template"]["spec"]
}

fn args(docs: &[Value]) -> Vec<String> {
    operator_pod(docs)["containers"][0]["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .collect()
}

const OWN_SECRET: [&str; 6] = [
    "--set",
    "webhook.certificate.mode=secret",
    "--set",
    "webhook.certificate.secretName=webhook-serving",
    "--set",
    "webhook.certificate.caBundle=Q0EgYnVuZGxl",
];

/// Every mode, and everything on (monitoring kinds served).
fn value_sets() -> Vec<(&'static str, Vec<&'static str>)> {
    vec![
        ("operator (default)", vec![]),
        (
            "certManager",
            vec!["--set", "webhook.certificate.mode=certManager"],
        ),
        ("secret", OWN_SECRET.to_vec()),
        (
            "everything-on",
            vec![
                "-f",
                "charts/agentlens/ci/everything-on-values.yaml",
                "--api-versions",
                "monitoring.coreos.com/v1/PodMonitor",
                "--api-versions",
                "monitoring.coreos.com/v1/ServiceMonitor",
                "--api-versions",
                "monitoring.coreos.com/v1/PrometheusRule",
            ],
        ),
    ]
}

#[test]
fn two_renders_are_byte_identical_in_every_mode() {
    let Some(bin) = helm_bin() else { return };
    for (name, extra) in value_sets() {
        let first = raw(&bin, &extra).unwrap();
        let second = raw(&bin, &extra).unwrap();
        assert!(first.len() > 1000, "{name}");
        assert!(first == second, "{name}: two renders differ");
    }
}

#[test]
fn each_certificate_mode_wires_the_webhook_to_its_certificate() {
    let Some(bin) = helm_bin() else { return };
    let ca_bundle = |docs: &[Value]| {
        find(docs, "MutatingWebhookConfiguration", "agentlens")["webhooks"][0]["clientConfig"]
            ["caBundle"]
            .clone()
    };
    let volume = |docs: &[Value]| operator_pod(docs)["volumes"][0]["secret"]["secretName"].clone();

    // operator: nothing generated, no Secret, no caBundle, no mounted files; the operator is
    // told which Secret, configuration and Service.
    let docs = helm_template(&bin, NS, &[]);
    assert!(!docs.iter().any(|d| d["kind"] == "Secret"));
    assert!(ca_bundle(&docs).is_null());
    assert!(operator_pod(&docs)["volumes"].is_null());
    let a = args(&docs);
    assert!(
        a.contains(&"--webhook-cert-secret=agentlens-webhook-tls".to_string()),
        "{a:?}"
    );
    assert!(
        a.contains(&"--webhook-cert-validity=8760h".to_string()),
        "{a:?}"
    );
    assert!(!a.iter().any(|x| x.starts_with("--tls-cert")), "{a:?}");
    let docs = helm_template(&bin, NS, &["--set", "webhook.certificate.validity=720h"]);
    assert!(args(&docs).contains(&"--webhook-cert-validity=720h".to_string()));

    // certManager: cert-manager's Certificate writes the mounted Secret and injects the CA.
    let docs = helm_template(&bin, NS, &["--set", "webhook.certificate.mode=certManager"]);
    assert!(ca_bundle(&docs).is_null());
    let cert = find(&docs, "Certificate", "agentlens-webhook");
    assert_eq!(cert["spec"]["secretName"], volume(&docs));
    let config = find(&docs, "MutatingWebhookConfiguration", "agentlens");
    assert_eq!(
        config["metadata"]["annotations"]["cert-manager.io/inject-ca-from"],
        format!("{NS}/agentlens-webhook")
    );
    assert!(
        cert["spec"]["dnsNames"]
            .as_array()
            .unwrap()
            .contains(&json!(format!("agentlens-webhook.{NS}.svc")))
    );
    assert!(args(&docs).contains(&"--tls-cert=/tls/tls.crt".to_string()));
    assert!(
        !args(&docs)
            .iter()
            .any(|x| x.starts_with("--webhook-cert-secret"))
    );

    // secret: the user's Secret is mounted and their CA is the bundle; nothing else issued.
    let docs = helm_template(&bin, NS, &OWN_SECRET);
    assert_eq!(ca_bundle(&docs), "Q0EgYnVuZGxl");
    assert_eq!(volume(&docs), "webhook-serving");
    assert!(
        !docs
            .iter()
            .any(|d| d["kind"] == "Secret" || d["kind"] == "Certificate")
    );
    // ...and both are required.
    let err = raw(&bin, &["--set", "webhook.certificate.mode=secret"]).unwrap_err();
    assert!(
        err.contains("secretName") && err.contains("caBundle"),
        "{err}"
    );
}

#[test]
fn the_service_account_can_be_renamed_annotated_or_brought() {
    let Some(bin) = helm_bin() else { return };
    let docs = helm_template(
        &bin,
        NS,
        &[
            "--set",
            "serviceAccount.name=platform-agentlens",
            "--set",
            "serviceAccount.annotations.eks\\.amazonaws\\.com/role-arn=arn:aws:iam::1:role/x",
        ],
    );
    let sa = find(&docs, "ServiceAccount", "platform-agentlens");
    assert_eq!(
        sa["metadata"]["annotations"]["eks.amazonaws.com/role-arn"],
        "arn:aws:iam::1:role/x"
    );
    assert_eq!(
        operator_pod(&docs)["serviceAccountName"],
        "platform-agentlens"
    );
    let bindings: Vec<&Value> = docs
        .iter()
        .filter(|d| d["kind"] == "RoleBinding" || d["kind"] == "ClusterRoleBinding")
        .collect();
    assert!(!bindings.is_empty());
    for b in bindings {
        assert_eq!(b["subjects"][0]["name"], "platform-agentlens", "{b}");
    }

    let docs = helm_template(
        &bin,
        NS,
        &[
            "--set",
            "serviceAccount.create=false",
            "--set",
            "serviceAccount.name=existing",
        ],
    );
    assert!(!docs.iter().any(|d| d["kind"] == "ServiceAccount"));
    assert_eq!(operator_pod(&docs)["serviceAccountName"], "existing");
    let err = raw(&bin, &["--set", "serviceAccount.create=false"]).unwrap_err();
    assert!(err.contains("serviceAccount.name"), "{err}");
}

#[test]
fn security_contexts_are_overridable_and_openshift_can_leave_uids_unset() {
    let Some(bin) = helm_bin() else { return };
    let docs = helm_template(&bin, NS, &[]);
    let pod = operator_pod(&docs);
    assert_eq!(pod["securityContext"]["runAsUser"], 65532);
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(
        pod["containers"][0]["securityContext"]["readOnlyRootFilesystem"],
        true
    );

    let docs = helm_template(
        &bin,
        NS,
        &[
            "--set",
            "operator.podSecurityContext.runAsUser=null",
            "--set",
            "operator.podSecurityContext.runAsGroup=null",
            "--set",
            "operator.podSecurityContext.fsGroup=null",
            "--set",
            "operator.securityContext.runAsUser=1000700000",
        ],
    );
    let pod = operator_pod(&docs);
    let ctx = pod["securityContext"].as_object().unwrap();
    for unset in ["runAsUser", "runAsGroup", "fsGroup"] {
        assert!(!ctx.contains_key(unset), "{unset} in {ctx:?}");
    }
    assert_eq!(ctx["runAsNonRoot"], true, "the rest of the defaults stay");
    assert_eq!(
        pod["containers"][0]["securityContext"]["runAsUser"],
        1_000_700_000
    );
}

#[test]
fn extra_args_and_env_are_appended() {
    let Some(bin) = helm_bin() else { return };
    let docs = helm_template(
        &bin,
        NS,
        &[
            "--set",
            "operator.extraArgs={--refresh-seconds=30}",
            "--set",
            "operator.extraEnv[0].name=HTTPS_PROXY",
            "--set",
            "operator.extraEnv[0].value=http://proxy:3128",
        ],
    );
    let a = args(&docs);
    assert_eq!(a.last().map(String::as_str), Some("--refresh-seconds=30"));
    let env = &operator_pod(&docs)["containers"][0]["env"];
    assert!(
        env.as_array()
            .unwrap()
            .contains(&json!({"name": "HTTPS_PROXY", "value": "http://proxy:3128"})),
        "{env}"
    );
    let err = raw(&bin, &["--set", "operator.extraArgs={refresh}"]).unwrap_err();
    assert!(err.contains("schema"), "{err}");
}

#[test]
fn topology_spread_selects_the_operator_pods_unless_told_otherwise() {
    let Some(bin) = helm_bin() else { return };
    let docs = helm_template(&bin, NS, &[]);
    assert!(operator_pod(&docs)["topologySpreadConstraints"].is_null());
    let docs = helm_template(
        &bin,
        NS,
        &["-f", "charts/agentlens/ci/everything-on-values.yaml"],
    );
    let deploy = find(&docs, "Deployment", "agentlens-operator");
    let spread = &deploy["spec"]["template"]["spec"]["topologySpreadConstraints"][0];
    assert_eq!(spread["topologyKey"], "topology.kubernetes.io/zone");
    assert_eq!(spread["whenUnsatisfiable"], "ScheduleAnyway");
    assert_eq!(
        spread["labelSelector"]["matchLabels"],
        deploy["spec"]["selector"]["matchLabels"]
    );
}

#[test]
fn every_object_carries_a_component_label() {
    let Some(bin) = helm_bin() else { return };
    for (name, extra) in value_sets() {
        for d in helm_template(&bin, NS, &extra) {
            let component = &d["metadata"]["labels"]["app.kubernetes.io/component"];
            assert!(
                component.as_str().is_some_and(|c| !c.is_empty()),
                "{name}: {} {} has no component",
                d["kind"],
                d["metadata"]["name"]
            );
        }
    }
    let docs = helm_template(&bin, NS, &[]);
    let component = |kind, name| {
        find(&docs, kind, name)["metadata"]["labels"]["app.kubernetes.io/component"].clone()
    };
    assert_eq!(component("Deployment", "agentlens-operator"), "operator");
    assert_eq!(
        component("MutatingWebhookConfiguration", "agentlens"),
        "webhook"
    );
    assert_eq!(component("ClusterRole", "agentlens-sidecar"), "sidecar");
}

#[test]
fn a_pdb_only_with_more_than_one_replica() {
    let Some(bin) = helm_bin() else { return };
    let pdbs = |extra: &[&str]| {
        helm_template(&bin, NS, extra)
            .into_iter()
            .filter(|d| d["kind"] == "PodDisruptionBudget")
            .count()
    };
    assert_eq!(pdbs(&[]), 1, "two replicas by default");
    assert_eq!(pdbs(&["--set", "operator.replicas=1"]), 0);
    assert_eq!(pdbs(&["--set", "operator.replicas=3"]), 1);
    assert_eq!(
        pdbs(&[
            "--set",
            "operator.replicas=3",
            "--set",
            "operator.podDisruptionBudget.enabled=false"
        ]),
        0
    );
}
