//! Assembling multi-line error blocks (Python tracebacks, JVM stack traces, Go panics, Rust
//! panics, Node.js errors) from a stream of lines, one event per block.
//!
//! Works without look-ahead: a block ends on the first line that cannot belong to it (that line
//! is then looked at afresh), at the end of the stream, or when the stream is idle. Lines may
//! carry a prefix (timestamp, logger, `docker compose` service): the prefix of the line that
//! starts a block is learnt, and later lines with a prefix of the same shape (digits may
//! differ) are read without it.

use super::frame;

/// Languages whose error blocks are recognised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Language {
    /// CPython tracebacks, chained and exception groups.
    Python,
    /// JVM stack traces (Java, Kotlin, Scala) with `Caused by:`.
    Java,
    /// Go panics and fatal errors with goroutine dumps.
    Go,
    /// Rust panics, with or without a backtrace.
    Rust,
    /// Node.js errors with `at` frames.
    Node,
}

impl Language {
    /// The bounded label value used in metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Language::Python => "python",
            Language::Java => "java",
            Language::Go => "go",
            Language::Rust => "rust",
            Language::Node => "node",
        }
    }
}

/// A finished error block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    /// Its language.
    pub language: Language,
    /// The final exception type (Python: the last raised; JVM: the root cause).
    pub exception: String,
    /// The message of that exception (may be empty).
    pub message: String,
    /// The innermost frame where it was raised, normalised, when the block shows one.
    pub frame: Option<String>,
    /// The block's lines without their prefix, at most `max_lines`.
    pub lines: Vec<String>,
    /// Lines of the block beyond `max_lines`, counted, not kept.
    pub omitted_lines: usize,
    /// Time of the block's first line, in the caller's milliseconds.
    pub started_ms: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PyState {
    Frames,
    AfterException,
    AfterExceptionBlank,
    Chain,
    Group,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RustState {
    ExpectMessage,
    Tail,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    Python(PyState),
    /// JVM or Node header seen, waiting for its first `at` frame to confirm it.
    Candidate,
    Jvm {
        frames_after_cause: usize,
    },
    Node,
    Go {
        confirmed: bool,
        want_frame: bool,
    },
    Rust(RustState),
}

#[derive(Debug)]
struct Open {
    kind: Kind,
    language: Language,
    prefix: String,
    exception: String,
    message: String,
    frame: Option<String>,
    lines: Vec<String>,
    omitted_lines: usize,
    started_ms: u64,
    last_ms: u64,
}

/// What feeding one line did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Fed {
    /// A block that ended (before or with this line).
    pub finished: Option<Block>,
    /// Whether the line belongs to a block (open or just finished); a line that does not is an
    /// ordinary line.
    pub in_block: bool,
}

/// The per-stream assembler.
#[derive(Debug)]
pub struct Assembler {
    open: Option<Open>,
    max_lines: usize,
}

const PY_TRACEBACK: &str = "Traceback (most recent call last):";
const PY_GROUP_TRACEBACK: &str = "Exception Group Traceback (most recent call last):";
const PY_CHAIN: [&str; 2] = [
    "During handling of the above exception, another exception occurred:",
    "The above exception was the direct cause of the following exception:",
];

impl Assembler {
    /// An assembler keeping at most `max_lines` lines per block.
    pub fn new(max_lines: usize) -> Self {
        Self {
            open: None,
            max_lines: max_lines.max(1),
        }
    }

    /// Whether a block is open.
    pub fn is_open(&self) -> bool {
        self.open.is_some()
    }

    /// Feeds one line received at `at_ms`; `may_start` says whether the line contains a
    /// block-start marker at all (a cheap pre-check by the caller).
    pub fn feed(&mut self, line: &str, at_ms: u64, may_start: bool) -> Fed {
        let mut fed = Fed::default();
        if let Some(open) = self.open.as_mut() {
            match continue_block(open, line, self.max_lines, at_ms) {
                Step::Continue => {
                    fed.in_block = true;
                    return fed;
                }
                Step::EndWith => {
                    fed.in_block = true;
                    fed.finished = self.open.take().and_then(finish);
                    return fed;
                }
                Step::EndBefore => {
                    fed.finished = self.open.take().and_then(finish);
                }
            }
        }
        if !may_start {
            return fed;
        }
        if let Some(open) = start_block(line, at_ms) {
            fed.in_block = !matches!(open.kind, Kind::Candidate);
            self.open = Some(open);
        }
        fed
    }

    /// Ends the open block if no line came for `idle_ms` (a process that printed a traceback
    /// and then nothing).
    pub fn flush_idle(&mut self, now_ms: u64, idle_ms: u64) -> Option<Block> {
        let idle = self
            .open
            .as_ref()
            .is_some_and(|o| now_ms.saturating_sub(o.last_ms) >= idle_ms);
        if idle {
            self.open.take().and_then(finish)
        } else {
            None
        }
    }

    /// Ends the open block (end of stream).
    pub fn flush(&mut self) -> Option<Block> {
        self.open.take().and_then(finish)
    }
}

enum Step {
    Continue,
    EndWith,
    EndBefore,
}

/// Digits may differ, everything else must be equal.
fn same_shape(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .all(|(x, y)| x == y || (x.is_ascii_digit() && y.is_ascii_digit()))
}

/// The line without the block's prefix, when it carries one of the same shape.
fn body<'a>(prefix: &str, line: &'a str) -> &'a str {
    if prefix.is_empty() {
        return line;
    }
    match line.get(..prefix.len()) {
        Some(p) if same_shape(p, prefix) => &line[prefix.len()..],
        _ => line,
    }
}

fn indented(s: &str) -> bool {
    s.starts_with([' ', '\t'])
}

/// A generic log prefix before a block-start marker: a timestamp, a level, a `name | `
/// separator. Returns where the content starts.
fn generic_prefix_len(line: &str) -> usize {
    let b = line.as_bytes();
    let mut i = 0;
    // `vllm-1  | ` (docker compose) or `2024-04-27 10:13:05 | ERROR | stderr | ` (loguru).
    if let Some(pos) = line.rfind(" | ")
        && pos < 80
    {
        i = pos + 3;
    }
    // RFC 3339 / ISO timestamps and `[timestamp]`.
    let rest = &b[i..];
    let starts_date = rest.len() >= 10
        && rest[..4].iter().all(u8::is_ascii_digit)
        && rest[4] == b'-'
        && rest[7] == b'-';
    if (starts_date || rest.first() == Some(&b'['))
        && let Some(sp) = line[i..].find(' ')
    {
        let mut j = i + sp + 1;
        // `2024-01-01 12:00:00,123 ` has a second part.
        if starts_date
            && line.as_bytes().get(j).is_some_and(u8::is_ascii_digit)
            && let Some(sp2) = line[j..].find(' ')
        {
            j += sp2 + 1;
        }
        i = j;
    }
    // A level word.
    for level in [
        "ERROR ",
        "ERROR:",
        "FATAL ",
        "CRITICAL ",
        "WARNING ",
        "WARN ",
        "INFO ",
    ] {
        if line[i..].starts_with(level) {
            i += level.len();
            while line.as_bytes().get(i) == Some(&b' ') {
                i += 1;
            }
            break;
        }
    }
    i
}

fn new_open(kind: Kind, language: Language, prefix: &str, first: &str, at_ms: u64) -> Open {
    Open {
        kind,
        language,
        prefix: prefix.to_string(),
        exception: String::new(),
        message: String::new(),
        frame: None,
        lines: vec![first.to_string()],
        omitted_lines: 0,
        started_ms: at_ms,
        last_ms: at_ms,
    }
}

fn start_block(line: &str, at_ms: u64) -> Option<Open> {
    // Python: the marker may sit after any prefix.
    if let Some(pos) = line.find(PY_GROUP_TRACEBACK) {
        let prefix = line[..pos].trim_end_matches(['+', ' ']);
        let body = &line[prefix.len()..];
        return Some(new_open(
            Kind::Python(PyState::Group),
            Language::Python,
            prefix,
            body,
            at_ms,
        ));
    }
    if let Some(pos) = line.find(PY_TRACEBACK) {
        let prefix = &line[..pos];
        return Some(new_open(
            Kind::Python(PyState::Frames),
            Language::Python,
            prefix,
            PY_TRACEBACK,
            at_ms,
        ));
    }
    // Rust: `thread 'main' panicked at …`.
    if let Some(pos) = line.find("thread '")
        && line[pos..].contains("' panicked at ")
    {
        let prefix = &line[..pos];
        let header = &line[pos..];
        let mut open = new_open(
            Kind::Rust(RustState::Tail),
            Language::Rust,
            prefix,
            header,
            at_ms,
        );
        open.exception = "panic".into();
        let after = header
            .split_once("' panicked at ")
            .map(|(_, r)| r)
            .unwrap_or("");
        if let Some(loc) = after.strip_suffix(':') {
            // Rust 1.73+: location, message on the next line.
            open.frame = Some(loc.to_string());
            open.kind = Kind::Rust(RustState::ExpectMessage);
        } else if let Some(rest) = after.strip_prefix('\'') {
            // Older: 'message', location
            if let Some((msg, loc)) = rest.rsplit_once("', ") {
                open.message = msg.to_string();
                open.frame = Some(loc.to_string());
            }
        }
        return Some(open);
    }
    // `…Exception in thread "main" x.Y` (JVM) may follow other output on the same line.
    let start = match line.find("Exception in thread \"") {
        Some(pos) => pos,
        None => generic_prefix_len(line),
    };
    let prefix = &line[..start];
    let content = &line[start..];
    // Go.
    for (marker, exception) in [("panic: ", "panic"), ("fatal error: ", "fatal error")] {
        if let Some(msg) = content.strip_prefix(marker) {
            let mut open = new_open(
                Kind::Go {
                    confirmed: false,
                    want_frame: false,
                },
                Language::Go,
                prefix,
                content,
                at_ms,
            );
            let msg = msg.trim_end_matches(" [recovered]");
            if exception == "panic" && msg.starts_with("runtime error: ") {
                open.exception = "runtime error".into();
                open.message = msg["runtime error: ".len()..].to_string();
            } else {
                open.exception = exception.into();
                open.message = msg.to_string();
            }
            return Some(open);
        }
    }
    // JVM / Node header, confirmed by the next line.
    if let Some((exception, message)) = frame::exception_header(content) {
        let language = if exception.contains('.') {
            Language::Java
        } else {
            Language::Node
        };
        let mut open = new_open(Kind::Candidate, language, prefix, content, at_ms);
        open.exception = exception;
        open.message = message;
        return Some(open);
    }
    None
}

fn push_line(open: &mut Open, body: &str, max_lines: usize, at_ms: u64) {
    open.last_ms = at_ms;
    if open.lines.len() < max_lines {
        open.lines.push(body.to_string());
    } else {
        open.omitted_lines += 1;
    }
}

fn continue_block(open: &mut Open, line: &str, max_lines: usize, at_ms: u64) -> Step {
    let b = body(&open.prefix, line);
    let step = match open.kind.clone() {
        Kind::Python(state) => continue_python(open, state, b),
        Kind::Candidate => {
            let t = b.trim_start();
            if t.starts_with("at ") && indented(b) {
                if let Some(lang) = frame::frame_language(t) {
                    open.language = lang;
                }
                open.frame = Some(frame::normalise(t.trim_start_matches("at ")));
                open.kind = if open.language == Language::Java {
                    Kind::Jvm {
                        frames_after_cause: 1,
                    }
                } else {
                    Kind::Node
                };
                Step::Continue
            } else {
                // Not a stack trace after all: drop the candidate, look at this line afresh.
                open.kind = Kind::Candidate;
                open.exception.clear();
                Step::EndBefore
            }
        }
        Kind::Jvm { frames_after_cause } => continue_jvm(open, frames_after_cause, b),
        Kind::Node => {
            let t = b.trim_start();
            if t.starts_with("at ") || indented(b) || t == "}" {
                Step::Continue
            } else if t.starts_with("Node.js v") {
                Step::EndWith
            } else {
                Step::EndBefore
            }
        }
        Kind::Go {
            confirmed,
            want_frame,
        } => continue_go(open, confirmed, want_frame, b),
        Kind::Rust(state) => match state {
            RustState::ExpectMessage => {
                open.message = b.to_string();
                open.kind = Kind::Rust(RustState::Tail);
                Step::Continue
            }
            RustState::Tail => {
                let t = b.trim_start();
                if indented(b) || t.starts_with("note: ") || t == "stack backtrace:" {
                    Step::Continue
                } else {
                    Step::EndBefore
                }
            }
        },
    };
    if matches!(step, Step::Continue | Step::EndWith) {
        push_line(open, b, max_lines, at_ms);
    }
    step
}

fn continue_python(open: &mut Open, state: PyState, b: &str) -> Step {
    match state {
        PyState::Frames => {
            if b.trim().is_empty() || indented(b) {
                let t = b.trim_start();
                if t.starts_with("File \"") {
                    open.frame = Some(frame::normalise(t));
                }
                Step::Continue
            } else if PY_CHAIN.contains(&b.trim()) {
                open.kind = Kind::Python(PyState::Chain);
                Step::Continue
            } else if let Some((exception, message)) = frame::python_exception(b) {
                open.exception = exception;
                open.message = message;
                open.kind = Kind::Python(PyState::AfterException);
                Step::Continue
            } else {
                // Not a CPython traceback (an IPython one, prose): drop it.
                open.exception.clear();
                open.kind = Kind::Candidate;
                Step::EndBefore
            }
        }
        PyState::AfterException | PyState::AfterExceptionBlank => {
            if PY_CHAIN.contains(&b.trim()) {
                open.kind = Kind::Python(PyState::Chain);
                Step::Continue
            } else if b.trim().is_empty() && state == PyState::AfterException {
                open.kind = Kind::Python(PyState::AfterExceptionBlank);
                Step::Continue
            } else {
                Step::EndBefore
            }
        }
        PyState::Chain => {
            if b.trim().is_empty() {
                Step::Continue
            } else if b.trim_start().starts_with(PY_TRACEBACK) {
                open.kind = Kind::Python(PyState::Frames);
                Step::Continue
            } else if b.contains(PY_GROUP_TRACEBACK) {
                open.kind = Kind::Python(PyState::Group);
                open.exception.clear();
                Step::Continue
            } else {
                Step::EndBefore
            }
        }
        PyState::Group => {
            if b.trim().is_empty() || indented(b) {
                let t = b.trim_start();
                let framed = t.strip_prefix('|').map(str::trim_start).unwrap_or(t);
                if framed.starts_with("File \"") && open.exception.is_empty() {
                    open.frame = Some(frame::normalise(framed));
                }
                // `| ExceptionGroup: msg (2 sub-exceptions)`: the first one is the group.
                if open.exception.is_empty()
                    && let Some(inner) = t.strip_prefix("| ")
                    && !indented(inner)
                    && !inner.starts_with("File \"")
                    && let Some((exception, message)) = frame::python_exception(inner)
                {
                    open.exception = exception;
                    open.message = message;
                }
                Step::Continue
            } else {
                Step::EndBefore
            }
        }
    }
}

fn continue_jvm(open: &mut Open, frames_after_cause: usize, b: &str) -> Step {
    let t = b.trim_start();
    if let Some(cause) = t.strip_prefix("Caused by: ") {
        if let Some((exception, message)) = frame::exception_header(cause) {
            open.exception = exception;
            open.message = message;
        }
        open.kind = Kind::Jvm {
            frames_after_cause: 0,
        };
        return Step::Continue;
    }
    if t.starts_with("at ") && indented(b) {
        if frames_after_cause == 0 {
            open.frame = Some(frame::normalise(t.trim_start_matches("at ")));
        }
        open.kind = Kind::Jvm {
            frames_after_cause: frames_after_cause + 1,
        };
        return Step::Continue;
    }
    if t.starts_with("... ")
        || t.starts_with("Suppressed: ")
        || (indented(b) && t.starts_with("Caused by"))
    {
        return Step::Continue;
    }
    Step::EndBefore
}

fn continue_go(open: &mut Open, confirmed: bool, want_frame: bool, b: &str) -> Step {
    let t = b.trim_start();
    if b.trim().is_empty()
        || t.starts_with("[signal ")
        || t.starts_with("panic: ")
        || t.starts_with("[recovered]")
    {
        return Step::Continue;
    }
    if t.starts_with("goroutine ") || t == "runtime stack:" {
        // The first goroutine is the one that panicked; its first frame is the innermost.
        let first = !confirmed;
        open.kind = Kind::Go {
            confirmed: true,
            want_frame: first && t.starts_with("goroutine "),
        };
        return Step::Continue;
    }
    if t.starts_with("exit status ") {
        return Step::EndWith;
    }
    let function_line =
        !indented(b) && b.contains('(') && (b.ends_with(')') || b.ends_with("(...)"));
    if function_line
        || t.starts_with("created by ")
        || t.starts_with("...additional frames elided...")
    {
        if want_frame && function_line && !frame::go_runtime_frame(b) {
            open.frame = Some(frame::normalise(b));
            open.kind = Kind::Go {
                confirmed,
                want_frame: false,
            };
        }
        return Step::Continue;
    }
    if indented(b) {
        // `\t/app/main.go:69 +0x1af`: append the file and line to the frame just taken.
        if let Some(f) = open.frame.as_mut()
            && !f.contains(".go:")
            && matches!(
                open.kind,
                Kind::Go {
                    want_frame: false,
                    ..
                }
            )
        {
            f.push(' ');
            f.push_str(&frame::normalise(t));
        }
        return Step::Continue;
    }
    Step::EndBefore
}

fn finish(open: Open) -> Option<Block> {
    let confirmed = match open.kind {
        Kind::Candidate => false,
        Kind::Go { confirmed, .. } => confirmed,
        Kind::Python(PyState::Frames) => false,
        Kind::Python(_) | Kind::Jvm { .. } | Kind::Node | Kind::Rust(_) => true,
    };
    if !confirmed || open.exception.is_empty() {
        return None;
    }
    Some(Block {
        language: open.language,
        exception: open.exception,
        message: open.message,
        frame: open.frame,
        lines: open.lines,
        omitted_lines: open.omitted_lines,
        started_ms: open.started_ms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        assert!(same_shape(
            "ERROR 11-18 18:07:28 engine.py:366] ",
            "ERROR 11-19 08:17:21 engine.py:366] "
        ));
        assert!(!same_shape("ERROR 11-18 ", "INFO  11-18 "));
    }

    #[test]
    fn generic_prefixes() {
        let l = "2026-11-27T08:00:00.123Z ERROR panic: boom";
        assert_eq!(&l[generic_prefix_len(l)..], "panic: boom");
        let l = "vllm-1  | panic: boom";
        assert_eq!(&l[generic_prefix_len(l)..], "panic: boom");
        let l = "panic: boom";
        assert_eq!(generic_prefix_len(l), 0);
    }
}
