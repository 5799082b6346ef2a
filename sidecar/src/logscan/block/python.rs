//! CPython tracebacks: plain, chained (`During handling…`, `The above exception…`), exception
//! groups (`| ` framed), and the frame-less `Exception ignored in: <object>` report of an
//! error raised in `__del__` or a callback (with or without the traceback that follows).

use super::{Kind, Language, Open, Step, indented};
use crate::logscan::{frame, prefix};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    Frames,
    AfterException,
    AfterExceptionBlank,
    Chain,
    Group,
    /// `Exception ignored in: …` seen; a traceback or the exception line follows.
    Ignored,
}

const TRACEBACK: &str = "Traceback (most recent call last):";
const GROUP_TRACEBACK: &str = "Exception Group Traceback (most recent call last):";
const CHAIN: [&str; 2] = [
    "During handling of the above exception, another exception occurred:",
    "The above exception was the direct cause of the following exception:",
];
const IGNORED: &str = "Exception ignored in: ";

/// A block starting at `line`, and the first line to keep. The marker may sit after any
/// prefix.
pub(super) fn start(line: &str, at_ms: u64) -> Option<(Open, &str)> {
    if let Some(pos) = line.find(GROUP_TRACEBACK) {
        let prefix = line[..pos].trim_end_matches(['+', ' ']);
        let open = Open::new(Kind::Python(State::Group), Language::Python, prefix, at_ms);
        return Some((open, &line[prefix.len()..]));
    }
    if let Some(pos) = line.find(TRACEBACK) {
        let open = Open::new(
            Kind::Python(State::Frames),
            Language::Python,
            &line[..pos],
            at_ms,
        );
        return Some((open, TRACEBACK));
    }
    if let Some(pos) = line.find(IGNORED)
        && pos == prefix::generic_len(line)
    {
        let mut open = Open::new(
            Kind::Python(State::Ignored),
            Language::Python,
            &line[..pos],
            at_ms,
        );
        // No frame may follow: the object it was raised in stands for where.
        open.frame = Some(frame::normalise(&line[pos..]));
        return Some((open, &line[pos..]));
    }
    None
}

/// Whether a block that ended in `state` is a traceback.
pub(super) fn confirmed(state: State) -> bool {
    !matches!(state, State::Frames)
}

/// Whether a block of this kind has its exception and only waits for a chained one.
pub(super) fn complete(kind: Kind) -> bool {
    matches!(
        kind,
        Kind::Python(State::AfterException | State::AfterExceptionBlank)
    )
}

pub(super) fn continue_block(open: &mut Open, state: State, b: &str) -> Step {
    match state {
        State::Frames => frames(open, b),
        State::AfterException | State::AfterExceptionBlank => {
            if CHAIN.contains(&b.trim()) {
                open.kind = Kind::Python(State::Chain);
                Step::Continue
            } else if b.trim().is_empty() && state == State::AfterException {
                open.kind = Kind::Python(State::AfterExceptionBlank);
                Step::Continue
            } else if prefix::generic_len(b) > 0 && !b.contains(TRACEBACK) {
                // Another source's log record: a chained exception may still follow.
                Step::Skip
            } else {
                Step::EndBefore
            }
        }
        State::Chain => {
            if b.trim().is_empty() {
                Step::Continue
            } else if b.trim_start().starts_with(TRACEBACK) {
                open.kind = Kind::Python(State::Frames);
                Step::Continue
            } else if b.contains(GROUP_TRACEBACK) {
                open.kind = Kind::Python(State::Group);
                open.exception.clear();
                Step::Continue
            } else {
                Step::EndBefore
            }
        }
        State::Group => group(open, b),
        State::Ignored => {
            if b.trim_start().starts_with(TRACEBACK) {
                open.kind = Kind::Python(State::Frames);
                Step::Continue
            } else if indented(b) {
                Step::Continue // the object's repr, wrapped
            } else if let Some((exception, message)) = frame::python_exception(b) {
                open.set_exception(&exception, &message);
                open.kind = Kind::Python(State::AfterException);
                Step::Continue
            } else {
                Step::EndBefore
            }
        }
    }
}

fn frames(open: &mut Open, b: &str) -> Step {
    if b.trim().is_empty() || indented(b) {
        let t = b.trim_start();
        if t.starts_with("File \"") {
            open.frame = Some(frame::normalise(t));
        }
        Step::Continue
    } else if CHAIN.contains(&b.trim()) {
        open.kind = Kind::Python(State::Chain);
        Step::Continue
    } else if let Some((exception, message)) = frame::python_exception(b) {
        open.set_exception(&exception, &message);
        open.kind = Kind::Python(State::AfterException);
        Step::Continue
    } else if prefix::generic_len(b) > 0 {
        // A log record of another thread or process between the frames.
        Step::Skip
    } else {
        // Not a CPython traceback (an IPython one, prose): drop it.
        open.exception.clear();
        open.kind = Kind::Candidate;
        Step::EndBefore
    }
}

fn group(open: &mut Open, b: &str) -> Step {
    if !(b.trim().is_empty() || indented(b)) {
        return Step::EndBefore;
    }
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
        open.set_exception(&exception, &message);
    }
    Step::Continue
}
