//! Node.js: errors with `at` frames (confirmed from a shared header, see `jvm.rs`), and
//! unhandled promise rejections, which often have no frame at all:
//! `[UnhandledPromiseRejection: This error originated … reason "#<Object>".] {` (Node 15+) and
//! `(node:1234) UnhandledPromiseRejectionWarning: …` (older Node, which keeps running).

use super::{Kind, Language, Open, Step, indented};
use crate::logscan::frame;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    Frames,
    /// A frame-less rejection report: `{ code: … }` and repeated warning lines follow.
    Rejection,
}

const REJECTION: &str = "[UnhandledPromiseRejection: ";
const WARNING: &str = "UnhandledPromiseRejectionWarning: ";
/// Older Node prints this after each rejection's reason.
const TAIL: &str = "Unhandled promise rejection.";

pub(super) fn start<'a>(prefix: &str, content: &'a str, at_ms: u64) -> Option<(Open, &'a str)> {
    if let Some(rest) = content.strip_prefix(REJECTION) {
        let mut open = Open::new(Kind::Node(State::Rejection), Language::Node, prefix, at_ms);
        let message = rest.trim_end().trim_end_matches('{').trim_end();
        let message = message.strip_suffix(']').unwrap_or(message);
        open.set_exception("UnhandledPromiseRejection", message);
        return Some((open, content));
    }
    let rest = content.strip_prefix(WARNING)?;
    if rest.starts_with(TAIL) {
        return None; // the end of the rejection just reported, never a new one
    }
    if let Some((exception, message)) = frame::exception_header(rest) {
        // The rejection reason is an error with frames.
        let mut open = Open::new(Kind::Candidate, Language::Node, prefix, at_ms);
        open.set_exception(&exception, &message);
        return Some((open, content));
    }
    let mut open = Open::new(Kind::Node(State::Rejection), Language::Node, prefix, at_ms);
    open.set_exception("UnhandledPromiseRejectionWarning", rest.trim());
    Some((open, content))
}

pub(super) fn continue_block(state: State, b: &str) -> Step {
    let t = b.trim_start();
    if t.starts_with("Node.js v") {
        return Step::EndWith;
    }
    let goes_on = match state {
        State::Frames => t.starts_with("at ") || indented(b) || t == "}",
        State::Rejection => {
            indented(b)
                || t == "}"
                || t.strip_prefix(WARNING).is_some_and(|r| r.starts_with(TAIL))
                || t.starts_with("[DEP0018] DeprecationWarning: Unhandled promise rejections")
        }
    };
    if goes_on {
        Step::Continue
    } else {
        Step::EndBefore
    }
}
