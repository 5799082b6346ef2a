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
mod open;
mod python;
mod rust;

use open::{MARKER_BYTES, Open, push_line};

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
mod tests;
