//! The injected sidecar reads its own pod and its containers' logs with the pod's service
//! account. Rather than granting that to every service account of a namespace, the operator
//! binds exactly the accounts an AgentDeployment's pods run as to one fixed ClusterRole (the
//! chart's `<release>-sidecar`, `get` on pods and pods/log), with one RoleBinding per
//! AgentDeployment in its namespace, owned by it (deleted with it). The operator may only
//! bind that one ClusterRole (`bind` limited by `resourceNames`), so it cannot hand out more.
//! Pure: the binding object from the system and its pods; `controller::sidecar_access` applies
//! it.

use std::collections::BTreeSet;

use agentlens_crds::AgentDeployment;
use kube::Resource;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::status::PodFacts;

/// The sidecar ClusterRole the chart names for the release `agentlens`.
pub const DEFAULT_CLUSTER_ROLE: &str = "agentlens-sidecar";
/// Prefix of the RoleBinding names.
pub const BINDING_PREFIX: &str = "agentlens-sidecar-";
/// Longest object name.
const MAX_NAME: usize = 253;

/// The RoleBinding of AgentDeployment `ad`: the prefix and its name, or, where that is longer
/// than a name may be, a shortened name ending in a hash of the whole.
pub fn binding_name(ad: &str) -> String {
    let full = format!("{BINDING_PREFIX}{ad}");
    if full.len() <= MAX_NAME {
        return full;
    }
    let hash: String = Sha256::digest(full.as_bytes())
        .iter()
        .take(5)
        .map(|b| format!("{b:02x}"))
        .collect();
    let keep = MAX_NAME - hash.len() - 1;
    format!("{}-{hash}", full[..keep].trim_end_matches(['-', '.']))
}

/// The service accounts the system's pods that carry the sidecar run as. Whether a pod does is
/// read from the pod itself, not guessed from why the webhook would have skipped it: a
/// `hostNetwork` pod forced with `agentlens.dev/inject: "true"` has a sidecar and needs its
/// logs as much as any; an opted-out pod, or one created while the webhook was down, has none.
pub fn service_accounts(matched: &[&PodFacts]) -> BTreeSet<String> {
    matched
        .iter()
        .filter(|p| p.injected)
        .map(|p| p.service_account.clone())
        .collect()
}

/// The RoleBinding to apply (server-side) for `ad`, binding `accounts` to `cluster_role`.
pub fn role_binding(
    ad: &AgentDeployment,
    accounts: &BTreeSet<String>,
    cluster_role: &str,
) -> Value {
    let ns = ad.meta().namespace.clone().unwrap_or_default();
    let name = ad.meta().name.clone().unwrap_or_default();
    let mut binding = json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {
            "name": binding_name(&name),
            "namespace": ns,
            "labels": {
                "app.kubernetes.io/name": "agentlens",
                "app.kubernetes.io/component": "sidecar",
                crate::inject::AGENT_LABEL: name,
            },
        },
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": cluster_role,
        },
        "subjects": accounts.iter().map(|sa| json!({
            "kind": "ServiceAccount", "name": sa, "namespace": ns,
        })).collect::<Vec<_>>(),
    });
    if let Some(uid) = &ad.meta().uid {
        binding["metadata"]["ownerReferences"] = json!([{
            "apiVersion": AgentDeployment::api_version(&()),
            "kind": AgentDeployment::kind(&()),
            "name": name,
            "uid": uid,
            "controller": true,
            "blockOwnerDeletion": false,
        }]);
    }
    binding
}

#[cfg(test)]
mod tests {
    use super::*;
    use agentlens_crds::AgentDeploymentSpec;

    fn pod(name: &str, sa: &str, opted_out: bool) -> PodFacts {
        PodFacts {
            name: name.into(),
            namespace: "invoice-rpa".into(),
            service_account: sa.into(),
            opted_out,
            injected: !opted_out,
            running: true,
            ..PodFacts::default()
        }
    }

    fn ad() -> AgentDeployment {
        let mut ad = AgentDeployment::new("invoice-rpa", AgentDeploymentSpec::default());
        ad.metadata.namespace = Some("invoice-rpa".into());
        ad.metadata.uid = Some("6f1c2a9e-0000-4000-8000-000000000001".into());
        ad
    }

    #[test]
    fn only_the_accounts_the_agents_run_as_are_bound() {
        let pods = [
            pod("extractor-0", "invoice-extractor", false),
            pod("extractor-1", "invoice-extractor", false),
            pod("triage-0", "default", false),
            pod("debug-shell", "ops-admin", true),
            // Forced onto the host network with `agentlens.dev/inject: "true"`: injected.
            PodFacts {
                host_network: true,
                ..pod("node-agent-0", "node-agent", false)
            },
            // Created while the webhook was down: no sidecar, nothing to grant.
            PodFacts {
                injected: false,
                ..pod("extractor-2", "batch-import", false)
            },
        ];
        let refs: Vec<&PodFacts> = pods.iter().collect();
        let accounts = service_accounts(&refs);
        let rb = role_binding(&ad(), &accounts, DEFAULT_CLUSTER_ROLE);
        assert_eq!(rb["metadata"]["name"], "agentlens-sidecar-invoice-rpa");
        assert_eq!(rb["roleRef"]["name"], DEFAULT_CLUSTER_ROLE);
        let subjects: Vec<&str> = rb["subjects"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["name"].as_str().unwrap())
            .collect();
        assert_eq!(subjects, ["default", "invoice-extractor", "node-agent"]);
        assert!(
            rb["subjects"]
                .as_array()
                .unwrap()
                .iter()
                .all(|s| s["namespace"] == "invoice-rpa")
        );
        assert_eq!(
            rb["metadata"]["ownerReferences"][0]["kind"],
            "AgentDeployment"
        );
        let emptied = role_binding(&ad(), &BTreeSet::new(), DEFAULT_CLUSTER_ROLE);
        assert_eq!(
            emptied["subjects"],
            json!([]),
            "pods gone: nobody keeps the grant"
        );
    }

    #[test]
    fn long_system_names_still_give_valid_binding_names() {
        let long = "a".repeat(253);
        let name = binding_name(&long);
        assert_eq!(name.len(), MAX_NAME);
        assert_ne!(
            binding_name(&format!("{long}b")),
            name,
            "distinct names stay distinct"
        );
        assert_eq!(binding_name("x"), "agentlens-sidecar-x");
    }
}
