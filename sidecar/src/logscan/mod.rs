//! Log analysis: what a log line means. Pure and synchronous: lines in, events out.
//!
//! Per stream (a container's stdout, stderr, a followed file) one [`StreamScanner`] assembles
//! multi-line error blocks into [`Traceback`]s and finds GPU out-of-memory errors. One error
//! report is one OOM event (see [`episode`]): a traceback block, or the lines one failure
//! prints (llama.cpp's two lines, TensorFlow's allocator retries, vLLM's workers repeating the
//! same error) within [`ScanConfig::oom_merge_ms`] of its first line; ten separate tracebacks
//! are ten events however close. ONNX Runtime's arena failures, which name no device, count
//! in a stream that named its CUDA execution provider. Everything kept is bounded in lines and
//! bytes.

pub mod block;
pub mod episode;
pub mod frame;
pub mod oom;
pub mod prefix;
pub mod size;
pub mod split;

use std::sync::OnceLock;

use aho_corasick::AhoCorasick;
use sha2::{Digest, Sha256};

pub use block::{Block, Language};
pub use split::{Line, LineSplitter};

/// Limits and windows of the analysis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScanConfig {
    /// Lines kept per error block; the rest are counted.
    pub max_block_lines: usize,
    /// Bytes of lines kept per error block; the rest are counted.
    pub max_block_bytes: usize,
    /// Bytes kept of one line of an error block; a longer line is cut, marked and counted.
    pub max_stored_line_bytes: usize,
    /// Lines of one error report within this (ms) of its first line are one OOM event (a new
    /// traceback is a new event however close).
    pub oom_merge_ms: u64,
    /// An open block with no new line for this long (ms) is finished.
    pub idle_ms: u64,
    /// Longest line analysed, in bytes; longer lines are cut and counted.
    pub max_line_bytes: usize,
}

impl Default for ScanConfig {
    fn default() -> Self {
        Self {
            max_block_lines: 200,
            max_block_bytes: 64 << 10,
            max_stored_line_bytes: 2 << 10,
            oom_merge_ms: 2_000,
            idle_ms: 1_000,
            max_line_bytes: 1 << 20,
        }
    }
}

/// A GPU out-of-memory event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GpuOom {
    /// The stack that reported it (see [`oom::OomMatch::framework`]).
    pub framework: &'static str,
    /// The line, cut to 512 bytes.
    pub message: String,
    /// Bytes the failed allocation asked for, when the line says.
    pub requested_bytes: Option<u64>,
    /// GPU index, when the line says.
    pub gpu_index: Option<u32>,
    /// When it was seen (caller's ms).
    pub at_ms: u64,
}

/// A finished error block with its grouping key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Traceback {
    /// The block.
    pub block: Block,
    /// Stable key of (language, exception type, innermost frame): equal for the same error
    /// raised at the same place, across runs and installations.
    pub fingerprint: String,
    /// Whether the block's exception is a GPU out-of-memory error.
    pub gpu_oom: bool,
}

/// What the scanner found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A GPU out-of-memory error (first line of an error report).
    GpuOom(GpuOom),
    /// A finished error block.
    Traceback(Traceback),
}

/// What one line is, for the ring of recent error lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineKind {
    /// Nothing notable.
    Plain,
    /// An error: a level word (`ERROR`, `FATAL`, `CRITICAL`), part of an error block, or a
    /// GPU OOM line.
    Error,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Trigger {
    Oom,
    Block,
    Level,
}

const BLOCK_TRIGGERS: &[&str] = &[
    "Traceback (most recent call last)",
    "' panicked at ",
    "panic: ",
    "fatal error: ",
    "Exception",
    "Error",
    "Throwable",
    "UnhandledPromiseRejection",
];
const LEVEL_TRIGGERS: &[&str] = &["ERROR", "FATAL", "CRITICAL"];

fn automaton() -> Option<&'static (AhoCorasick, Vec<Trigger>)> {
    static AC: OnceLock<Option<(AhoCorasick, Vec<Trigger>)>> = OnceLock::new();
    AC.get_or_init(|| {
        let mut patterns = Vec::new();
        let mut kinds = Vec::new();
        for (set, kind) in [
            (oom::TRIGGERS, Trigger::Oom),
            (BLOCK_TRIGGERS, Trigger::Block),
            (LEVEL_TRIGGERS, Trigger::Level),
        ] {
            for p in set {
                patterns.push(*p);
                kinds.push(kind);
            }
        }
        AhoCorasick::new(&patterns).ok().map(|ac| (ac, kinds))
    })
    .as_ref()
}

/// Analysis state of one stream.
#[derive(Debug)]
pub struct StreamScanner {
    cfg: ScanConfig,
    assembler: block::Assembler,
    episodes: episode::Episodes,
    /// The stream named ONNX Runtime's CUDA execution provider (its arena failures are then
    /// GPU OOM).
    cuda_provider: bool,
}

impl StreamScanner {
    /// A scanner with the given limits.
    pub fn new(cfg: ScanConfig) -> Self {
        Self {
            cfg,
            assembler: block::Assembler::new(block::Limits {
                max_lines: cfg.max_block_lines,
                max_bytes: cfg.max_block_bytes,
                max_line_bytes: cfg.max_stored_line_bytes,
            }),
            episodes: episode::Episodes::default(),
            cuda_provider: false,
        }
    }

    /// Analyses one line seen at `at_ms`, appending what it completes to `out`.
    pub fn scan(&mut self, line: &str, at_ms: u64, out: &mut Vec<Event>) -> LineKind {
        let (mut oom_hit, mut block_hit, mut level_hit) = (false, false, false);
        if let Some((ac, kinds)) = automaton() {
            for m in ac.find_iter(line) {
                match kinds.get(m.pattern().as_usize()) {
                    Some(Trigger::Oom) => oom_hit = true,
                    Some(Trigger::Block) => block_hit = true,
                    Some(Trigger::Level) => level_hit = true,
                    None => {}
                }
            }
        }
        // Looked for only in lines that matter anyway: ONNX Runtime names its provider in
        // error and warning lines (`[ONNXRuntimeError] … providers\cuda\cuda_call.cc`).
        if (oom_hit || block_hit || level_hit) && !self.cuda_provider {
            self.cuda_provider = oom::names_cuda_provider(line);
        }
        let mut kind = if level_hit {
            LineKind::Error
        } else {
            LineKind::Plain
        };

        // Block assembly first: a block this line ends is reported before an OOM it starts.
        let fed = if block_hit || self.assembler.is_open() {
            self.assembler.feed(line, at_ms, block_hit)
        } else {
            block::Fed::default()
        };
        if fed.in_block {
            kind = LineKind::Error;
        }
        out.extend(
            fed.finished
                .into_iter()
                .map(|b| Event::Traceback(traceback(b))),
        );

        if oom_hit && let Some(m) = oom::classify_candidate(line, self.cuda_provider) {
            kind = LineKind::Error;
            let cut = prefix::generic_len(line);
            let (head, text) = line.split_at(cut);
            let source = prefix::key(head);
            let seen = episode::Seen {
                block: fed.block,
                exception: is_exception_line(text),
                source: &source,
                text: text.trim(),
                at_ms,
            };
            if self.episodes.admit(seen, self.cfg.oom_merge_ms) {
                out.push(Event::GpuOom(GpuOom {
                    framework: m.framework,
                    message: agentlens_crds::text::truncate(line.trim(), 512),
                    requested_bytes: m.requested_bytes,
                    gpu_index: m.gpu_index,
                    at_ms,
                }));
            }
        }
        kind
    }

    /// Finishes blocks that have been idle for [`ScanConfig::idle_ms`].
    pub fn flush_idle(&mut self, now_ms: u64, out: &mut Vec<Event>) {
        let done = self.assembler.flush_idle(now_ms, self.cfg.idle_ms);
        out.extend(done.into_iter().map(|b| Event::Traceback(traceback(b))));
    }

    /// Finishes the open blocks (end of stream).
    pub fn finish(&mut self, out: &mut Vec<Event>) {
        let done = self.assembler.flush();
        out.extend(done.into_iter().map(|b| Event::Traceback(traceback(b))));
    }
}

/// `torch.OutOfMemoryError: …`, `ValueError: …`: a raised exception, not a C function's log
/// line (`ggml_backend_cuda_buffer_type_alloc_buffer: …`).
fn is_exception_line(text: &str) -> bool {
    frame::python_exception(text).is_some_and(|(t, _)| {
        t.rsplit('.')
            .next()
            .is_some_and(|last| last.bytes().any(|c| c.is_ascii_uppercase()))
    })
}

fn traceback(block: Block) -> Traceback {
    let mut h = Sha256::new();
    h.update(block.language.as_str());
    h.update([0]);
    h.update(&block.exception);
    h.update([0]);
    h.update(block.frame.as_deref().unwrap_or(""));
    let digest = h.finalize();
    let fingerprint = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    let gpu_oom = oom::classify(&format!("{}: {}", block.exception, block.message)).is_some();
    Traceback {
        block,
        fingerprint,
        gpu_oom,
    }
}

/// Decodes a line's bytes, replacing invalid UTF-8 (never fails).
pub fn decode(bytes: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(bytes)
}
