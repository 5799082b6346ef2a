//! Reading exception headers and frames of the languages the assembler knows.

use super::block::Language;
use agentlens_crds::text::truncate;

/// `java.lang.IllegalStateException: msg`, `Exception in thread "main" x.Y: msg`,
/// `TypeError: msg`, `Uncaught Error: msg` → (type, message). JVM types are dotted; Node types
/// are a single identifier ending in `Error` or `Exception`.
pub fn exception_header(content: &str) -> Option<(String, String)> {
    let mut s = content.trim_end();
    if let Some(rest) = s.strip_prefix("Exception in thread \"")
        && let Some((_, after)) = rest.split_once("\" ")
    {
        s = after;
    }
    s = s.strip_prefix("Uncaught ").unwrap_or(s);
    let (token, message) = match s.split_once(": ") {
        Some((t, m)) => (t, m),
        None => (s.strip_suffix(':').unwrap_or(s), ""),
    };
    let valid = !token.is_empty()
        && token.len() <= 256
        && token
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '$')
        && token
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '$' | '.'));
    if !valid {
        return None;
    }
    let last = token.rsplit('.').next().unwrap_or(token);
    let looks_like = if token.contains('.') {
        ["Exception", "Error", "Throwable"]
            .iter()
            .any(|w| last.contains(w))
    } else {
        last.ends_with("Error") || last.ends_with("Exception")
    };
    looks_like.then(|| (token.to_string(), message.to_string()))
}

/// Which language an `at …` frame belongs to, when its shape says.
pub fn frame_language(frame: &str) -> Option<Language> {
    let f = frame.trim_start_matches("at ");
    if [
        ".java:",
        ".kt:",
        ".scala:",
        ".groovy:",
        "(Native Method)",
        "(Unknown Source)",
        "(<generated>)",
    ]
    .iter()
    .any(|p| f.contains(p))
    {
        return Some(Language::Java);
    }
    if ["node:", ".js:", ".mjs:", ".cjs:", ".ts:", "<anonymous>"]
        .iter()
        .any(|p| f.contains(p))
    {
        return Some(Language::Node);
    }
    None
}

/// A Python exception line: `torch.OutOfMemoryError: CUDA out of memory…` → (type, message).
/// `None` when the line is not shaped like one (the block was not a traceback after all).
pub fn python_exception(line: &str) -> Option<(String, String)> {
    let line = line.trim();
    // Class names are CamelCase: `INFO: …` and `RESOURCE_EXHAUSTED: …` are not exceptions.
    let is_type = |t: &str| {
        !t.is_empty()
            && t.chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && t.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
            && t.rsplit('.')
                .next()
                .is_some_and(|last| last.bytes().any(|c| c.is_ascii_lowercase()))
    };
    match line.split_once(": ") {
        Some((t, m)) if is_type(t) => Some((truncate(t, 256), truncate(m, 512))),
        _ => {
            let t = line.strip_suffix(':').unwrap_or(line);
            is_type(t).then(|| (truncate(t, 256), String::new()))
        }
    }
}

/// Whether a Go function line is in the runtime (not where the program panicked).
pub fn go_runtime_frame(line: &str) -> bool {
    line.starts_with("runtime.") || line.starts_with("panic(")
}

/// A frame made comparable across installations and runs: virtualenv and site-packages paths
/// cut to the package, addresses and Go offsets dropped.
pub fn normalise(frame: &str) -> String {
    let mut f = frame.trim().to_string();
    for marker in [
        "site-packages/",
        "dist-packages/",
        "site-packages\\",
        "node_modules/",
    ] {
        if let Some(pos) = f.rfind(marker) {
            // Keep `File "` in front of the package path.
            let head = if f.starts_with("File \"") {
                "File \""
            } else {
                ""
            };
            f = format!("{head}{}", &f[pos + marker.len()..]);
        }
    }
    // Python reprs: `<function LanguageModel.__del__ at 0x125a1273a340>`.
    if let Some(pos) = f.find(" at 0x")
        && f.ends_with('>')
    {
        let end = f[pos + 6..]
            .find(|c: char| !c.is_ascii_hexdigit())
            .map_or(f.len(), |e| pos + 6 + e);
        f.replace_range(pos + 6..end, "…");
    }
    // Go: `main.go:69 +0x1af`, `(0xc000228000, 0xa1)`.
    if let Some(pos) = f.find(" +0x") {
        f.truncate(pos);
    }
    if let (Some(open), true) = (f.rfind('('), f.ends_with(')'))
        && f[open..].contains("0x")
    {
        f.truncate(open);
        f.push_str("(…)");
    }
    truncate(&f, 512)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers() {
        assert_eq!(
            exception_header("Exception in thread \"main\" java.lang.NullPointerException"),
            Some(("java.lang.NullPointerException".into(), String::new()))
        );
        assert_eq!(
            exception_header("TypeError: Cannot read properties of undefined (reading 'x')"),
            Some((
                "TypeError".into(),
                "Cannot read properties of undefined (reading 'x')".into()
            ))
        );
        assert_eq!(exception_header("ERROR: connection refused"), None);
        assert_eq!(exception_header("Some text: with Error"), None);
        assert_eq!(exception_header("org.example.Thing: no"), None);
    }

    #[test]
    fn python_lines() {
        assert_eq!(
            python_exception("torch.OutOfMemoryError: CUDA out of memory."),
            Some((
                "torch.OutOfMemoryError".into(),
                "CUDA out of memory.".into()
            ))
        );
        assert_eq!(
            python_exception("KeyboardInterrupt"),
            Some(("KeyboardInterrupt".into(), String::new()))
        );
        assert_eq!(python_exception("/usr/lib/x.py in f(a, b)"), None);
        assert_eq!(python_exception("INFO: 127.0.0.1 - GET /"), None);
        assert_eq!(
            python_exception("RESOURCE_EXHAUSTED: Out of memory while trying to allocate"),
            None
        );
    }

    #[test]
    fn normalised_frames() {
        assert_eq!(
            normalise(
                "File \"/opt/conda/lib/python3.10/site-packages/torch/nn/modules/linear.py\", line 114, in forward"
            ),
            "File \"torch/nn/modules/linear.py\", line 114, in forward"
        );
        assert_eq!(normalise("\t/app/main.go:69 +0x1af"), "/app/main.go:69");
        assert_eq!(
            normalise("Exception ignored in: <function LanguageModel.__del__ at 0x125a1273a340>"),
            "Exception ignored in: <function LanguageModel.__del__ at 0x…>"
        );
        assert_eq!(
            normalise("main.ReadRoutines(0xc000228000, 0xa1, 0x200)"),
            "main.ReadRoutines(…)"
        );
    }
}
