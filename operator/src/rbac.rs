//! Every Kubernetes API call the operator and the sidecar make, as (group, resource, verb)
//! rules: the one place the chart's ClusterRole and Roles are checked against
//! (`operator/tests/rbac.rs` renders the chart with helm). Group and plural names come from the
//! types (`kube::Resource`), never typed again, so a renamed CRD plural cannot leave the chart
//! granting a resource that does not exist.

use std::collections::BTreeSet;

use agentlens_crds::{AgentDeployment, Evaluation, Model};
use k8s_openapi::api::admissionregistration::v1::MutatingWebhookConfiguration;
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, Pod, Secret};
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::api::rbac::v1::{ClusterRole, RoleBinding};
use kube::Resource;
use serde::Serialize;

/// Where a rule is granted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Scope {
    /// Every namespace (the operator's ClusterRole).
    Cluster,
    /// The operator's own namespace only (its Role): the lease and its own Secrets.
    OwnNamespace,
    /// The namespaces whose configs are hashed: cluster-wide by default (the operator follows
    /// the namespaces that hold AgentDeployments), or a Role in each namespace of the chart's
    /// `operator.configNamespaces` (`--config-namespaces`).
    ConfigNamespaces,
}

/// Who makes the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Caller {
    /// `agentlens-operator run`.
    Operator,
    /// The injected `agentlens-sidecar`, with its pod's service account.
    Sidecar,
}

/// When a rule is needed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Need {
    /// Always.
    Always,
    /// Only when the operator manages the webhook certificate (`--webhook-cert-secret`, the
    /// chart's default `webhook.certificate.mode: operator`).
    ManagedCertificate,
}

/// One permission: a verb on a resource of an API group.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Rule {
    /// Who calls.
    pub caller: Caller,
    /// Where it is granted.
    pub scope: Scope,
    /// API group (`""` for the core group).
    pub group: String,
    /// Plural resource name, with `/subresource` where one is called.
    pub resource: String,
    /// The verb.
    pub verb: &'static str,
    /// The one object it is limited to (`resourceNames`), named as the chart names it for
    /// the release `agentlens`.
    pub name: Option<&'static str>,
    /// When it is needed.
    pub need: Need,
}

impl Rule {
    /// `group/resource verb`, with ` name=N` when limited to one object: the form tests
    /// compare.
    pub fn flat(&self) -> String {
        match self.name {
            Some(n) => format!("{}/{} {} name={n}", self.group, self.resource, self.verb),
            None => format!("{}/{} {}", self.group, self.resource, self.verb),
        }
    }
}

fn of<K: Resource<DynamicType = ()>>(
    caller: Caller,
    scope: Scope,
    sub: Option<&str>,
    verbs: &[&'static str],
) -> Vec<Rule> {
    let plural = K::plural(&());
    let resource = match sub {
        Some(s) => format!("{plural}/{s}"),
        None => plural.into_owned(),
    };
    verbs
        .iter()
        .map(|verb| Rule {
            caller,
            scope,
            group: K::group(&()).into_owned(),
            resource: resource.clone(),
            verb,
            name: None,
            need: Need::Always,
        })
        .collect()
}

/// Limits rules to the one object `name`, needed only when `need` holds.
fn named(rules: Vec<Rule>, name: &'static str, need: Need) -> Vec<Rule> {
    rules
        .into_iter()
        .map(|r| Rule {
            name: Some(name),
            need,
            ..r
        })
        .collect()
}

/// Every rule, with why each call is made.
pub fn rules() -> Vec<Rule> {
    use Caller::{Operator, Sidecar};
    use Scope::{Cluster, ConfigNamespaces, OwnNamespace};
    // The reflectors (controller/cache.rs): watcher streams list then watch.
    let watched = [
        // Pods: images by digest, injection, readiness, OOMKills, config references.
        of::<Pod>(Operator, Cluster, None, &["list", "watch"]),
        // ConfigMaps and Secrets: content hashes only (Secrets by HMAC), in the namespaces
        // that hold AgentDeployments.
        of::<ConfigMap>(Operator, ConfigNamespaces, None, &["list", "watch"]),
        of::<Secret>(Operator, ConfigNamespaces, None, &["list", "watch"]),
        of::<AgentDeployment>(Operator, Cluster, None, &["list", "watch"]),
        of::<Model>(Operator, Cluster, None, &["list", "watch"]),
        of::<Evaluation>(Operator, Cluster, None, &["list", "watch"]),
    ];
    let writes = [
        // Server-side-apply status patches (controller/reconcile.rs).
        of::<AgentDeployment>(Operator, Cluster, Some("status"), &["patch"]),
        of::<Model>(Operator, Cluster, Some("status"), &["patch"]),
        // spec.sidecar.restartUninjected: the owners of uninjected pods, rolled once
        // (controller/actions.rs).
        of::<ReplicaSet>(Operator, Cluster, None, &["get"]),
        of::<Deployment>(Operator, Cluster, None, &["get", "patch"]),
        of::<StatefulSet>(Operator, Cluster, None, &["get", "patch"]),
        of::<DaemonSet>(Operator, Cluster, None, &["get", "patch"]),
        // GPU OOM and OOMKill Events (kube's Recorder creates, then patches a series).
        of::<Event>(Operator, Cluster, None, &["create", "patch"]),
        // The sidecars' log access: a RoleBinding per AgentDeployment, server-side applied
        // (an apply that creates is authorised as create too), binding only the one sidecar
        // ClusterRole (controller/sidecar_access.rs).
        of::<RoleBinding>(Operator, Cluster, None, &["create", "patch"]),
        named(
            of::<ClusterRole>(Operator, Cluster, None, &["bind"]),
            crate::sidecar_access::DEFAULT_CLUSTER_ROLE,
            Need::Always,
        ),
        // The managed webhook certificate: the caBundle of the chart's webhook configuration
        // (controller/webhook_cert.rs).
        named(
            of::<MutatingWebhookConfiguration>(Operator, Cluster, None, &["get", "update"]),
            crate::certs::DEFAULT_WEBHOOK_CONFIGURATION,
            Need::ManagedCertificate,
        ),
    ];
    let own = [
        // Leader election (controller/leader.rs).
        of::<Lease>(Operator, OwnNamespace, None, &["get", "create", "patch"]),
        // The HMAC key and the sidecar API token, created on first start (controller/keys.rs);
        // the managed webhook certificate is read, created and renewed (server-side apply).
        of::<Secret>(Operator, OwnNamespace, None, &["get", "create"]),
        named(
            of::<Secret>(Operator, OwnNamespace, None, &["patch"]),
            crate::certs::DEFAULT_SECRET,
            Need::ManagedCertificate,
        ),
    ];
    // The sidecar reads its own pod (container names) and its containers' logs.
    let sidecar = [
        of::<Pod>(Sidecar, Cluster, None, &["get"]),
        of::<Pod>(Sidecar, Cluster, Some("log"), &["get"]),
    ];
    let mut out: Vec<Rule> = watched
        .into_iter()
        .chain(writes)
        .chain(own)
        .chain(sidecar)
        .flatten()
        .collect();
    out.sort();
    out
}

/// The rules of one caller in the given scopes, in the `group/resource verb` form, as the
/// chart's defaults grant them (every [`Need`]).
pub fn flat(caller: Caller, scopes: &[Scope]) -> BTreeSet<String> {
    flat_for(caller, scopes, &[Need::Always, Need::ManagedCertificate])
}

/// [`flat`], for the rules whose need is among `needs`.
pub fn flat_for(caller: Caller, scopes: &[Scope], needs: &[Need]) -> BTreeSet<String> {
    rules()
        .iter()
        .filter(|r| r.caller == caller && scopes.contains(&r.scope) && needs.contains(&r.need))
        .map(Rule::flat)
        .collect()
}

/// The rules as RBAC `rules:` entries (one per group, resource and name), for
/// `agentlens-operator rbac`.
pub fn policy_rules(caller: Caller, scopes: &[Scope]) -> Vec<serde_json::Value> {
    type Key = (String, String, Option<&'static str>);
    let mut grouped: std::collections::BTreeMap<Key, Vec<&'static str>> =
        std::collections::BTreeMap::new();
    for r in rules()
        .into_iter()
        .filter(|r| r.caller == caller && scopes.contains(&r.scope))
    {
        grouped
            .entry((r.group, r.resource, r.name))
            .or_default()
            .push(r.verb);
    }
    grouped
        .into_iter()
        .map(|((group, resource, name), verbs)| {
            let mut rule =
                serde_json::json!({"apiGroups": [group], "resources": [resource], "verbs": verbs});
            if let Some(n) = name {
                rule["resourceNames"] = serde_json::json!([n]);
            }
            rule
        })
        .collect()
}

/// The three roles as objects (ClusterRole and Role `agentlens-operator`, ClusterRole
/// `agentlens-sidecar`), the way the chart names them for the release `agentlens` with its
/// default values (configs readable where AgentDeployments are).
pub fn roles() -> Vec<serde_json::Value> {
    let role = |kind: &str, name: &str, caller, scope: &[Scope]| {
        serde_json::json!({
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": kind,
            "metadata": {"name": name},
            "rules": policy_rules(caller, scope),
        })
    };
    vec![
        role(
            "ClusterRole",
            "agentlens-operator",
            Caller::Operator,
            &[Scope::Cluster, Scope::ConfigNamespaces],
        ),
        role(
            "Role",
            "agentlens-operator",
            Caller::Operator,
            &[Scope::OwnNamespace],
        ),
        role(
            "ClusterRole",
            "agentlens-sidecar",
            Caller::Sidecar,
            &[Scope::Cluster],
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plurals_come_from_the_crd_types() {
        let all: BTreeSet<String> = rules().iter().map(Rule::flat).collect();
        for wanted in [
            "agentlens.dev/models list",
            "agentlens.dev/evaluations watch",
            "agentlens.dev/models/status patch",
            "agentlens.dev/agentdeployments/status patch",
            "/pods/log get",
            "coordination.k8s.io/leases patch",
            "events.k8s.io/events create",
        ] {
            assert!(all.contains(wanted), "{wanted} missing from {all:?}");
        }
        assert!(
            !all.iter()
                .any(|r| r.contains("aimodel") || r.contains("aieval"))
        );
    }

    #[test]
    fn nothing_writes_pods_secrets_cluster_wide_and_rbac_only_binds_the_sidecar_role() {
        for r in rules() {
            let write = !matches!(r.verb, "get" | "list" | "watch");
            assert!(
                !(write && r.scope != Scope::OwnNamespace && r.group.is_empty()),
                "{r:?}"
            );
            if r.group.starts_with("rbac.") {
                let binds_one_role = r.resource == "clusterroles"
                    && r.verb == "bind"
                    && r.name == Some(crate::sidecar_access::DEFAULT_CLUSTER_ROLE);
                let writes_bindings = r.resource == "rolebindings";
                assert!(binds_one_role || writes_bindings, "{r:?}");
            }
            if r.resource == "mutatingwebhookconfigurations" {
                assert!(
                    r.name.is_some(),
                    "only the chart's own configuration: {r:?}"
                );
            }
        }
    }
}
