//! Who a request is and whether RBAC allows it: the admin token may do anything; a
//! ServiceAccount's token is authorized by the Roles, ClusterRoles and their bindings stored in
//! the emulator, exactly and only. Aggregated ClusterRoles (`aggregationRule`) and the
//! default discovery roles are not modelled: discovery and `/version` are open to every
//! authenticated caller.

use serde_json::Value;

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Identity {
    /// The admin token: everything is allowed.
    Admin,
    /// A ServiceAccount: (namespace, name).
    ServiceAccount(String, String),
}

impl Identity {
    /// The user name the server reports (`system:serviceaccount:ns:name`).
    pub fn user(&self) -> String {
        match self {
            Self::Admin => "kubernetes-admin".into(),
            Self::ServiceAccount(ns, name) => format!("system:serviceaccount:{ns}:{name}"),
        }
    }

    /// The groups the server reports for the caller.
    pub fn groups(&self) -> Vec<String> {
        match self {
            Self::Admin => vec!["system:masters".into(), "system:authenticated".into()],
            Self::ServiceAccount(ns, _) => vec![
                "system:serviceaccounts".into(),
                format!("system:serviceaccounts:{ns}"),
                "system:authenticated".into(),
            ],
        }
    }
}

/// What a request wants to do, as RBAC sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attributes {
    /// `get`, `list`, `watch`, `create`, `update`, `patch`, `delete`, `deletecollection`.
    pub verb: String,
    /// API group.
    pub group: String,
    /// Plural.
    pub resource: String,
    /// Subresource (`status`, `log`), "" for none.
    pub subresource: String,
    /// Namespace, "" for cluster scope.
    pub namespace: String,
    /// Object name, "" when the request names none.
    pub name: String,
}

/// The RBAC objects of the store, by kind.
#[derive(Debug, Default)]
pub struct Rbac<'a> {
    /// Role objects.
    pub roles: Vec<&'a Value>,
    /// ClusterRole objects.
    pub cluster_roles: Vec<&'a Value>,
    /// RoleBinding objects.
    pub role_bindings: Vec<&'a Value>,
    /// ClusterRoleBinding objects.
    pub cluster_role_bindings: Vec<&'a Value>,
}

fn strs(v: &Value) -> impl Iterator<Item = &str> {
    v.as_array().into_iter().flatten().filter_map(Value::as_str)
}

fn has(list: &Value, want: &str) -> bool {
    strs(list).any(|s| s == "*" || s == want)
}

fn rule_allows(rule: &Value, a: &Attributes) -> bool {
    let resource = if a.subresource.is_empty() {
        a.resource.clone()
    } else {
        format!("{}/{}", a.resource, a.subresource)
    };
    let resource_ok = strs(&rule["resources"]).any(|r| {
        r == "*"
            || r == resource
            || (!a.subresource.is_empty() && r == format!("*/{}", a.subresource))
    });
    let names_ok = match rule["resourceNames"].as_array() {
        Some(names) if !names.is_empty() => {
            !a.name.is_empty() && names.iter().any(|n| n.as_str() == Some(a.name.as_str()))
        }
        _ => true,
    };
    has(&rule["verbs"], &a.verb) && has(&rule["apiGroups"], &a.group) && resource_ok && names_ok
}

fn subject_matches(subject: &Value, id: &Identity, binding_ns: &str) -> bool {
    let Identity::ServiceAccount(ns, name) = id else {
        return false;
    };
    match subject["kind"].as_str() {
        Some("ServiceAccount") => {
            let sns = subject["namespace"].as_str().unwrap_or(binding_ns);
            subject["name"].as_str() == Some(name.as_str()) && sns == ns
        }
        Some("User") => subject["name"].as_str() == Some(id.user().as_str()),
        Some("Group") => subject["name"]
            .as_str()
            .is_some_and(|g| id.groups().iter().any(|x| x == g)),
        _ => false,
    }
}

fn named<'a>(objects: &[&'a Value], name: &str, namespace: Option<&str>) -> Option<&'a Value> {
    objects.iter().copied().find(|o| {
        o["metadata"]["name"].as_str() == Some(name)
            && namespace.is_none_or(|ns| o["metadata"]["namespace"].as_str() == Some(ns))
    })
}

impl Rbac<'_> {
    fn role_rules(&self, role_ref: &Value, binding_ns: Option<&str>) -> Vec<&Value> {
        let name = role_ref["name"].as_str().unwrap_or_default();
        let role = match role_ref["kind"].as_str() {
            Some("ClusterRole") => named(&self.cluster_roles, name, None),
            Some("Role") => binding_ns.and_then(|ns| named(&self.roles, name, Some(ns))),
            _ => None,
        };
        role.map(|r| r["rules"].as_array().into_iter().flatten().collect())
            .unwrap_or_default()
    }

    /// Whether `id` may do `a`.
    pub fn allows(&self, id: &Identity, a: &Attributes) -> bool {
        if *id == Identity::Admin {
            return true;
        }
        let bound = |b: &&Value, ns: &str| {
            b["subjects"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|s| subject_matches(s, id, ns))
        };
        let cluster = self
            .cluster_role_bindings
            .iter()
            .filter(|b| bound(b, ""))
            .flat_map(|b| self.role_rules(&b["roleRef"], None));
        let namespaced = self
            .role_bindings
            .iter()
            .filter(|b| {
                !a.namespace.is_empty()
                    && b["metadata"]["namespace"].as_str() == Some(a.namespace.as_str())
            })
            .filter(|b| bound(b, &a.namespace))
            .flat_map(|b| self.role_rules(&b["roleRef"], Some(&a.namespace)));
        cluster.chain(namespaced).any(|r| rule_allows(r, a))
    }

    /// The ServiceAccounts the bindings name, directly: (namespace, name).
    pub fn service_accounts(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for b in self
            .role_bindings
            .iter()
            .chain(self.cluster_role_bindings.iter())
        {
            let ns = b["metadata"]["namespace"].as_str().unwrap_or_default();
            for s in b["subjects"].as_array().into_iter().flatten() {
                if s["kind"] == "ServiceAccount"
                    && let Some(name) = s["name"].as_str()
                {
                    let sns = s["namespace"].as_str().unwrap_or(ns);
                    if !sns.is_empty() {
                        out.push((sns.to_string(), name.to_string()));
                    }
                }
            }
        }
        out.sort();
        out.dedup();
        out
    }
}

/// The authorizer's sentence, as the real server words it.
pub fn forbidden_reason(id: &Identity, a: &Attributes) -> String {
    let resource = if a.subresource.is_empty() {
        a.resource.clone()
    } else {
        format!("{}/{}", a.resource, a.subresource)
    };
    let scope = if a.namespace.is_empty() {
        "at the cluster scope".to_string()
    } else {
        format!("in the namespace \"{}\"", a.namespace)
    };
    format!(
        "User \"{}\" cannot {} resource \"{resource}\" in API group \"{}\" {scope}",
        id.user(),
        a.verb,
        a.group
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn attrs(
        verb: &str,
        group: &str,
        resource: &str,
        sub: &str,
        ns: &str,
        name: &str,
    ) -> Attributes {
        Attributes {
            verb: verb.into(),
            group: group.into(),
            resource: resource.into(),
            subresource: sub.into(),
            namespace: ns.into(),
            name: name.into(),
        }
    }

    #[test]
    fn role_binding_grants_only_its_namespace_and_rules() {
        let role = json!({"metadata": {"name": "r", "namespace": "a"}, "rules": [
            {"apiGroups": [""], "resources": ["pods", "pods/log"], "verbs": ["get", "list", "watch"]},
            {"apiGroups": ["agentlens.dev"], "resources": ["agentdeployments/status"], "verbs": ["patch"]},
            {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["*"], "resourceNames": ["lock"]}
        ]});
        let binding = json!({"metadata": {"name": "b", "namespace": "a"},
            "roleRef": {"kind": "Role", "name": "r"},
            "subjects": [{"kind": "ServiceAccount", "name": "op", "namespace": "a"}]});
        let group_binding = json!({"metadata": {"name": "g"},
            "roleRef": {"kind": "ClusterRole", "name": "cr"},
            "subjects": [{"kind": "Group", "name": "system:serviceaccounts:b"}]});
        let cluster_role = json!({"metadata": {"name": "cr"}, "rules": [
            {"apiGroups": ["*"], "resources": ["*"], "verbs": ["list"]}]});
        let rbac = Rbac {
            roles: vec![&role],
            cluster_roles: vec![&cluster_role],
            role_bindings: vec![&binding],
            cluster_role_bindings: vec![&group_binding],
        };
        let op = Identity::ServiceAccount("a".into(), "op".into());
        let other = Identity::ServiceAccount("b".into(), "x".into());
        let cases = [
            (&op, attrs("list", "", "pods", "", "a", ""), true),
            (&op, attrs("get", "", "pods", "log", "a", "p"), true),
            (&op, attrs("list", "", "pods", "", "b", ""), false),
            (&op, attrs("list", "", "pods", "", "", ""), false),
            (&op, attrs("delete", "", "pods", "", "a", "p"), false),
            (
                &op,
                attrs(
                    "patch",
                    "agentlens.dev",
                    "agentdeployments",
                    "status",
                    "a",
                    "x",
                ),
                true,
            ),
            (
                &op,
                attrs("patch", "agentlens.dev", "agentdeployments", "", "a", "x"),
                false,
            ),
            (
                &op,
                attrs("update", "coordination.k8s.io", "leases", "", "a", "lock"),
                true,
            ),
            (
                &op,
                attrs("update", "coordination.k8s.io", "leases", "", "a", "other"),
                false,
            ),
            (
                &op,
                attrs("create", "coordination.k8s.io", "leases", "", "a", ""),
                false,
            ),
            (
                &other,
                attrs("list", "apps", "deployments", "", "", ""),
                true,
            ),
            (
                &other,
                attrs("get", "apps", "deployments", "", "", "d"),
                false,
            ),
            (
                &Identity::Admin,
                attrs("delete", "x", "y", "", "", ""),
                true,
            ),
        ];
        for (id, a, want) in cases {
            assert_eq!(rbac.allows(id, &a), want, "{id:?} {a:?}");
        }
        assert_eq!(
            rbac.service_accounts(),
            [("a".to_string(), "op".to_string())]
        );
        assert_eq!(
            forbidden_reason(&op, &attrs("list", "agentlens.dev", "models", "", "", "")),
            "User \"system:serviceaccount:a:op\" cannot list resource \"models\" in API group \"agentlens.dev\" at the cluster scope"
        );
    }
}
