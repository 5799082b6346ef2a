//! The bounded `route` and `method` label values of the proxy's request metrics.
//!
//! A path is labelled by the first configured template it matches (`*` matches one segment,
//! a trailing `**` any rest), else by its first segment (`/v1`). At most [`MAX_ROUTES`]
//! distinct values are ever handed out (templates first, then first segments as they come);
//! later new ones become `other`, so a scanner walking random paths cannot grow the series
//! count.

use std::collections::HashMap;
use std::sync::Arc;

/// Most distinct route label values.
pub const MAX_ROUTES: usize = 64;
/// The label for everything past the limit.
pub const OTHER: &str = "other";
/// Longest label value; longer first segments are labelled `other`.
const MAX_SEGMENT: usize = 64;

/// Route labelling state.
#[derive(Debug, Clone)]
pub struct Routes {
    templates: Vec<(Arc<str>, Vec<String>)>,
    /// Label by first segment, so the hot path allocates nothing.
    seen: HashMap<Box<str>, Arc<str>>,
    other: Arc<str>,
    root: Arc<str>,
}

impl Routes {
    /// Templates such as `/v1/chat/*` or `/api/**`; empty strings are ignored.
    pub fn new(templates: &[String]) -> Self {
        let templates = templates
            .iter()
            .map(|t| t.trim())
            .filter(|t| !t.is_empty())
            .take(MAX_ROUTES)
            .map(|t| (Arc::from(t), segments(t).map(str::to_string).collect()))
            .collect();
        Self {
            templates,
            seen: HashMap::new(),
            other: Arc::from(OTHER),
            root: Arc::from("/"),
        }
    }

    /// The label for `path` (no query string).
    pub fn label(&mut self, path: &str) -> Arc<str> {
        if !self.templates.is_empty() {
            let segs: Vec<&str> = segments(path).collect();
            for (text, t) in &self.templates {
                if matches(t, &segs) {
                    return text.clone();
                }
            }
        }
        let Some(first) = segments(path).next() else {
            return self.root.clone();
        };
        if let Some(l) = self.seen.get(first) {
            return l.clone();
        }
        if first.len() > MAX_SEGMENT
            || !first.bytes().all(|b| b.is_ascii_graphic() && b != b'"')
            || self.seen.len() + self.templates.len() >= MAX_ROUTES
        {
            return self.other.clone();
        }
        let label: Arc<str> = Arc::from(format!("/{first}"));
        self.seen.insert(Box::from(first), label.clone());
        label
    }
}

fn segments(path: &str) -> impl Iterator<Item = &str> {
    path.split('/').filter(|s| !s.is_empty())
}

fn matches(template: &[String], path: &[&str]) -> bool {
    let mut i = 0;
    for (n, t) in template.iter().enumerate() {
        if t == "**" && n == template.len() - 1 {
            return true;
        }
        match path.get(i) {
            Some(p) if t == "*" || t == p => i += 1,
            _ => return false,
        }
    }
    i == path.len()
}

/// The method as a bounded label value.
pub fn method(m: &hyper::Method) -> &'static str {
    match *m {
        hyper::Method::GET => "GET",
        hyper::Method::POST => "POST",
        hyper::Method::PUT => "PUT",
        hyper::Method::DELETE => "DELETE",
        hyper::Method::PATCH => "PATCH",
        hyper::Method::HEAD => "HEAD",
        hyper::Method::OPTIONS => "OPTIONS",
        hyper::Method::CONNECT => "CONNECT",
        hyper::Method::TRACE => "TRACE",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_then_first_segment_then_other() {
        let mut r = Routes::new(&[
            "/v1/chat/*".to_string(),
            "/v1/models/*/versions/*".to_string(),
            "/api/**".to_string(),
            " ".to_string(),
        ]);
        let cases = [
            ("/v1/chat/completions", "/v1/chat/*"),
            ("/v1/chat/completions/", "/v1/chat/*"),
            ("/v1/chat", "/v1"),
            ("/v1/chat/a/b", "/v1"),
            ("/v1/models/llama/versions/3", "/v1/models/*/versions/*"),
            ("/api", "/api/**"),
            ("/api/x/y/z", "/api/**"),
            ("/", "/"),
            ("", "/"),
            ("/healthz", "/healthz"),
            ("//metrics", "/metrics"),
            (&format!("/{}", "a".repeat(65)), "other"),
            ("/bad\"quote", "other"),
        ];
        for (path, want) in cases {
            assert_eq!(&*r.label(path), want, "{path}");
        }
    }

    #[test]
    fn at_most_64_distinct_values() {
        let mut r = Routes::new(&["/v1/chat/*".to_string()]);
        let mut labels = std::collections::HashSet::new();
        for i in 0..1000 {
            labels.insert(r.label(&format!("/scan{i}/x")));
        }
        assert_eq!(labels.len(), MAX_ROUTES, "63 first segments and other");
        // Routes already seen keep their label, templates always have theirs.
        assert_eq!(&*r.label("/scan3"), "/scan3");
        assert_eq!(&*r.label("/v1/chat/completions"), "/v1/chat/*");
        assert_eq!(&*r.label("/new"), OTHER);
    }

    #[test]
    fn methods_are_bounded() {
        assert_eq!(method(&hyper::Method::POST), "POST");
        assert_eq!(
            method(&hyper::Method::from_bytes(b"PROPFIND").unwrap()),
            "other"
        );
    }
}
