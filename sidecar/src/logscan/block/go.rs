//! Go panics and fatal errors: `panic: msg` / `fatal error: msg`, then goroutine dumps whose
//! first goroutine's first non-runtime function is where it happened.

use super::{Kind, Language, MAX_MESSAGE_BYTES, Open, Step, indented};
use crate::logscan::frame;
use agentlens_crds::text::truncate;

pub(super) fn start<'a>(prefix: &str, content: &'a str, at_ms: u64) -> Option<(Open, &'a str)> {
    for (marker, exception) in [("panic: ", "panic"), ("fatal error: ", "fatal error")] {
        if let Some(msg) = content.strip_prefix(marker) {
            let kind = Kind::Go {
                confirmed: false,
                want_frame: false,
            };
            let mut open = Open::new(kind, Language::Go, prefix, at_ms);
            let msg = msg.trim_end_matches(" [recovered]");
            match msg.strip_prefix("runtime error: ") {
                Some(m) if exception == "panic" => open.set_exception("runtime error", m),
                _ => open.set_exception(exception, msg),
            }
            return Some((open, content));
        }
    }
    None
}

pub(super) fn continue_block(open: &mut Open, confirmed: bool, want_frame: bool, b: &str) -> Step {
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
        if !want_frame
            && let Some(f) = open.frame.as_mut()
            && !f.contains(".go:")
        {
            f.push(' ');
            f.push_str(&frame::normalise(t));
            *f = truncate(f, MAX_MESSAGE_BYTES);
        }
        return Step::Continue;
    }
    Step::EndBefore
}
