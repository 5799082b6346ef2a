//! A minimal Kubernetes API server over plain HTTP on loopback, for driving real clients (helm,
//! `kubectl-agentlens`) without a cluster: fixed answers by path, a `Status` 404 for the rest.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;

use serde_json::{Value, json};

/// A fixed answer: HTTP status and JSON body.
#[derive(Clone, Debug)]
pub struct Answer {
    /// HTTP status code.
    pub code: u16,
    /// The JSON body.
    pub body: Value,
}

impl Answer {
    /// 200 with `body`.
    pub fn ok(body: Value) -> Self {
        Self { code: 200, body }
    }

    /// A Kubernetes `Status` error (`reason` such as `NotFound`, `Forbidden`).
    pub fn status(code: u16, reason: &str, message: &str) -> Self {
        Self {
            code,
            body: json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                         "reason": reason, "message": message, "code": code}),
        }
    }
}

/// Discovery documents (`/version`, `/api`, `/apis`, and one resource list per group version)
/// for `kinds`: (group version, plural, kind, namespaced).
pub fn discovery(kinds: &[(&str, &str, &str, bool)]) -> BTreeMap<String, Answer> {
    let mut gvs: Vec<&str> = kinds.iter().map(|k| k.0).collect();
    gvs.dedup();
    let mut out = BTreeMap::new();
    out.insert(
        "/version".into(),
        Answer::ok(json!({"major": "1", "minor": "32", "gitVersion": "v1.32.0"})),
    );
    out.insert(
        "/api".into(),
        Answer::ok(json!({"kind": "APIVersions", "versions": ["v1"]})),
    );
    let groups: Vec<Value> = gvs
        .iter()
        .filter_map(|gv| gv.split_once('/'))
        .map(|(g, v)| {
            let version = json!({"groupVersion": format!("{g}/{v}"), "version": v});
            json!({"name": g, "versions": [version.clone()], "preferredVersion": version})
        })
        .collect();
    out.insert(
        "/apis".into(),
        Answer::ok(json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})),
    );
    for gv in gvs {
        let resources: Vec<Value> = kinds
            .iter()
            .filter(|k| k.0 == gv)
            .map(|(_, plural, kind, namespaced)| {
                json!({"name": plural, "singularName": "", "namespaced": namespaced,
                       "kind": kind, "verbs": ["get", "list"]})
            })
            .collect();
        let path = if gv.contains('/') {
            format!("/apis/{gv}")
        } else {
            format!("/api/{gv}")
        };
        out.insert(
            path,
            Answer::ok(
                json!({"kind": "APIResourceList", "groupVersion": gv, "resources": resources}),
            ),
        );
    }
    out
}

fn serve_connection(stream: TcpStream, routes: &BTreeMap<String, Answer>) {
    let Ok(read_half) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(read_half);
    let mut out = stream;
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header).unwrap_or(0) == 0 {
                return;
            }
            if header == "\r\n" {
                break;
            }
        }
        let target = request_line.split(' ').nth(1).unwrap_or("/");
        let path = target.split('?').next().unwrap_or_default();
        let answer = routes.get(path).cloned().unwrap_or_else(|| {
            Answer::status(
                404,
                "NotFound",
                "the server could not find the requested resource",
            )
        });
        let body = answer.body.to_string();
        let head = format!(
            "HTTP/1.1 {} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            answer.code,
            body.len()
        );
        if out.write_all(head.as_bytes()).is_err() || out.write_all(body.as_bytes()).is_err() {
            return;
        }
    }
}

/// Serves `routes` (exact paths, query ignored) on a free loopback port; returns the URL. The
/// server lives until the test process ends.
pub fn start(routes: BTreeMap<String, Answer>) -> std::io::Result<String> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let routes = Arc::new(routes);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let routes = routes.clone();
            std::thread::spawn(move || serve_connection(stream, &routes));
        }
    });
    Ok(format!("http://{addr}"))
}

/// A kubeconfig file in `dir` that points at `server` (token auth, context `fake`, namespace
/// `namespace` when given).
pub fn kubeconfig(
    dir: &std::path::Path,
    server: &str,
    namespace: Option<&str>,
) -> std::io::Result<std::path::PathBuf> {
    let ns = namespace.map_or(String::new(), |n| format!(", namespace: {n}"));
    let path = dir.join("kubeconfig");
    std::fs::write(
        &path,
        format!(
            "apiVersion: v1\nkind: Config\nclusters: [{{name: fake, cluster: {{server: \"{server}\"}}}}]\nusers: [{{name: u, user: {{token: t}}}}]\ncontexts: [{{name: fake, context: {{cluster: fake, user: u{ns}}}}}]\ncurrent-context: fake\n"
        ),
    )?;
    Ok(path)
}
