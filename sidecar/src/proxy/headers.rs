//! Header rewriting on the way through: hop-by-hop headers removed (RFC 9110 7.6.1), upgrades
//! recognised, `X-Forwarded-*` added.

use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};

/// Whether the request asks for a protocol upgrade (WebSocket).
pub(super) fn is_upgrade(h: &HeaderMap) -> bool {
    h.contains_key(header::UPGRADE)
        && h.get_all(header::CONNECTION).iter().any(|v| {
            v.to_str().is_ok_and(|s| {
                s.split(',')
                    .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
            })
        })
}

/// Content types of answers streamed as they are generated (Server-Sent Events, the NDJSON
/// streams of Ollama and others): their whole-body time is the length of the answer, so the
/// latency that matters is the time to the first byte.
const STREAMED_TYPES: [&str; 3] = [
    "text/event-stream",
    "application/x-ndjson",
    "application/jsonl",
];

/// The `streamed` label of a response: `"true"` for the [`STREAMED_TYPES`], else `"false"`.
pub(super) fn streamed(h: &HeaderMap) -> &'static str {
    let streamed = h
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or_default().trim())
        .is_some_and(|t| STREAMED_TYPES.iter().any(|s| t.eq_ignore_ascii_case(s)));
    if streamed { "true" } else { "false" }
}

/// Removes the headers that belong to one hop (RFC 9110 7.6.1), keeping `Connection: upgrade`
/// and `Upgrade` on an upgrade request and `TE: trailers` (gRPC).
pub(super) fn strip_hop_by_hop(h: &mut HeaderMap, upgrade: bool) {
    const HOP: [&str; 8] = [
        "connection",
        "keep-alive",
        "proxy-connection",
        "transfer-encoding",
        "trailer",
        "proxy-authenticate",
        "te",
        "upgrade",
    ];
    // The common case has none of them: one pass over the names, no lookups.
    if !upgrade && !h.keys().any(|k| HOP.contains(&k.as_str())) {
        return;
    }
    let named: Vec<HeaderName> = h
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|s| s.split(','))
        .filter_map(|t| HeaderName::from_bytes(t.trim().as_bytes()).ok())
        .filter(|n| !(upgrade && n == header::UPGRADE))
        .collect();
    for n in named {
        h.remove(n);
    }
    for n in [
        "keep-alive",
        "proxy-connection",
        "transfer-encoding",
        "trailer",
        "proxy-authenticate",
    ] {
        h.remove(n);
    }
    if h.get(header::TE)
        .is_some_and(|v| !v.as_bytes().eq_ignore_ascii_case(b"trailers"))
    {
        h.remove(header::TE);
    }
    if upgrade {
        h.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    } else {
        h.remove(header::CONNECTION);
        h.remove(header::UPGRADE);
    }
}

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");

/// Adds `X-Forwarded-For` (appending `ip`), `-Proto` and `-Host` (when not set).
pub(super) fn forwarded_headers(h: &mut HeaderMap, ip: &HeaderValue, host: Option<HeaderValue>) {
    let xff = match h.get(&X_FORWARDED_FOR).and_then(|v| v.to_str().ok()) {
        Some(prev) if !prev.trim().is_empty() => {
            HeaderValue::from_str(&format!("{prev}, {}", ip.to_str().unwrap_or("unknown"))).ok()
        }
        _ => Some(ip.clone()),
    };
    if let Some(v) = xff {
        h.insert(X_FORWARDED_FOR, v);
    }
    if !h.contains_key(&X_FORWARDED_PROTO) {
        h.insert(X_FORWARDED_PROTO, HeaderValue::from_static("http"));
    }
    if let Some(host) = host
        && !h.contains_key(&X_FORWARDED_HOST)
    {
        h.insert(X_FORWARDED_HOST, host);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streamed_answers_are_told_by_their_content_type() {
        for (content_type, expected) in [
            (Some("text/event-stream"), "true"),
            (Some("text/event-stream; charset=utf-8"), "true"),
            (Some("Text/Event-Stream"), "true"),
            (Some("application/x-ndjson"), "true"),
            (Some("application/json"), "false"),
            (Some("text/plain"), "false"),
            (None, "false"),
        ] {
            let mut h = HeaderMap::new();
            if let Some(t) = content_type {
                h.insert(header::CONTENT_TYPE, HeaderValue::from_static(t));
            }
            assert_eq!(streamed(&h), expected, "{content_type:?}");
        }
    }
}
