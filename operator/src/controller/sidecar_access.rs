//! Applies the RoleBinding that lets an AgentDeployment's sidecars read their pods' logs
//! ([`crate::sidecar_access`] builds it): server-side apply under the fixed field manager, only
//! when the bound accounts differ from what this process last applied for the system, so a
//! reconcile of an unchanged system writes nothing (after a restart, one write per system).
//! Bindings of deleted systems go with them (owner reference); a system whose pods are all
//! gone keeps a binding without subjects.

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;

use agentlens_crds::AgentDeployment;
use k8s_openapi::api::rbac::v1::RoleBinding;
use kube::api::{Api, Patch, PatchParams};
use kube::{Client, ResourceExt};

use super::reconcile::{FIELD_MANAGER, ReconcileError};
use crate::status::PodFacts;

/// The ClusterRole to bind and the accounts last applied per (namespace, system).
#[derive(Debug)]
pub struct SidecarAccess {
    cluster_role: String,
    applied: Mutex<HashMap<(String, String), BTreeSet<String>>>,
}

impl SidecarAccess {
    /// Binds to `cluster_role` (the chart's `<release>-sidecar`).
    pub fn new(cluster_role: String) -> Self {
        Self {
            cluster_role,
            applied: Mutex::default(),
        }
    }

    fn last(&self, key: &(String, String)) -> Option<BTreeSet<String>> {
        self.applied.lock().ok()?.get(key).cloned()
    }

    fn remember(&self, key: (String, String), accounts: BTreeSet<String>) {
        if let Ok(mut m) = self.applied.lock() {
            m.insert(key, accounts);
        }
    }

    /// Applies the system's RoleBinding when its accounts changed; returns whether it wrote.
    pub async fn ensure(
        &self,
        client: &Client,
        ad: &AgentDeployment,
        matched: &[&PodFacts],
    ) -> Result<bool, ReconcileError> {
        let accounts = crate::sidecar_access::service_accounts(matched);
        let ns = ad.namespace().unwrap_or_default();
        let key = (ns.clone(), ad.name_any());
        let last = self.last(&key);
        // Nothing to grant and nothing granted by this process: no binding yet. Once one was
        // applied, an empty set is applied too, so accounts whose pods are gone lose the grant.
        if last.as_ref() == Some(&accounts) || (accounts.is_empty() && last.is_none()) {
            return Ok(false);
        }
        let binding = crate::sidecar_access::role_binding(ad, &accounts, &self.cluster_role);
        let name = crate::sidecar_access::binding_name(&ad.name_any());
        let api: Api<RoleBinding> = Api::namespaced(client.clone(), &ns);
        api.patch(
            &name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&binding),
        )
        .await
        .map_err(|source| ReconcileError::Kube {
            what: format!("applying RoleBinding {ns}/{name} for the sidecars' log access"),
            source: Box::new(source),
        })?;
        tracing::info!(agentdeployment = %ad.name_any(), namespace = %ns, accounts = ?accounts, "bound the sidecars' service accounts to {}", self.cluster_role);
        self.remember(key, accounts);
        Ok(true)
    }
}
