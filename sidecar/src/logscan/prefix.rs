//! Line prefixes: what a logging layer puts in front of the text a program wrote (timestamps,
//! CRI stream tags, log levels, `[rank0]:`, `(VllmWorkerProcess pid=…)`, `docker compose`
//! service names), and whether two lines carry a prefix of the same source.
//!
//! A prefix is compared by shape: runs of a timestamp (digits with `-`, `:`, `.`, `,` or `/`
//! between them) may differ in value and length from line to line, a leading line number may
//! differ, every other character must be equal. So `[rank0]: ` and `[rank1]: `, or
//! `(node:1684) ` and `(node:1700) `, are different sources; two CRI timestamps are not.

/// Longest prefix considered, in bytes: a longer "prefix" is text, not a log layer's.
pub const MAX_PREFIX_BYTES: usize = 200;

const LEVELS: &[&str] = &[
    "ERROR", "WARNING", "WARN", "INFO", "DEBUG", "FATAL", "CRITICAL", "TRACE",
];

/// Length in bytes of the generic log prefix at the start of `line` (0 when none).
pub fn generic_len(line: &str) -> usize {
    let b = line.as_bytes();
    let mut i = 0;
    // `vllm-1  | ` (docker compose), `2024-04-27 10:13:05 | ERROR | stderr | ` (loguru).
    let window = &b[..b.len().min(80)];
    if let Some(pos) = memchr::memmem::rfind(window, b" | ") {
        i = pos + 3;
    }
    let mut saw_timestamp = false;
    for _ in 0..8 {
        let rest = &b[i..];
        let step = timestamp(rest)
            .inspect(|_| saw_timestamp = true)
            .or_else(|| saw_timestamp.then(|| cri_tag(rest)).flatten())
            .or_else(|| bracketed(rest, b'[', b']', |_| true))
            .or_else(|| bracketed(rest, b'(', b')', is_process_tag))
            .or_else(|| level(rest))
            .or_else(|| source_location(rest));
        match step {
            Some(n) if n > 0 && i + n <= MAX_PREFIX_BYTES => i += n,
            _ => break,
        }
    }
    // Never cut inside a character.
    while !line.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn spaces(b: &[u8]) -> usize {
    b.iter().take_while(|c| **c == b' ' || **c == b'\t').count()
}

/// `2024-05-01T12:00:00.123Z `, `11-18 18:07:28 `, `15:01:44.577626: `.
fn timestamp(b: &[u8]) -> Option<usize> {
    if !b.first()?.is_ascii_digit() {
        return None;
    }
    let mut n = run_end(b, 0);
    // `T`, `Z`, `+03:00` glued to a date or time.
    while let Some(&c) = b.get(n) {
        if matches!(c, b'T' | b'Z' | b'+') || (c == b'-' && b.get(n + 1)?.is_ascii_digit()) {
            n += 1;
            n = run_end(b, n);
        } else {
            break;
        }
    }
    let run = &b[..n];
    let dated = run.iter().any(|c| matches!(c, b'-' | b':' | b'/'));
    if !dated || n < 5 {
        return None;
    }
    if b.get(n) == Some(&b':') {
        n += 1;
    }
    let sp = spaces(&b[n..]);
    (sp > 0).then_some(n + sp)
}

/// `stdout F `, `stderr P ` (the CRI log format after its timestamp).
fn cri_tag(b: &[u8]) -> Option<usize> {
    for tag in [b"stdout ", b"stderr "] {
        if let Some(rest) = b.strip_prefix(&tag[..])
            && matches!(rest.first(), Some(b'F' | b'P'))
            && matches!(rest.get(1), Some(b' ') | None)
        {
            return Some(tag.len() + 1 + usize::from(rest.len() > 1));
        }
    }
    None
}

/// `[rank0]: `, `[2020/08/12 11:44:22] `, `(VllmWorkerProcess pid=6499) `.
fn bracketed(b: &[u8], open: u8, close: u8, inner_ok: fn(&[u8]) -> bool) -> Option<usize> {
    if b.first() != Some(&open) {
        return None;
    }
    let end = b.iter().take(64).position(|c| *c == close)?;
    let inner = &b[1..end];
    if inner.is_empty() || inner.contains(&open) || !inner_ok(inner) {
        return None;
    }
    let mut n = end + 1;
    if b.get(n) == Some(&b':') {
        n += 1;
    }
    let sp = spaces(&b[n..]);
    (sp > 0).then_some(n + sp)
}

fn is_process_tag(inner: &[u8]) -> bool {
    memchr::memmem::find(inner, b"pid=").is_some() || inner.starts_with(b"node:")
}

/// `ERROR `, `INFO:`.
fn level(b: &[u8]) -> Option<usize> {
    for l in LEVELS {
        if let Some(rest) = b.strip_prefix(l.as_bytes()) {
            let n = l.len() + usize::from(rest.first() == Some(&b':'));
            let sp = spaces(&b[n..]);
            if sp > 0 {
                return Some(n + sp);
            }
        }
    }
    None
}

/// `engine.py:366] ` (vLLM's logger after the level and time).
fn source_location(b: &[u8]) -> Option<usize> {
    let end = b.iter().take(80).position(|c| *c == b']')?;
    let word = &b[..end];
    let ok = !word.contains(&b' ')
        && memchr::memmem::find(word, b".py:").is_some()
        && b.get(end + 1) == Some(&b' ');
    ok.then(|| end + 1 + spaces(&b[end + 1..]))
}

/// End of the number-like run starting at `i`: digits with single separators between them.
fn run_end(b: &[u8], mut i: usize) -> usize {
    while i < b.len() {
        let separator = matches!(b[i], b'-' | b':' | b'.' | b',' | b'/')
            && i > 0
            && b[i - 1].is_ascii_digit()
            && b.get(i + 1).is_some_and(u8::is_ascii_digit);
        if !(b[i].is_ascii_digit() || separator) {
            break;
        }
        i += 1;
    }
    i
}

/// A run whose value may change within one source: a timestamp, or a line number that starts
/// the prefix.
fn variable(run: &[u8], leading: bool) -> bool {
    leading || run.iter().any(|c| !c.is_ascii_digit())
}

/// The rest of `line` when it starts with a prefix of the same shape as `prefix`.
pub fn strip<'a>(prefix: &str, line: &'a str) -> Option<&'a str> {
    let (p, l) = (prefix.as_bytes(), line.as_bytes());
    let (mut i, mut j) = (0, 0);
    while i < p.len() {
        if p[i].is_ascii_digit() {
            let pe = run_end(p, i);
            let le = if l.get(j).is_some_and(u8::is_ascii_digit) {
                run_end(l, j)
            } else {
                return None;
            };
            let leading = p[..i].iter().all(|c| *c == b' ');
            let (pr, lr) = (&p[i..pe], &l[j..le]);
            if !(variable(pr, leading) && variable(lr, leading)) && pr != lr {
                return None;
            }
            i = pe;
            j = le;
        } else if l.get(j) == Some(&p[i]) {
            i += 1;
            j += 1;
        } else {
            return None;
        }
    }
    line.get(j..)
}

/// The prefix with its variable runs blanked: equal for lines of one source.
pub fn key(prefix: &str) -> String {
    let p = prefix.as_bytes();
    let mut out = String::with_capacity(prefix.len().min(MAX_PREFIX_BYTES));
    let mut i = 0;
    while i < p.len() && out.len() < MAX_PREFIX_BYTES {
        if p[i].is_ascii_digit() {
            let e = run_end(p, i);
            let leading = p[..i].iter().all(|c| *c == b' ');
            if variable(&p[i..e], leading) {
                out.push('#');
            } else {
                out.push_str(&prefix[i..e]);
            }
            i = e;
        } else {
            let ch_len = prefix[i..].chars().next().map_or(1, char::len_utf8);
            out.push_str(&prefix[i..i + ch_len]);
            i += ch_len;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generic_prefixes() {
        for (line, rest) in [
            ("2026-11-27T08:00:00.123Z ERROR panic: boom", "panic: boom"),
            ("vllm-1  | panic: boom", "panic: boom"),
            ("panic: boom", "panic: boom"),
            (
                "2021-12-28T10:26:45.134374524+02:00 stdout F org.x.Y: no",
                "org.x.Y: no",
            ),
            ("[rank1]:   File \"a.py\", line 1", "File \"a.py\", line 1"),
            (
                "(VllmWorkerProcess pid=6499) ERROR 07-24 14:07:40 multiproc_worker_utils.py:226] ValueError: x",
                "ValueError: x",
            ),
            (
                "2021-10-15 15:01:44.577626: E external/x.cc:764] failed",
                "E external/x.cc:764] failed",
            ),
            (
                "(node:1684) UnhandledPromiseRejectionWarning: x",
                "UnhandledPromiseRejectionWarning: x",
            ),
            (
                "[UnhandledPromiseRejection: This error originated either by throwing inside of an async function] {",
                "[UnhandledPromiseRejection: This error originated either by throwing inside of an async function] {",
            ),
            ("2023-02-22T10:26:10.5600214Z Traceback", "Traceback"),
        ] {
            assert_eq!(&line[generic_len(line)..], rest, "{line}");
        }
    }

    #[test]
    fn shapes() {
        let p = "ERROR 11-18 18:07:28 engine.py:366] ";
        assert_eq!(strip(p, "ERROR 11-19 08:17:21 engine.py:366] x"), Some("x"));
        assert_eq!(strip("ERROR 11-18 ", "INFO  11-18 x"), None);
        // RFC 3339 nanoseconds lose their trailing zeros: lengths differ, still one source.
        let cri = "2023-11-16T14:09:20.808904689+03:00 stdout F ";
        assert_eq!(
            strip(cri, "2023-11-16T14:09:20.80891196+03:00 stdout F x"),
            Some("x")
        );
        // Ranks and pids are sources, not times.
        assert_eq!(strip("[rank0]: ", "[rank1]: x"), None);
        assert_eq!(strip("(node:1684) ", "(node:1684) x"), Some("x"));
        assert_eq!(strip("(node:1684) ", "(node:1700) x"), None);
        // A leading CI line number changes on every line.
        assert_eq!(strip("99 ", "100 x"), Some("x"));
        assert_eq!(key("[rank0]: 2024-01-01 "), "[rank0]: # ");
        assert_eq!(key("[rank0]: 2024-01-01 "), key("[rank0]: 2025-12-31 "));
    }
}
