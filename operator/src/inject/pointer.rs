//! JSON Pointer (RFC 6901) path building.

/// Escapes one path segment: `~` → `~0`, `/` → `~1`.
pub fn escape(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

/// `/a/b/c` from segments, each escaped.
pub fn path(segments: &[&str]) -> String {
    segments.iter().map(|s| format!("/{}", escape(s))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping() {
        assert_eq!(
            path(&["metadata", "annotations", "agentlens.dev/injected"]),
            "/metadata/annotations/agentlens.dev~1injected"
        );
        assert_eq!(escape("a~b/c"), "a~0b~1c");
    }
}
