//! Rust panics: `thread 'main' panicked at src/x.rs:1:2:` with the message on the next line
//! (1.73+), or `panicked at 'msg', src/x.rs:1:2` (older), then notes and a backtrace.

use super::{Kind, Language, Open, Step, indented};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    ExpectMessage,
    Tail,
}

pub(super) fn start(line: &str, at_ms: u64) -> Option<(Open, &str)> {
    let pos = line.find("thread '")?;
    if !line[pos..].contains("' panicked at ") {
        return None;
    }
    let header = &line[pos..];
    let mut open = Open::new(Kind::Rust(State::Tail), Language::Rust, &line[..pos], at_ms);
    open.set_exception("panic", "");
    let after = header
        .split_once("' panicked at ")
        .map(|(_, r)| r)
        .unwrap_or("");
    if let Some(loc) = after.strip_suffix(':') {
        // Rust 1.73+: location, message on the next line.
        open.frame = Some(loc.to_string());
        open.kind = Kind::Rust(State::ExpectMessage);
    } else if let Some(rest) = after.strip_prefix('\'')
        && let Some((msg, loc)) = rest.rsplit_once("', ")
    {
        // Older: 'message', location
        open.set_exception("panic", msg);
        open.frame = Some(loc.to_string());
    }
    Some((open, header))
}

pub(super) fn continue_block(open: &mut Open, state: State, b: &str) -> Step {
    match state {
        State::ExpectMessage => {
            open.set_exception("panic", b);
            open.kind = Kind::Rust(State::Tail);
            Step::Continue
        }
        State::Tail => {
            let t = b.trim_start();
            if indented(b) || t.starts_with("note: ") || t == "stack backtrace:" {
                Step::Continue
            } else {
                Step::EndBefore
            }
        }
    }
}
