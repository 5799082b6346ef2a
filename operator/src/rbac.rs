//! Every Kubernetes API call the operator and the sidecar make, as (group, resource, verb)
//! rules: the one place the chart's ClusterRole and Roles are checked against
//! (`operator/tests/rbac.rs` renders the chart with helm). Group and plural names come from the
//! types (`kube::Resource`), never typed again, so a renamed CRD plural cannot leave the chart
//! granting a resource that does not exist.

use std::collections::BTreeSet;

use agentlens_crds::{AgentDeployment, Evaluation, Model};
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, Pod, Secret};
use k8s_openapi::api::events::v1::Event;
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
}

impl Rule {
    /// `group/resource verb`, the form tests compare.
    pub fn flat(&self) -> String {
        format!("{}/{} {}", self.group, self.resource, self.verb)
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
    ];
    let own = [
        // Leader election (controller/leader.rs).
        of::<Lease>(Operator, OwnNamespace, None, &["get", "create", "patch"]),
        // The HMAC key and the sidecar API token, created on first start (controller/keys.rs).
        of::<Secret>(Operator, OwnNamespace, None, &["get", "create"]),
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

/// The rules of one caller in the given scopes, in the `group/resource verb` form.
pub fn flat(caller: Caller, scopes: &[Scope]) -> BTreeSet<String> {
    rules()
        .iter()
        .filter(|r| r.caller == caller && scopes.contains(&r.scope))
        .map(Rule::flat)
        .collect()
}

/// The rules as RBAC `rules:` entries (one per group and resource), for `agentlens-operator rbac`.
pub fn policy_rules(caller: Caller, scopes: &[Scope]) -> Vec<serde_json::Value> {
    let mut grouped: std::collections::BTreeMap<(String, String), Vec<&'static str>> =
        std::collections::BTreeMap::new();
    for r in rules()
        .into_iter()
        .filter(|r| r.caller == caller && scopes.contains(&r.scope))
    {
        grouped
            .entry((r.group, r.resource))
            .or_default()
            .push(r.verb);
    }
    grouped
        .into_iter()
        .map(|((group, resource), verbs)| {
            serde_json::json!({"apiGroups": [group], "resources": [resource], "verbs": verbs})
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
    fn nothing_writes_pods_secrets_cluster_wide_or_rbac() {
        for r in rules() {
            let write = !matches!(r.verb, "get" | "list" | "watch");
            assert!(
                !(write && r.scope != Scope::OwnNamespace && r.group.is_empty()),
                "{r:?}"
            );
            assert!(!r.group.starts_with("rbac."), "{r:?}");
        }
    }
}
