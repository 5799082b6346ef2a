//! The chart grants exactly the calls the code makes: `helm template` (the real helm v4 from
//! `.tools`) renders the chart, and its ClusterRole, Role and sidecar ClusterRole are compared
//! with `agentlens_operator::rbac::rules()`, whose plurals come from the CRD types.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::process::Command;

use agentlens_operator::rbac::{self, Caller, Need, Scope};
use agentlens_operator::{certs, sidecar_access};
use agentlens_tests::tools::{helm, helm_template};
use serde_json::Value;

fn render(extra: &[&str]) -> Option<Vec<Value>> {
    let bin = helm().or_skip()?;
    Some(helm_template(&bin, "agentlens-system", extra))
}

fn object<'a>(docs: &'a [Value], kind: &str, name: &str) -> &'a Value {
    docs.iter()
        .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name}"))
}

/// `group/resource verb` (with ` name=N` for each of `resourceNames`) for every combination a
/// role's rules grant.
fn granted(role: &Value) -> BTreeSet<String> {
    let strs = |v: &Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_string())
            .collect()
    };
    let mut out = BTreeSet::new();
    for r in role["rules"].as_array().unwrap() {
        let names: Vec<String> = if r["resourceNames"].is_array() {
            strs(&r["resourceNames"])
                .into_iter()
                .map(|n| format!(" name={n}"))
                .collect()
        } else {
            vec![String::new()]
        };
        for g in strs(&r["apiGroups"]) {
            for res in strs(&r["resources"]) {
                for v in strs(&r["verbs"]) {
                    for n in &names {
                        out.insert(format!("{g}/{res} {v}{n}"));
                    }
                }
            }
        }
    }
    out
}

#[test]
fn chart_grants_exactly_the_calls_in_the_code() {
    let Some(docs) = render(&[]) else {
        return;
    };
    let cluster = granted(object(&docs, "ClusterRole", "agentlens-operator"));
    assert_eq!(
        cluster,
        rbac::flat(Caller::Operator, &[Scope::Cluster, Scope::ConfigNamespaces])
    );
    let own = granted(object(&docs, "Role", "agentlens-operator"));
    assert_eq!(own, rbac::flat(Caller::Operator, &[Scope::OwnNamespace]));
    let sidecar = granted(object(&docs, "ClusterRole", "agentlens-sidecar"));
    assert_eq!(sidecar, rbac::flat(Caller::Sidecar, &[Scope::Cluster]));
    assert!(
        !docs
            .iter()
            .any(|d| d["metadata"]["name"] == "agentlens-operator-configs"),
        "no per-namespace config Roles by default"
    );
}

/// `operator.configNamespaces`: configs readable in those namespaces only, and the operator
/// told so (`--config-namespaces`).
#[test]
fn listed_config_namespaces_replace_the_cluster_wide_grant() {
    let Some(docs) = render(&[
        "--set",
        "operator.configNamespaces={invoice-rpa,consumer-rag}",
    ]) else {
        return;
    };
    let cluster = granted(object(&docs, "ClusterRole", "agentlens-operator"));
    assert_eq!(cluster, rbac::flat(Caller::Operator, &[Scope::Cluster]));
    let roles: Vec<&Value> = docs
        .iter()
        .filter(|d| d["kind"] == "Role" && d["metadata"]["name"] == "agentlens-operator-configs")
        .collect();
    assert_eq!(roles.len(), 2);
    for role in roles {
        assert_eq!(
            granted(role),
            rbac::flat(Caller::Operator, &[Scope::ConfigNamespaces])
        );
    }
    let bindings = docs
        .iter()
        .filter(|d| {
            d["kind"] == "RoleBinding"
                && d["metadata"]["name"] == "agentlens-operator-configs"
                && d["subjects"][0]["name"] == "agentlens"
        })
        .count();
    assert_eq!(bindings, 2);
    let deploy = object(&docs, "Deployment", "agentlens-operator");
    let args = deploy["spec"]["template"]["spec"]["containers"][0]["args"].clone();
    assert!(
        args.as_array()
            .unwrap()
            .contains(&Value::from("--config-namespaces=invoice-rpa,consumer-rag")),
        "{args}"
    );
}

/// With cert-manager or an own Secret the operator touches neither the certificate Secret nor
/// the webhook configuration, and the chart grants neither; the names it grants in the default
/// mode are the ones it passes to the operator.
#[test]
fn certificate_rules_follow_the_certificate_mode() {
    for mode in ["certManager", "secret"] {
        let mut args = vec![
            "--set".to_string(),
            format!("webhook.certificate.mode={mode}"),
        ];
        if mode == "secret" {
            args.extend(
                [
                    "--set",
                    "webhook.certificate.secretName=own",
                    "--set",
                    "webhook.certificate.caBundle=QUJD",
                ]
                .map(String::from),
            );
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let Some(docs) = render(&args) else {
            return;
        };
        let always = [Need::Always];
        assert_eq!(
            granted(object(&docs, "ClusterRole", "agentlens-operator")),
            rbac::flat_for(
                Caller::Operator,
                &[Scope::Cluster, Scope::ConfigNamespaces],
                &always
            ),
            "{mode}"
        );
        assert_eq!(
            granted(object(&docs, "Role", "agentlens-operator")),
            rbac::flat_for(Caller::Operator, &[Scope::OwnNamespace], &always),
            "{mode}"
        );
    }
    let Some(docs) = render(&[]) else { return };
    let deploy = object(&docs, "Deployment", "agentlens-operator");
    let args = deploy["spec"]["template"]["spec"]["containers"][0]["args"].clone();
    for (flag, name) in [
        ("--webhook-cert-secret", certs::DEFAULT_SECRET),
        (
            "--webhook-configuration",
            certs::DEFAULT_WEBHOOK_CONFIGURATION,
        ),
        ("--webhook-service", certs::DEFAULT_SERVICE),
        (
            "--sidecar-cluster-role",
            sidecar_access::DEFAULT_CLUSTER_ROLE,
        ),
    ] {
        assert!(
            args.as_array()
                .unwrap()
                .contains(&Value::from(format!("{flag}={name}"))),
            "{flag}={name} in {args}"
        );
    }
    object(
        &docs,
        "MutatingWebhookConfiguration",
        certs::DEFAULT_WEBHOOK_CONFIGURATION,
    );
    object(&docs, "Service", certs::DEFAULT_SERVICE);
    object(&docs, "ClusterRole", sidecar_access::DEFAULT_CLUSTER_ROLE);
}

#[test]
fn the_rbac_subcommand_prints_the_same_rules() {
    let out = Command::new(env!("CARGO_BIN_EXE_agentlens-operator"))
        .arg("rbac")
        .output()
        .unwrap();
    assert!(out.status.success());
    let docs: Vec<Value> = serde_saphyr::from_multiple(&String::from_utf8_lossy(&out.stdout))
        .unwrap()
        .into_iter()
        .filter(Value::is_object)
        .collect();
    assert_eq!(
        granted(object(&docs, "ClusterRole", "agentlens-operator")),
        rbac::flat(Caller::Operator, &[Scope::Cluster, Scope::ConfigNamespaces])
    );
    assert_eq!(
        granted(object(&docs, "Role", "agentlens-operator")),
        rbac::flat(Caller::Operator, &[Scope::OwnNamespace])
    );
    assert_eq!(
        granted(object(&docs, "ClusterRole", "agentlens-sidecar")),
        rbac::flat(Caller::Sidecar, &[Scope::Cluster])
    );
}
