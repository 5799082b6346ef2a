//! The OpenAPI v3 documents kubectl reads before `apply`: the root (`/openapi/v3`, one entry per
//! group version) and per group version the PATCH operation of each resource with its
//! `fieldValidation` parameter, from which kubectl learns that the server validates fields
//! itself (it then sends `fieldValidation=Strict` and skips client-side validation). No
//! schemas are published: `kubectl explain` does not work, and kubectl's client-side apply
//! computes merge patches without schema knowledge.

use serde_json::{Map, Value, json};

use super::resources::ResourceType;

/// The content type of the OpenAPI v2 document kubectl asks for.
pub const V2_PROTOBUF: &str = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf";

fn gv_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

/// FNV-1a of the resources a group version serves: changes when they change.
fn hash(types: &[&ResourceType]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for t in types {
        for b in t.plural.bytes().chain(t.kind.bytes()).chain([b'/']) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x100_0000_01b3);
        }
    }
    format!("{h:016X}")
}

fn in_gv<'a>(types: &'a [ResourceType], group: &str, version: &str) -> Vec<&'a ResourceType> {
    types
        .iter()
        .filter(|t| t.group == group && t.versions.iter().any(|v| v == version))
        .collect()
}

/// `/openapi/v3`.
pub fn root(types: &[ResourceType]) -> Value {
    let mut gvs: Vec<(String, String)> = types
        .iter()
        .flat_map(|t| t.versions.iter().map(move |v| (t.group.clone(), v.clone())))
        .collect();
    gvs.sort();
    gvs.dedup();
    let mut paths = Map::new();
    for (g, v) in gvs {
        let p = gv_path(&g, &v);
        let url = format!("/openapi/v3/{p}?hash={}", hash(&in_gv(types, &g, &v)));
        paths.insert(p, json!({"serverRelativeURL": url}));
    }
    json!({"paths": paths})
}

/// `/openapi/v3/api/v1` or `/openapi/v3/apis/<group>/<version>`; None for an unknown one.
pub fn group_version(types: &[ResourceType], path: &str) -> Option<Value> {
    let rest = path.trim_start_matches("/openapi/v3/");
    let (group, version) = match rest.split('/').collect::<Vec<_>>().as_slice() {
        ["api", v] => (String::new(), v.to_string()),
        ["apis", g, v] => (g.to_string(), v.to_string()),
        _ => return None,
    };
    let served = in_gv(types, &group, &version);
    if served.is_empty() {
        return None;
    }
    let mut paths = Map::new();
    for t in served {
        let gvk = json!({"group": t.group, "version": version, "kind": t.kind});
        let prefix = format!("/{}", gv_path(&group, &version));
        let item = if t.namespaced {
            format!("{prefix}/namespaces/{{namespace}}/{}/{{name}}", t.plural)
        } else {
            format!("{prefix}/{}/{{name}}", t.plural)
        };
        let op = json!({
            "operationId": format!("patch{}", t.kind),
            "x-kubernetes-action": "patch",
            "x-kubernetes-group-version-kind": gvk,
            "parameters": [
                {"name": "dryRun", "in": "query", "schema": {"type": "string", "uniqueItems": true}},
                {"name": "fieldManager", "in": "query", "schema": {"type": "string", "uniqueItems": true}},
                {"name": "fieldValidation", "in": "query", "schema": {"type": "string", "uniqueItems": true}},
                {"name": "force", "in": "query", "schema": {"type": "boolean", "uniqueItems": true}}
            ],
            "responses": {"200": {"description": "OK"}}
        });
        paths.insert(item, json!({"patch": op}));
    }
    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.35.0"},
        "paths": paths,
        "components": {"schemas": {}}
    }))
}
