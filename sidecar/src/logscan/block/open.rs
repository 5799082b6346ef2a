//! A block being assembled: what it has read so far, kept within its [`Limits`].

use super::{Kind, Language, Limits, MAX_EXCEPTION_BYTES, MAX_MESSAGE_BYTES};
use crate::logscan::prefix;
use agentlens_crds::text::truncate;

/// A block being assembled.
#[derive(Debug)]
pub(super) struct Open {
    pub(super) id: u64,
    pub(super) kind: Kind,
    pub(super) language: Language,
    pub(super) prefix: String,
    pub(super) exception: String,
    pub(super) message: String,
    pub(super) frame: Option<String>,
    pub(super) lines: Vec<String>,
    bytes: usize,
    pub(super) omitted_lines: usize,
    pub(super) truncated_lines: usize,
    pub(super) started_ms: u64,
    pub(super) last_ms: u64,
    pub(super) foreign: usize,
}

impl Open {
    pub(super) fn new(kind: Kind, language: Language, prefix: &str, at_ms: u64) -> Self {
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

    pub(super) fn set_exception(&mut self, exception: &str, message: &str) {
        self.exception = truncate(exception, MAX_EXCEPTION_BYTES);
        self.message = truncate(message, MAX_MESSAGE_BYTES);
    }
}

/// Room kept at the end of a cut line for the marker.
pub(super) const MARKER_BYTES: usize = 32;

/// Keeps a line within the block's limits, counting what does not fit.
pub(super) fn push_line(open: &mut Open, body: &str, limits: Limits, at_ms: u64) {
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
