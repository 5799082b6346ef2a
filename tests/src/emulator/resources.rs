//! The resource types the emulator serves: a fixed table of built-in ones and those registered
//! by CustomResourceDefinition objects, with what discovery, routing and the write semantics
//! need to know about each.

use serde_json::Value;

/// A column a `Table` answer shows (CRD `additionalPrinterColumns`).
#[derive(Debug, Clone, PartialEq)]
pub struct PrinterColumn {
    /// Column header.
    pub name: String,
    /// OpenAPI type (`string`, `integer`, `date`, ...).
    pub kind: String,
    /// JSONPath into the object.
    pub json_path: String,
    /// Description, shown by `kubectl explain`-like tools.
    pub description: String,
}

/// One resource type (one group/plural; every served version shares the storage).
#[derive(Debug, Clone, PartialEq)]
pub struct ResourceType {
    /// API group, "" for the core group.
    pub group: String,
    /// Served versions, the storage (preferred) version first.
    pub versions: Vec<String>,
    /// Plural name (the path segment).
    pub plural: String,
    /// Singular name.
    pub singular: String,
    /// Kind.
    pub kind: String,
    /// Whether objects live in a namespace.
    pub namespaced: bool,
    /// Short names (`agd`).
    pub short_names: Vec<String>,
    /// Categories (`all`, `agentlens`).
    pub categories: Vec<String>,
    /// Whether there is a `/status` subresource (status isolation, generation on spec only).
    pub status: bool,
    /// Whether there is a `/log` subresource (pods).
    pub log: bool,
    /// Columns of `Table` answers beyond Name and Age.
    pub columns: Vec<PrinterColumn>,
    /// Field selector labels besides `metadata.name` and `metadata.namespace`.
    pub fields: Vec<&'static str>,
    /// The CRD that registered it, None for built-ins.
    pub crd: Option<String>,
}

impl ResourceType {
    /// `group/version` or `version` for the core group.
    pub fn api_version(&self, version: &str) -> String {
        if self.group.is_empty() {
            version.to_string()
        } else {
            format!("{}/{version}", self.group)
        }
    }

    /// The storage version.
    pub fn storage_version(&self) -> &str {
        self.versions.first().map(String::as_str).unwrap_or("v1")
    }

    /// Whether `metadata.generation` is maintained: types with a spec/status split.
    pub fn tracks_generation(&self) -> bool {
        self.status || self.crd.is_some()
    }
}

struct Builtin {
    group: &'static str,
    version: &'static str,
    plural: &'static str,
    singular: &'static str,
    kind: &'static str,
    namespaced: bool,
    short: &'static [&'static str],
    categories: &'static [&'static str],
    status: bool,
    fields: &'static [&'static str],
}

const fn b(
    group: &'static str,
    plural: &'static str,
    singular: &'static str,
    kind: &'static str,
    namespaced: bool,
) -> Builtin {
    Builtin {
        group,
        version: "v1",
        plural,
        singular,
        kind,
        namespaced,
        short: &[],
        categories: &[],
        status: false,
        fields: &[],
    }
}

const RBAC: &str = "rbac.authorization.k8s.io";

const BUILTINS: &[Builtin] = &[
    Builtin {
        short: &["ns"],
        status: true,
        fields: &["status.phase"],
        ..b("", "namespaces", "namespace", "Namespace", false)
    },
    Builtin {
        short: &["po"],
        categories: &["all"],
        status: true,
        fields: &[
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "status.phase",
            "status.podIP",
            "status.nominatedNodeName",
        ],
        ..b("", "pods", "pod", "Pod", true)
    },
    Builtin {
        short: &["cm"],
        ..b("", "configmaps", "configmap", "ConfigMap", true)
    },
    Builtin {
        fields: &["type"],
        ..b("", "secrets", "secret", "Secret", true)
    },
    Builtin {
        short: &["svc"],
        categories: &["all"],
        status: true,
        ..b("", "services", "service", "Service", true)
    },
    // Written by the test in place of the endpoints controller; Prometheus's `endpoints` role
    // (what prometheus-operator generates for a ServiceMonitor) lists and watches them.
    Builtin {
        short: &["ep"],
        ..b("", "endpoints", "endpoints", "Endpoints", true)
    },
    Builtin {
        short: &["sa"],
        ..b(
            "",
            "serviceaccounts",
            "serviceaccount",
            "ServiceAccount",
            true,
        )
    },
    Builtin {
        short: &["ev"],
        fields: &[
            "involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "involvedObject.apiVersion",
            "involvedObject.resourceVersion",
            "involvedObject.fieldPath",
            "reason",
            "reportingComponent",
            "source",
            "type",
        ],
        ..b("", "events", "event", "Event", true)
    },
    Builtin {
        short: &["ev"],
        fields: &[
            "regarding.kind",
            "regarding.name",
            "regarding.namespace",
            "reason",
            "type",
        ],
        ..b("events.k8s.io", "events", "event", "Event", true)
    },
    b("coordination.k8s.io", "leases", "lease", "Lease", true),
    Builtin {
        short: &["pvc"],
        status: true,
        ..b(
            "",
            "persistentvolumeclaims",
            "persistentvolumeclaim",
            "PersistentVolumeClaim",
            true,
        )
    },
    Builtin {
        short: &["no"],
        status: true,
        ..b("", "nodes", "node", "Node", false)
    },
    Builtin {
        short: &["rs"],
        categories: &["all"],
        status: true,
        ..b("apps", "replicasets", "replicaset", "ReplicaSet", true)
    },
    Builtin {
        short: &["sts"],
        categories: &["all"],
        status: true,
        ..b("apps", "statefulsets", "statefulset", "StatefulSet", true)
    },
    Builtin {
        short: &["ds"],
        categories: &["all"],
        status: true,
        ..b("apps", "daemonsets", "daemonset", "DaemonSet", true)
    },
    Builtin {
        categories: &["all"],
        status: true,
        ..b("batch", "jobs", "job", "Job", true)
    },
    Builtin {
        short: &["deploy"],
        categories: &["all"],
        status: true,
        ..b("apps", "deployments", "deployment", "Deployment", true)
    },
    b(RBAC, "roles", "role", "Role", true),
    b(RBAC, "clusterroles", "clusterrole", "ClusterRole", false),
    b(RBAC, "rolebindings", "rolebinding", "RoleBinding", true),
    b(
        RBAC,
        "clusterrolebindings",
        "clusterrolebinding",
        "ClusterRoleBinding",
        false,
    ),
    Builtin {
        short: &["crd", "crds"],
        categories: &["api-extensions"],
        status: true,
        ..b(
            "apiextensions.k8s.io",
            "customresourcedefinitions",
            "customresourcedefinition",
            "CustomResourceDefinition",
            false,
        )
    },
    Builtin {
        categories: &["api-extensions"],
        ..b(
            "admissionregistration.k8s.io",
            "mutatingwebhookconfigurations",
            "mutatingwebhookconfiguration",
            "MutatingWebhookConfiguration",
            false,
        )
    },
    Builtin {
        categories: &["api-extensions"],
        ..b(
            "admissionregistration.k8s.io",
            "validatingwebhookconfigurations",
            "validatingwebhookconfiguration",
            "ValidatingWebhookConfiguration",
            false,
        )
    },
    // Answered, not stored: whether the caller may do something (`kubectl auth can-i`).
    b(
        "authorization.k8s.io",
        "selfsubjectaccessreviews",
        "selfsubjectaccessreview",
        "SelfSubjectAccessReview",
        false,
    ),
    Builtin {
        short: &["pdb"],
        status: true,
        ..b(
            "policy",
            "poddisruptionbudgets",
            "poddisruptionbudget",
            "PodDisruptionBudget",
            true,
        )
    },
];

/// The built-in resource types.
pub fn builtins() -> Vec<ResourceType> {
    BUILTINS
        .iter()
        .map(|b| ResourceType {
            group: b.group.into(),
            versions: vec![b.version.into()],
            plural: b.plural.into(),
            singular: b.singular.into(),
            kind: b.kind.into(),
            namespaced: b.namespaced,
            short_names: b.short.iter().map(|s| s.to_string()).collect(),
            categories: b.categories.iter().map(|s| s.to_string()).collect(),
            status: b.status,
            log: b.plural == "pods" && b.group.is_empty(),
            columns: Vec::new(),
            fields: b.fields.to_vec(),
            crd: None,
        })
        .collect()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// The resource type a CustomResourceDefinition registers, or why it cannot (the causes of a
/// 422 Invalid: `(field, message)`).
pub fn from_crd(crd: &Value) -> Result<ResourceType, Vec<(String, String)>> {
    let spec = &crd["spec"];
    let mut causes = Vec::new();
    let group = spec["group"].as_str().unwrap_or_default().to_string();
    let names = &spec["names"];
    let plural = names["plural"].as_str().unwrap_or_default().to_string();
    let kind = names["kind"].as_str().unwrap_or_default().to_string();
    if group.is_empty() {
        causes.push(("spec.group".into(), "Required value".into()));
    }
    if plural.is_empty() {
        causes.push(("spec.names.plural".into(), "Required value".into()));
    }
    if kind.is_empty() {
        causes.push(("spec.names.kind".into(), "Required value".into()));
    }
    let expected = format!("{plural}.{group}");
    let name = crd["metadata"]["name"].as_str().unwrap_or_default();
    if name != expected {
        causes.push((
            "metadata.name".into(),
            format!("Invalid value: \"{name}\": must be spec.names.plural+\".\"+spec.group"),
        ));
    }
    let scope = spec["scope"].as_str().unwrap_or_default();
    if scope != "Namespaced" && scope != "Cluster" {
        causes.push((
            "spec.scope".into(),
            format!(
                "Unsupported value: \"{scope}\": supported values: \"Cluster\", \"Namespaced\""
            ),
        ));
    }
    let versions = spec["versions"].as_array().cloned().unwrap_or_default();
    let storage: Vec<&Value> = versions.iter().filter(|v| v["storage"] == true).collect();
    if storage.len() != 1 {
        causes.push((
            "spec.versions".into(),
            "Invalid value: must have exactly one version marked as storage version".into(),
        ));
    }
    if !causes.is_empty() {
        return Err(causes);
    }
    let mut served: Vec<String> = Vec::new();
    let mut storage_name = String::new();
    for v in &versions {
        let n = v["name"].as_str().unwrap_or_default().to_string();
        if v["storage"] == true {
            storage_name = n.clone();
        }
        if v["served"] == true {
            served.push(n);
        }
    }
    // The storage version first, as discovery's preferred version (real servers sort by
    // version priority; for one-version CRDs this is the same).
    served.sort_by_key(|v| *v != storage_name);
    let first = storage.first().copied().unwrap_or(&Value::Null);
    let columns = first["additionalPrinterColumns"]
        .as_array()
        .map(|cols| {
            cols.iter()
                .map(|c| PrinterColumn {
                    name: c["name"].as_str().unwrap_or_default().into(),
                    kind: c["type"].as_str().unwrap_or("string").into(),
                    json_path: c["jsonPath"].as_str().unwrap_or_default().into(),
                    description: c["description"].as_str().unwrap_or_default().into(),
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(ResourceType {
        group,
        versions: served,
        singular: names["singular"]
            .as_str()
            .map(String::from)
            .unwrap_or_else(|| kind.to_lowercase()),
        plural,
        kind,
        namespaced: scope == "Namespaced",
        short_names: strings(&names["shortNames"]),
        categories: strings(&names["categories"]),
        status: first["subresources"]["status"].is_object(),
        log: false,
        columns,
        fields: Vec::new(),
        crd: Some(name.to_string()),
    })
}
