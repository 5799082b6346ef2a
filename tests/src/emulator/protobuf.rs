//! Protobuf request bodies of the few built-in kinds that client-go's typed clients write in
//! the flows the tests run: Secrets and ConfigMaps (Helm's release storage) and Namespaces
//! (`kubectl create namespace`). The body is the API server's envelope (`k8s\0` then a
//! `runtime.Unknown` holding the object's bytes); it is turned into the JSON the rest of the
//! emulator reads. Other kinds stay `415` (the caller says so). Fields are those of
//! `k8s.io/api/core/v1/generated.proto` and `apimachinery/.../meta/v1/generated.proto`;
//! fields a test never sends (ownerReferences, managedFields, timestamps) are skipped.

use std::collections::BTreeMap;

use base64::Engine;
use prost::Message;
use serde_json::{Map, Value, json};

/// The envelope's first bytes.
const MAGIC: &[u8] = b"k8s\0";

#[derive(Clone, PartialEq, Message)]
struct Unknown {
    #[prost(message, optional, tag = "1")]
    type_meta: Option<TypeMeta>,
    #[prost(bytes = "vec", tag = "2")]
    raw: Vec<u8>,
}

#[derive(Clone, PartialEq, Message)]
struct TypeMeta {
    #[prost(string, tag = "1")]
    api_version: String,
    #[prost(string, tag = "2")]
    kind: String,
}

#[derive(Clone, PartialEq, Message)]
struct ObjectMeta {
    #[prost(string, tag = "1")]
    name: String,
    #[prost(string, tag = "2")]
    generate_name: String,
    #[prost(string, tag = "3")]
    namespace: String,
    #[prost(string, tag = "6")]
    resource_version: String,
    #[prost(btree_map = "string, string", tag = "11")]
    labels: BTreeMap<String, String>,
    #[prost(btree_map = "string, string", tag = "12")]
    annotations: BTreeMap<String, String>,
    #[prost(string, repeated, tag = "14")]
    finalizers: Vec<String>,
}

#[derive(Clone, PartialEq, Message)]
struct Secret {
    #[prost(message, optional, tag = "1")]
    metadata: Option<ObjectMeta>,
    #[prost(btree_map = "string, bytes", tag = "2")]
    data: BTreeMap<String, Vec<u8>>,
    #[prost(string, tag = "3")]
    r#type: String,
    #[prost(btree_map = "string, string", tag = "4")]
    string_data: BTreeMap<String, String>,
    #[prost(bool, optional, tag = "5")]
    immutable: Option<bool>,
}

#[derive(Clone, PartialEq, Message)]
struct ConfigMap {
    #[prost(message, optional, tag = "1")]
    metadata: Option<ObjectMeta>,
    #[prost(btree_map = "string, string", tag = "2")]
    data: BTreeMap<String, String>,
    #[prost(btree_map = "string, bytes", tag = "3")]
    binary_data: BTreeMap<String, Vec<u8>>,
    #[prost(bool, optional, tag = "4")]
    immutable: Option<bool>,
}

#[derive(Clone, PartialEq, Message)]
struct Namespace {
    #[prost(message, optional, tag = "1")]
    metadata: Option<ObjectMeta>,
    #[prost(message, optional, tag = "2")]
    spec: Option<NamespaceSpec>,
}

#[derive(Clone, PartialEq, Message)]
struct NamespaceSpec {
    #[prost(string, repeated, tag = "1")]
    finalizers: Vec<String>,
}

/// The JSON object a protobuf body of a Secret, ConfigMap or Namespace stands for; `Err` with
/// the reason for anything else.
pub fn to_json(body: &[u8]) -> Result<Value, String> {
    let inner = body
        .strip_prefix(MAGIC)
        .ok_or("not a Kubernetes protobuf envelope")?;
    let unknown = Unknown::decode(inner).map_err(|e| e.to_string())?;
    let tm = unknown.type_meta.unwrap_or_default();
    let raw = unknown.raw.as_slice();
    let b64 = |m: BTreeMap<String, Vec<u8>>| -> Value {
        m.into_iter()
            .map(|(k, v)| {
                (
                    k,
                    Value::String(base64::engine::general_purpose::STANDARD.encode(v)),
                )
            })
            .collect::<Map<_, _>>()
            .into()
    };
    let mut v = match (tm.api_version.as_str(), tm.kind.as_str()) {
        ("v1", "Secret") => {
            let s = Secret::decode(raw).map_err(|e| e.to_string())?;
            let mut v = json!({"metadata": meta(s.metadata), "type": s.r#type});
            put(&mut v, "data", b64(s.data));
            put(&mut v, "stringData", json!(s.string_data));
            if let Some(i) = s.immutable {
                v["immutable"] = json!(i);
            }
            v
        }
        ("v1", "ConfigMap") => {
            let c = ConfigMap::decode(raw).map_err(|e| e.to_string())?;
            let mut v = json!({"metadata": meta(c.metadata)});
            put(&mut v, "data", json!(c.data));
            put(&mut v, "binaryData", b64(c.binary_data));
            if let Some(i) = c.immutable {
                v["immutable"] = json!(i);
            }
            v
        }
        ("v1", "Namespace") => {
            let n = Namespace::decode(raw).map_err(|e| e.to_string())?;
            let mut v = json!({"metadata": meta(n.metadata)});
            let finalizers = n.spec.unwrap_or_default().finalizers;
            if !finalizers.is_empty() {
                v["spec"] = json!({"finalizers": finalizers});
            }
            v
        }
        (av, kind) => return Err(format!("protobuf bodies of {av} {kind} are not decoded")),
    };
    v["apiVersion"] = json!(tm.api_version);
    v["kind"] = json!(tm.kind);
    Ok(v)
}

/// Sets `key` unless the map is empty (JSON clients leave empty maps out too).
fn put(v: &mut Value, key: &str, m: Value) {
    if m.as_object().is_some_and(|o| !o.is_empty()) {
        v[key] = m;
    }
}

fn meta(m: Option<ObjectMeta>) -> Value {
    let m = m.unwrap_or_default();
    let mut v = json!({});
    for (key, value) in [
        ("name", m.name),
        ("generateName", m.generate_name),
        ("namespace", m.namespace),
        ("resourceVersion", m.resource_version),
    ] {
        if !value.is_empty() {
            v[key] = json!(value);
        }
    }
    put(&mut v, "labels", json!(m.labels));
    put(&mut v, "annotations", json!(m.annotations));
    if !m.finalizers.is_empty() {
        v["finalizers"] = json!(m.finalizers);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envelope(kind: &str, raw: Vec<u8>) -> Vec<u8> {
        let mut body = MAGIC.to_vec();
        Unknown {
            type_meta: Some(TypeMeta {
                api_version: "v1".into(),
                kind: kind.into(),
            }),
            raw,
        }
        .encode(&mut body)
        .unwrap();
        body
    }

    #[test]
    fn a_helm_release_secret_becomes_its_json() {
        let secret = Secret {
            metadata: Some(ObjectMeta {
                name: "sh.helm.release.v1.agentlens.v1".into(),
                namespace: "agentlens-system".into(),
                labels: [("owner".to_string(), "helm".to_string())].into(),
                ..Default::default()
            }),
            data: [("release".to_string(), b"H4sI".to_vec())].into(),
            r#type: "helm.sh/release.v1".into(),
            ..Default::default()
        };
        let v = to_json(&envelope("Secret", secret.encode_to_vec())).unwrap();
        assert_eq!(
            v,
            json!({"apiVersion": "v1", "kind": "Secret", "type": "helm.sh/release.v1",
                "metadata": {"name": "sh.helm.release.v1.agentlens.v1",
                    "namespace": "agentlens-system", "labels": {"owner": "helm"}},
                "data": {"release": "SDRzSQ=="}})
        );
    }

    #[test]
    fn a_namespace_and_a_config_map_decode_and_other_kinds_do_not() {
        let ns = Namespace {
            metadata: Some(ObjectMeta {
                name: "invoice-rpa".into(),
                ..Default::default()
            }),
            spec: None,
        };
        let v = to_json(&envelope("Namespace", ns.encode_to_vec())).unwrap();
        assert_eq!(
            v,
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "invoice-rpa"}})
        );
        let cm = ConfigMap {
            metadata: Some(ObjectMeta::default()),
            data: [("a".to_string(), "b".to_string())].into(),
            ..Default::default()
        };
        let v = to_json(&envelope("ConfigMap", cm.encode_to_vec())).unwrap();
        assert_eq!(v["data"], json!({"a": "b"}));
        assert!(to_json(&envelope("Pod", vec![])).is_err());
        assert!(to_json(b"{}").is_err());
    }
}
