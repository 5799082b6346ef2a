//! JVM stack traces (`java.lang.X: msg`, `\tat …` frames, `Caused by:`, `... 12 more`), and
//! the exception header that JVM and Node.js traces share until their first `at` frame says
//! which one it is.

use super::{Kind, Language, Open, Step, indented};
use crate::logscan::frame;

/// A JVM or Node.js header (`java.lang.IllegalStateException: msg`, `TypeError: msg`): a
/// candidate until its first frame.
pub(super) fn start<'a>(prefix: &str, content: &'a str, at_ms: u64) -> Option<(Open, &'a str)> {
    let (exception, message) = frame::exception_header(content)?;
    let language = if exception.contains('.') {
        Language::Java
    } else {
        Language::Node
    };
    let mut open = Open::new(Kind::Candidate, language, prefix, at_ms);
    open.set_exception(&exception, &message);
    Some((open, content))
}

/// The line after a candidate header: its first `at` frame, or the end of a false start.
pub(super) fn confirm(open: &mut Open, b: &str) -> Step {
    let t = b.trim_start();
    if !(t.starts_with("at ") && indented(b)) {
        // Not a stack trace after all: drop the candidate, look at this line afresh.
        open.exception.clear();
        return Step::EndBefore;
    }
    if let Some(lang) = frame::frame_language(t) {
        open.language = lang;
    }
    open.frame = Some(frame::normalise(t.trim_start_matches("at ")));
    open.kind = if open.language == Language::Java {
        Kind::Jvm {
            frames_after_cause: 1,
        }
    } else {
        Kind::Node(super::node::State::Frames)
    };
    Step::Continue
}

pub(super) fn continue_block(open: &mut Open, frames_after_cause: usize, b: &str) -> Step {
    let t = b.trim_start();
    if let Some(cause) = t.strip_prefix("Caused by: ") {
        if let Some((exception, message)) = frame::exception_header(cause) {
            open.set_exception(&exception, &message);
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
