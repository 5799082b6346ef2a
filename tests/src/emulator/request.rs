//! From an HTTP request line to what it addresses: a discovery document or a resource path,
//! and the query parameters, percent-decoded.

use std::collections::BTreeMap;

/// A path under `/api/v1` or `/apis/<group>/<version>` that addresses resources.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourcePath {
    /// API group ("" for core).
    pub group: String,
    /// Version.
    pub version: String,
    /// Plural.
    pub plural: String,
    /// Namespace in the path, if any.
    pub namespace: Option<String>,
    /// Object name, if any.
    pub name: Option<String>,
    /// Subresource, if any.
    pub subresource: Option<String>,
}

/// What a path addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `/version`.
    Version,
    /// `/healthz`, `/readyz`, `/livez`.
    Health,
    /// `/api`.
    CoreVersions,
    /// `/apis`.
    Groups,
    /// `/apis/<group>`.
    Group(String),
    /// `/api/v1` or `/apis/<group>/<version>`.
    ResourceList(String, String),
    /// `/openapi/v2`, `/openapi/v3` and below.
    OpenApi(String),
    /// Objects.
    Resource(ResourcePath),
}

fn resource_route(group: &str, version: &str, segs: &[&str]) -> Option<Route> {
    let (namespace, rest) = match segs {
        ["namespaces", ns, rest @ ..]
            if !rest.is_empty() && !matches!(rest[0], "status" | "finalize") =>
        {
            (Some(ns.to_string()), rest)
        }
        _ => (None, segs),
    };
    let (plural, name, sub) = match rest {
        [] => return Some(Route::ResourceList(group.into(), version.into())),
        [p] => (p, None, None),
        [p, n] => (p, Some(n.to_string()), None),
        [p, n, s] => (p, Some(n.to_string()), Some(s.to_string())),
        _ => return None,
    };
    Some(Route::Resource(ResourcePath {
        group: group.into(),
        version: version.into(),
        plural: plural.to_string(),
        namespace,
        name,
        subresource: sub,
    }))
}

/// The route of a (percent-decoded) path, None for an unknown path.
pub fn route(path: &str) -> Option<Route> {
    let trimmed = path.trim_end_matches('/');
    let segs: Vec<&str> = trimmed.split('/').filter(|s| !s.is_empty()).collect();
    match segs.as_slice() {
        ["version"] => Some(Route::Version),
        ["healthz" | "readyz" | "livez", ..] => Some(Route::Health),
        ["api"] => Some(Route::CoreVersions),
        ["apis"] => Some(Route::Groups),
        ["openapi", ..] => Some(Route::OpenApi(trimmed.to_string())),
        ["api", "v1", rest @ ..] => resource_route("", "v1", rest),
        ["apis", group] => Some(Route::Group(group.to_string())),
        ["apis", group, version, rest @ ..] => resource_route(group, version, rest),
        _ => None,
    }
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).and_then(|d| u8::try_from(d).ok())
}

/// Percent-decodes a query component (`+` is a space).
pub fn decode(s: &str) -> String {
    decode_with(s, true)
}

/// Percent-decodes a path (`+` is itself).
pub fn decode_path(s: &str) -> String {
    decode_with(s, false)
}

fn decode_with(s: &str, plus_is_space: bool) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' if plus_is_space => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h * 16 + l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The query parameters (the last value of a repeated one wins).
pub fn query(q: &str) -> BTreeMap<String, String> {
    q.split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (decode(k), decode(v))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rp(
        group: &str,
        version: &str,
        plural: &str,
        ns: Option<&str>,
        name: Option<&str>,
        sub: Option<&str>,
    ) -> Option<Route> {
        Some(Route::Resource(ResourcePath {
            group: group.into(),
            version: version.into(),
            plural: plural.into(),
            namespace: ns.map(String::from),
            name: name.map(String::from),
            subresource: sub.map(String::from),
        }))
    }

    #[test]
    fn paths() {
        assert_eq!(
            route("/api/v1/namespaces"),
            rp("", "v1", "namespaces", None, None, None)
        );
        assert_eq!(
            route("/api/v1/namespaces/default"),
            rp("", "v1", "namespaces", None, Some("default"), None)
        );
        assert_eq!(
            route("/api/v1/namespaces/x/status"),
            rp("", "v1", "namespaces", None, Some("x"), Some("status"))
        );
        assert_eq!(
            route("/api/v1/namespaces/x/pods"),
            rp("", "v1", "pods", Some("x"), None, None)
        );
        assert_eq!(
            route("/api/v1/namespaces/x/pods/p/log"),
            rp("", "v1", "pods", Some("x"), Some("p"), Some("log"))
        );
        assert_eq!(
            route("/apis/agentlens.dev/v1alpha1/namespaces/x/agentdeployments/a/status"),
            rp(
                "agentlens.dev",
                "v1alpha1",
                "agentdeployments",
                Some("x"),
                Some("a"),
                Some("status")
            )
        );
        assert_eq!(
            route("/apis/apps/v1/deployments"),
            rp("apps", "v1", "deployments", None, None, None)
        );
        assert_eq!(
            route("/apis/apps/v1"),
            Some(Route::ResourceList("apps".into(), "v1".into()))
        );
        assert_eq!(route("/apis/apps"), Some(Route::Group("apps".into())));
        assert_eq!(route("/api/"), Some(Route::CoreVersions));
        assert_eq!(route("/nope"), None);
    }

    #[test]
    fn query_decoding() {
        let q = query("labelSelector=app%3Dweb%2Ctier+in+%28a%2Cb%29&watch=1&x");
        assert_eq!(q["labelSelector"], "app=web,tier in (a,b)");
        assert_eq!(q["watch"], "1");
        assert_eq!(q["x"], "");
        assert_eq!(decode("100%"), "100%");
        assert_eq!(decode_path("/a+b%2Fc"), "/a+b/c");
    }
}
