//! Assembling multi-line error blocks (Python tracebacks, JVM stack traces, Go panics, Rust
//! panics, Node.js errors) from a stream of lines, one event per block. Each language's
//! grammar is in its own file; this one routes lines to open blocks and bounds what they keep.
//!
//! Works without look-ahead: a block ends on the first line of its source that cannot belong
//! to it (that line is then looked at afresh), after [`MAX_FOREIGN`] lines of other sources,
//! at the end of the stream, or when the stream is idle. Lines may carry a prefix (timestamp,
//! level, CRI tag, `[rank0]:`, a `docker compose` service): the prefix of the line that starts
//! a block is learnt, and later lines with a prefix of the same shape (see [`prefix::strip`])
//! are read without it. Lines of another source (another rank, another process, a log record
//! of another thread) may interleave: up to [`MAX_OPEN`] blocks are assembled side by side.
//!
//! Everything kept is bounded in lines and bytes ([`Limits`]); what is cut is counted on the
//! block ([`Block::omitted_lines`], [`Block::truncated_lines`]).

mod go;
mod jvm;
mod node;
mod python;
mod rust;

use super::prefix;
use agentlens_crds::text::truncate;

/// Blocks assembled side by side (interleaved sources); a new one ends the oldest.
pub const MAX_OPEN: usize = 4;
/// Lines of other sources after which an open block is taken as finished.
pub const MAX_FOREIGN: usize = 32;
/// The same for a block that already has its exception and only waits for a chained one.
pub const MAX_FOREIGN_COMPLETE: usize = 8;
/// Longest exception type kept, in bytes.
pub const MAX_EXCEPTION_BYTES: usize = 256;
/// Longest message or frame kept, in bytes.
pub const MAX_MESSAGE_BYTES: usize = 512;

/// Languages whose error blocks are recognised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Language {
    /// CPython tracebacks, chained and exception groups, and `Exception ignored in`.
    Python,
    /// JVM stack traces (Java, Kotlin, Scala) with `Caused by:`.
    Java,
    /// Go panics and fatal errors with goroutine dumps.
    Go,
    /// Rust panics, with or without a backtrace.
    Rust,
    /// Node.js errors with `at` frames, and unhandled promise rejections.
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
    /// The final exception type (Python: the last raised; JVM: the root cause), at most
    /// [`MAX_EXCEPTION_BYTES`].
    pub exception: String,
    /// The message of that exception (may be empty), at most [`MAX_MESSAGE_BYTES`].
    pub message: String,
    /// The innermost frame where it was raised, normalised, when the block shows one.
    pub frame: Option<String>,
    /// The block's lines without their prefix, within [`Limits`].
    pub lines: Vec<String>,
    /// Lines of the block not kept (over the line or byte limit), counted.
    pub omitted_lines: usize,
    /// Kept lines cut to [`Limits::max_line_bytes`] (they end with a marker saying how much).
    pub truncated_lines: usize,
    /// Time of the block's first line, in the caller's milliseconds.
    pub started_ms: u64,
}

/// What one block keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Lines kept per block.
    pub max_lines: usize,
    /// Bytes of kept lines per block.
    pub max_bytes: usize,
    /// Bytes kept of one line (a longer one is cut and marked).
    pub max_line_bytes: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Python(python::State),
    /// JVM or Node header seen, waiting for its first `at` frame to confirm it.
    Candidate,
    Jvm {
        frames_after_cause: usize,
    },
    Node(node::State),
    Go {
        confirmed: bool,
        want_frame: bool,
    },
    Rust(rust::State),
}

/// A block being assembled.
#[derive(Debug)]
pub(super) struct Open {
    id: u64,
    kind: Kind,
    language: Language,
    prefix: String,
    exception: String,
    message: String,
    frame: Option<String>,
    lines: Vec<String>,
    bytes: usize,
    omitted_lines: usize,
    truncated_lines: usize,
    started_ms: u64,
    last_ms: u64,
    foreign: usize,
}

impl Open {
    fn new(kind: Kind, language: Language, prefix: &str, at_ms: u64) -> Self {
        Self {
            id: 0,
            kind,
            language,
            // A "prefix" longer than any logger's is output glued in front (a progress bar).
            prefix: if prefix.len() <= prefix::MAX_PREFIX_BYTES {
                prefix.to_string()
            } else {
                String::new()
            },
            exception: String::new(),
            message: String::new(),
            frame: None,
            lines: Vec::new(),
            bytes: 0,
            omitted_lines: 0,
            truncated_lines: 0,
            started_ms: at_ms,
            last_ms: at_ms,
            foreign: 0,
        }
    }

    fn set_exception(&mut self, exception: &str, message: &str) {
        self.exception = truncate(exception, MAX_EXCEPTION_BYTES);
        self.message = truncate(message, MAX_MESSAGE_BYTES);
    }
}

/// What a line does to the block it was routed to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Step {
    /// It belongs to the block, which goes on.
    Continue,
    /// It belongs to the block and ends it.
    EndWith,
    /// It ends the block without belonging to it; it is looked at afresh.
    EndBefore,
    /// It is another source's line: the block goes on without it.
    Skip,
}

/// What feeding one line did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Fed {
    /// Blocks that ended (before or with this line).
    pub finished: Vec<Block>,
    /// Whether the line belongs to a block (open or just finished); a line that does not is an
    /// ordinary line.
    pub in_block: bool,
    /// The id of that block, unique within the stream.
    pub block: Option<u64>,
}

/// The per-stream assembler.
#[derive(Debug)]
pub struct Assembler {
    open: Vec<Open>,
    limits: Limits,
    next_id: u64,
}

struct Route {
    index: usize,
    body_start: usize,
    /// The block's first line had a prefix this line lacks: if the line continues the block,
    /// the block is unprefixed from here on (`logging.exception` with `basicConfig`).
    drop_prefix: bool,
}

impl Assembler {
    /// An assembler keeping at most `limits` per block.
    pub fn new(limits: Limits) -> Self {
        Self {
            open: Vec::new(),
            limits: Limits {
                max_lines: limits.max_lines.max(1),
                max_bytes: limits.max_bytes.max(1),
                max_line_bytes: limits.max_line_bytes.max(MARKER_BYTES + 1),
            },
            next_id: 1,
        }
    }

    /// Whether a block is open.
    pub fn is_open(&self) -> bool {
        !self.open.is_empty()
    }

    /// Feeds one line received at `at_ms`; `may_start` says whether the line contains a
    /// block-start marker at all (a cheap pre-check by the caller).
    pub fn feed(&mut self, line: &str, at_ms: u64, may_start: bool) -> Fed {
        let mut fed = Fed::default();
        let mut owner = None;
        if let Some(route) = self.route(line) {
            let open = &mut self.open[route.index];
            let step = continue_block(open, &line[route.body_start..], self.limits, at_ms);
            match step {
                Step::Continue | Step::EndWith => {
                    if route.drop_prefix {
                        open.prefix.clear();
                    }
                    open.foreign = 0;
                    fed.in_block = true;
                    fed.block = Some(open.id);
                    owner = Some(open.id);
                    if step == Step::EndWith {
                        let done = self.open.remove(route.index);
                        fed.finished.extend(finish(done));
                    }
                }
                Step::EndBefore => {
                    let done = self.open.remove(route.index);
                    fed.finished.extend(finish(done));
                }
                Step::Skip => {}
            }
        }
        self.count_foreign(owner, &mut fed.finished);
        if owner.is_some() || !may_start {
            return fed;
        }
        if let Some((mut open, first)) = start_block(line, at_ms) {
            // A new block of a source ends that source's open block.
            let same_source = |o: &Open| {
                o.prefix == open.prefix
                    || (!o.prefix.is_empty() && prefix::strip(&o.prefix, line).is_some())
            };
            if let Some(i) = self.open.iter().position(same_source) {
                let done = self.open.remove(i);
                fed.finished.extend(finish(done));
            }
            if self.open.len() >= MAX_OPEN {
                let done = self.open.remove(0);
                fed.finished.extend(finish(done));
            }
            open.id = self.next_id;
            self.next_id += 1;
            push_line(&mut open, first, self.limits, at_ms);
            if open.kind != Kind::Candidate {
                fed.in_block = true;
                fed.block = Some(open.id);
            }
            self.open.push(open);
        }
        fed
    }

    /// The open block a line belongs to, by its prefix.
    fn route(&self, line: &str) -> Option<Route> {
        let newest_first = || self.open.iter().enumerate().rev();
        for (index, o) in newest_first() {
            if !o.prefix.is_empty()
                && let Some(rest) = prefix::strip(&o.prefix, line)
            {
                let body_start = line.len() - rest.len();
                return Some(Route {
                    index,
                    body_start,
                    drop_prefix: false,
                });
            }
        }
        if let Some((index, _)) = newest_first().find(|(_, o)| o.prefix.is_empty()) {
            return Some(Route {
                index,
                body_start: 0,
                drop_prefix: false,
            });
        }
        // Only a line without a prefix of its own: one with another prefix is another source.
        newest_first()
            .find(|(_, o)| o.lines.len() == 1)
            .filter(|_| prefix::generic_len(line) == 0)
            .map(|(index, _)| Route {
                index,
                body_start: 0,
                drop_prefix: true,
            })
    }

    /// Counts a line against every open block it did not belong to; blocks that waited too
    /// long are finished.
    fn count_foreign(&mut self, owner: Option<u64>, finished: &mut Vec<Block>) {
        let mut i = 0;
        while i < self.open.len() {
            let o = &mut self.open[i];
            if Some(o.id) != owner {
                o.foreign += 1;
                let patience = if python::complete(o.kind) {
                    MAX_FOREIGN_COMPLETE
                } else {
                    MAX_FOREIGN
                };
                if o.foreign > patience {
                    let done = self.open.remove(i);
                    finished.extend(finish(done));
                    continue;
                }
            }
            i += 1;
        }
    }

    /// Ends the blocks that had no line for `idle_ms` (a process that printed a traceback and
    /// then nothing).
    pub fn flush_idle(&mut self, now_ms: u64, idle_ms: u64) -> Vec<Block> {
        let mut done = Vec::new();
        let mut i = 0;
        while i < self.open.len() {
            if now_ms.saturating_sub(self.open[i].last_ms) >= idle_ms {
                done.extend(finish(self.open.remove(i)));
            } else {
                i += 1;
            }
        }
        done
    }

    /// Ends every open block (end of stream).
    pub fn flush(&mut self) -> Vec<Block> {
        self.open.drain(..).filter_map(finish).collect()
    }
}

fn indented(s: &str) -> bool {
    s.starts_with([' ', '\t'])
}

fn start_block(line: &str, at_ms: u64) -> Option<(Open, &str)> {
    if let Some(started) = python::start(line, at_ms) {
        return Some(started);
    }
    if let Some(started) = rust::start(line, at_ms) {
        return Some(started);
    }
    // `…Exception in thread "main" x.Y` (JVM) may follow other output on the same line.
    let start = match line.find("Exception in thread \"") {
        Some(pos) => pos,
        None => prefix::generic_len(line),
    };
    let (prefix, content) = line.split_at(start);
    go::start(prefix, content, at_ms)
        .or_else(|| node::start(prefix, content, at_ms))
        .or_else(|| jvm::start(prefix, content, at_ms))
}

fn continue_block(open: &mut Open, b: &str, limits: Limits, at_ms: u64) -> Step {
    let step = match open.kind {
        Kind::Python(state) => python::continue_block(open, state, b),
        Kind::Candidate => jvm::confirm(open, b),
        Kind::Jvm { frames_after_cause } => jvm::continue_block(open, frames_after_cause, b),
        Kind::Node(state) => node::continue_block(state, b),
        Kind::Go {
            confirmed,
            want_frame,
        } => go::continue_block(open, confirmed, want_frame, b),
        Kind::Rust(state) => rust::continue_block(open, state, b),
    };
    if matches!(step, Step::Continue | Step::EndWith) {
        push_line(open, b, limits, at_ms);
    }
    step
}

/// Room kept at the end of a cut line for the marker.
const MARKER_BYTES: usize = 32;

/// Keeps a line within the block's limits, counting what does not fit.
fn push_line(open: &mut Open, body: &str, limits: Limits, at_ms: u64) {
    open.last_ms = at_ms;
    if open.lines.len() >= limits.max_lines || open.bytes >= limits.max_bytes {
        open.omitted_lines += 1;
        return;
    }
    let stored = if body.len() <= limits.max_line_bytes {
        body.to_string()
    } else {
        let mut kept = truncate(body, limits.max_line_bytes - MARKER_BYTES);
        let cut = body.len() - kept.len();
        kept.push_str(&format!("… [{cut} bytes cut]"));
        open.truncated_lines += 1;
        kept
    };
    if open.bytes + stored.len() > limits.max_bytes {
        open.omitted_lines += 1;
        return;
    }
    open.bytes += stored.len();
    open.lines.push(stored);
}

fn finish(open: Open) -> Option<Block> {
    let confirmed = match open.kind {
        Kind::Candidate => false,
        Kind::Go { confirmed, .. } => confirmed,
        Kind::Python(state) => python::confirmed(state),
        Kind::Jvm { .. } | Kind::Node(_) | Kind::Rust(_) => true,
    };
    if !confirmed || open.exception.is_empty() {
        return None;
    }
    Some(Block {
        language: open.language,
        exception: open.exception,
        message: open.message,
        frame: open.frame.map(|f| truncate(&f, MAX_MESSAGE_BYTES)),
        lines: open.lines,
        omitted_lines: open.omitted_lines,
        truncated_lines: open.truncated_lines,
        started_ms: open.started_ms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        max_lines: 200,
        max_bytes: 64 << 10,
        max_line_bytes: 2 << 10,
    };

    fn blocks(lines: &[&str]) -> Vec<Block> {
        let mut a = Assembler::new(LIMITS);
        let mut out = Vec::new();
        for l in lines {
            out.extend(a.feed(l, 0, true).finished);
        }
        out.extend(a.flush());
        out
    }

    #[test]
    fn a_huge_repr_in_a_frame_is_cut_and_counted() {
        let repr = format!("    x = {}", "[1.0, ".repeat(250_000));
        let got = blocks(&[
            "Traceback (most recent call last):",
            "  File \"/app/agent.py\", line 3, in <module>",
            &repr,
            "ValueError: bad",
        ]);
        assert_eq!(got.len(), 1);
        let b = &got[0];
        assert_eq!(b.truncated_lines, 1);
        assert!(b.lines.iter().all(|l| l.len() <= LIMITS.max_line_bytes));
        assert!(
            b.lines[2].ends_with("bytes cut]"),
            "{}",
            &b.lines[2][2000..]
        );
        assert_eq!(b.exception, "ValueError");
    }

    #[test]
    fn a_block_keeps_at_most_its_bytes() {
        let frame = format!("  File \"/app/{}.py\", line 1, in f", "x".repeat(1_500));
        let mut lines = vec!["Traceback (most recent call last):".to_string()];
        lines.extend(std::iter::repeat_n(frame, 100));
        lines.push("RecursionError: maximum recursion depth exceeded".into());
        let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
        let got = blocks(&refs);
        let b = &got[0];
        let kept: usize = b.lines.iter().map(String::len).sum();
        assert!(kept <= LIMITS.max_bytes, "{kept}");
        assert_eq!(b.lines.len() + b.omitted_lines, 102);
        assert!(b.omitted_lines > 50);
        assert_eq!(b.exception, "RecursionError");
    }

    #[test]
    fn a_finished_traceback_waits_only_a_few_foreign_records_for_its_chain() {
        let mut a = Assembler::new(LIMITS);
        let mut done = Vec::new();
        for l in [
            "Traceback (most recent call last):",
            "  File \"/app/a.py\", line 1, in <module>",
            "KeyError: 'x'",
        ] {
            done.extend(a.feed(l, 0, true).finished);
        }
        let record = "2024-05-01T12:00:00.1Z INFO tick";
        for _ in 0..MAX_FOREIGN_COMPLETE {
            done.extend(a.feed(record, 0, false).finished);
        }
        assert!(done.is_empty());
        done.extend(a.feed(record, 0, false).finished);
        assert_eq!(done.len(), 1);
        assert_eq!(done[0].lines.len(), 3, "the records are not part of it");
    }

    #[test]
    fn a_huge_message_is_cut() {
        let line = format!("panic: {}", "y".repeat(100_000));
        let got = blocks(&[
            &line,
            "",
            "goroutine 1 [running]:",
            "main.main()",
            "\t/app/main.go:9 +0x1",
        ]);
        assert_eq!(got.len(), 1);
        assert!(got[0].message.len() <= MAX_MESSAGE_BYTES);
    }
}
