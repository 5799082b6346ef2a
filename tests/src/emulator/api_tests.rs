//! The API without HTTP: requests straight into [`Api::handle`].

use bytes::Bytes;
use serde_json::{Value, json};

use super::{Api, Incoming, Reply};
use crate::emulator::kubeconfig::Kubeconfigs;
use crate::emulator::store::Store;

struct Fixture {
    api: Api,
    token: String,
    _dir: tempfile::TempDir,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let kc = Kubeconfigs {
        dir: dir.path().to_path_buf(),
        server: "https://127.0.0.1:1".into(),
        ca_pem: "x".into(),
    };
    let api = Api::new(Store::new(100, 1 << 20, 100), kc, "127.0.0.1:1".into()).unwrap();
    let text = std::fs::read_to_string(dir.path().join("admin.kubeconfig")).unwrap();
    let token = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("token: "))
        .unwrap()
        .trim_matches('"')
        .to_string();
    Fixture {
        api,
        token,
        _dir: dir,
    }
}

impl Fixture {
    fn call(
        &mut self,
        method: &str,
        path_and_query: &str,
        content_type: &str,
        body: Value,
    ) -> (u16, Value) {
        let (path, q) = path_and_query
            .split_once('?')
            .unwrap_or((path_and_query, ""));
        let inc = Incoming {
            method: method.into(),
            path: path.into(),
            query: crate::emulator::request::query(q),
            content_type: content_type.into(),
            accept: "application/json".into(),
            token: Some(self.token.clone()),
            user_agent: "unit/1".into(),
            body: if body.is_null() {
                Bytes::new()
            } else {
                Bytes::from(body.to_string())
            },
        };
        match self.api.handle(&inc) {
            Reply::Json(code, v) => (code, v),
            Reply::Text(code, t) => (code, json!(t)),
            Reply::Bytes(code, _, _) => (code, Value::Null),
            Reply::Watch(w) => (200, json!(w.lines)),
        }
    }

    fn json(&mut self, method: &str, path: &str, body: Value) -> (u16, Value) {
        self.call(method, path, "application/json", body)
    }
}

fn crd() -> Value {
    json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {"group": "example.com", "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "shortNames": ["wd"]},
            "versions": [{"name": "v1", "served": true, "storage": true, "subresources": {"status": {}},
                "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                    "spec": {"type": "object", "properties": {"size": {"type": "integer"}}},
                    "status": {"type": "object", "properties": {"ok": {"type": "boolean"}}}}}}}]}})
}

const WIDGETS: &str = "/apis/example.com/v1/namespaces/default/widgets";

#[test]
fn custom_resource_lifecycle() {
    let mut f = fixture();
    assert_eq!(f.json("GET", WIDGETS, Value::Null).0, 404);
    assert_eq!(
        f.json(
            "POST",
            "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
            crd()
        )
        .0,
        201
    );
    let (code, list) = f.json("GET", "/apis/example.com/v1", Value::Null);
    assert_eq!(code, 200);
    assert_eq!(list["resources"][0]["shortNames"], json!(["wd"]));
    assert_eq!(list["resources"][1]["name"], "widgets/status");

    let w = json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"generateName": "w-"}, "spec": {"size": 1}});
    let (code, dry) = f.json("POST", &format!("{WIDGETS}?dryRun=All"), w.clone());
    assert_eq!(code, 201);
    assert!(dry["metadata"]["name"].as_str().unwrap().starts_with("w-"));
    assert_eq!(
        f.json("GET", WIDGETS, Value::Null).1["items"],
        json!([]),
        "a dry run stores nothing"
    );
    let (_, created) = f.json("POST", WIDGETS, w);
    let name = created["metadata"]["name"].as_str().unwrap().to_string();
    let item = format!("{WIDGETS}/{name}");

    // PUT without a resourceVersion is refused for custom resources; a stale one conflicts.
    let mut put = created.clone();
    put["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("resourceVersion");
    assert_eq!(f.json("PUT", &item, put).0, 422);
    let stale = json!({"metadata": {"resourceVersion": "1"}, "spec": {"size": 2}});
    assert_eq!(
        f.call("PATCH", &item, "application/merge-patch+json", stale)
            .0,
        409
    );
    assert_eq!(
        f.call(
            "PATCH",
            &item,
            "application/strategic-merge-patch+json",
            json!({"spec": {"size": 2}})
        )
        .0,
        415
    );
    let failing = json!([{"op": "test", "path": "/spec/size", "value": 5}]);
    assert_eq!(
        f.call("PATCH", &item, "application/json-patch+json", failing)
            .0,
        422
    );
    let (code, patched) = f.call(
        "PATCH",
        &item,
        "application/json-patch+json",
        json!([{"op": "replace", "path": "/spec/size", "value": 3}]),
    );
    assert_eq!(
        (code, patched["metadata"]["generation"].as_i64()),
        (200, Some(2))
    );
    let bad = json!({"spec": {"size": "three"}});
    assert_eq!(
        f.call("PATCH", &item, "application/merge-patch+json", bad)
            .0,
        422
    );

    // Deleting the CRD takes its objects and its routes.
    assert_eq!(
        f.json(
            "DELETE",
            "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.example.com",
            Value::Null
        )
        .0,
        200
    );
    assert_eq!(f.json("GET", &item, Value::Null).0, 404);
    assert_eq!(f.json("GET", "/apis/example.com/v1", Value::Null).0, 404);
}

#[test]
fn errors_and_watch_history() {
    let mut f = fixture();
    f.token = "nope".into();
    assert_eq!(f.json("GET", "/api/v1/pods", Value::Null).0, 401);
    let mut f = fixture();
    assert_eq!(
        f.json("GET", "/api/v1/pods?labelSelector=a%20in%20b", Value::Null)
            .0,
        400
    );
    let (_, list) = f.json("GET", "/api/v1/namespaces/default/configmaps", Value::Null);
    let rv = list["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_string();
    let cm = json!({"metadata": {"name": "c", "labels": {"a": "1"}}, "data": {"k": "v"}});
    assert_eq!(
        f.json("POST", "/api/v1/namespaces/default/configmaps", cm.clone())
            .0,
        201
    );
    let (code, exists) = f.json("POST", "/api/v1/namespaces/default/configmaps", cm);
    assert_eq!(
        (code, exists["reason"].as_str()),
        (409, Some("AlreadyExists"))
    );
    assert_eq!(
        f.call(
            "PATCH",
            "/api/v1/namespaces/default/configmaps/c",
            "application/strategic-merge-patch+json",
            json!({"data": {"k": "w"}})
        )
        .0,
        200
    );
    let (_, lines) = f.json("GET", &format!("/api/v1/namespaces/default/configmaps?watch=true&resourceVersion={rv}&labelSelector=a%3D1"), Value::Null);
    let types: Vec<String> = lines
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            serde_json::from_str::<Value>(l.as_str().unwrap()).unwrap()["type"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(types, ["ADDED", "MODIFIED"]);
    let (_, cms) = f.json(
        "GET",
        "/api/v1/configmaps?fieldSelector=metadata.namespace%3Ddefault",
        Value::Null,
    );
    assert_eq!(cms["items"][0]["data"]["k"], "w");
}

#[test]
fn paging_visits_every_object_once_across_namespaces() {
    let mut f = fixture();
    // "a" < "a-b" as namespace names, but "a/..." > "a-b/..." as strings.
    for ns in ["a", "a-b"] {
        f.json(
            "POST",
            "/api/v1/namespaces",
            json!({"metadata": {"name": ns}}),
        );
        for name in ["x", "y"] {
            let (code, _) = f.json(
                "POST",
                &format!("/api/v1/namespaces/{ns}/configmaps"),
                json!({"metadata": {"name": name}}),
            );
            assert_eq!(code, 201);
        }
    }
    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let (code, page) = f.json(
            "GET",
            &format!("/api/v1/configmaps?limit=1&continue={token}"),
            Value::Null,
        );
        assert_eq!(code, 200);
        for item in page["items"].as_array().unwrap() {
            seen.push(format!(
                "{}/{}",
                item["metadata"]["namespace"].as_str().unwrap(),
                item["metadata"]["name"].as_str().unwrap()
            ));
        }
        match page["metadata"]["continue"].as_str() {
            Some(t) => {
                token = t
                    .replace('=', "%3D")
                    .replace('+', "%2B")
                    .replace('/', "%2F")
            }
            None => break,
        }
    }
    assert_eq!(seen, ["a/x", "a/y", "a-b/x", "a-b/y"]);
}
