//! One GPU OOM event per error report. A report is one traceback block, or the allocator lines
//! printed for one failure (TensorFlow's retries, llama.cpp's two lines, NCCL's warning pair),
//! or one exception line printed without frames; the lines that belong to it are merged, the
//! next report is a new event however soon it comes.
//!
//! The merge window is anchored at the report's first line and does not slide, so a storm of
//! OOM lines counts again every window; a new traceback of the same source, or an exception
//! with another text, always starts a new report. The same exception printed again (a wrapper
//! logging it after its traceback, vLLM's workers each printing it with their own prefix) is
//! the same report.

/// Where an OOM line was seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seen<'a> {
    /// The error block the line belongs to, when it is inside one.
    pub block: Option<u64>,
    /// Whether the line is an exception line (`torch.OutOfMemoryError: …`, `ValueError: …`):
    /// the end of a report, not an allocator's log line.
    pub exception: bool,
    /// The line's source: its prefix with timestamps blanked (see [`super::prefix::key`]).
    pub source: &'a str,
    /// The line without its prefix.
    pub text: &'a str,
    /// When (caller's ms).
    pub at_ms: u64,
}

#[derive(Debug, Default)]
struct Report {
    started_ms: u64,
    block: Option<u64>,
    /// The report already holds its exception (a block or an exception line).
    closed: bool,
    source: String,
    text: String,
}

/// The current report of one stream.
#[derive(Debug, Default)]
pub struct Episodes {
    current: Option<Report>,
}

/// Bytes of the report's text kept for comparing with another process's copy.
const TEXT_BYTES: usize = 512;

impl Episodes {
    /// Records an OOM line; `true` when it starts a new report (one event).
    pub fn admit(&mut self, seen: Seen<'_>, window_ms: u64) -> bool {
        let ends = seen.block.is_some() || seen.exception;
        let merged = self
            .current
            .as_ref()
            .is_some_and(|r| same_report(r, &seen, window_ms));
        match (merged, self.current.as_mut()) {
            (true, Some(r)) => {
                if r.block.is_none() {
                    r.block = seen.block;
                }
                if ends && !r.closed {
                    r.closed = true;
                    r.text = agentlens_crds::text::truncate(seen.text, TEXT_BYTES);
                }
                false
            }
            _ => {
                self.current = Some(Report {
                    started_ms: seen.at_ms,
                    block: seen.block,
                    closed: ends,
                    source: seen.source.to_string(),
                    text: agentlens_crds::text::truncate(seen.text, TEXT_BYTES),
                });
                true
            }
        }
    }
}

fn same_report(r: &Report, seen: &Seen<'_>, window_ms: u64) -> bool {
    if seen.block.is_some() && r.block == seen.block {
        return true; // one block is one report, however long it takes to print
    }
    if seen.at_ms.saturating_sub(r.started_ms) >= window_ms {
        return false;
    }
    let ends = seen.block.is_some() || seen.exception;
    if !ends || !r.closed {
        // An allocator's line, or the report's first exception after its allocator lines.
        return true;
    }
    // A second exception: the same failure printed again (by a wrapper that logs it, or by
    // another process of the job), unless it is another traceback of the same source.
    let same_text = r.text == agentlens_crds::text::truncate(seen.text, TEXT_BYTES);
    same_text && !(seen.block.is_some() && r.source == seen.source)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "ValueError: No available memory for the cache blocks.";

    fn seen(
        block: Option<u64>,
        exception: bool,
        source: &'static str,
        at_ms: u64,
    ) -> Seen<'static> {
        Seen {
            block,
            exception,
            source,
            text: TEXT,
            at_ms,
        }
    }

    #[test]
    fn reports() {
        let w = 2_000;
        // (lines, events): each row one stream.
        let rows: &[(&str, &[Seen<'static>], usize)] = &[
            (
                "ten tracebacks 1.5 s apart",
                &[
                    seen(Some(1), true, "", 0),
                    seen(Some(2), true, "", 1_500),
                    seen(Some(3), true, "", 3_000),
                ],
                3,
            ),
            (
                "allocator retries, then the traceback that reports them",
                &[
                    seen(None, false, "#", 0),
                    seen(None, false, "#", 1_500),
                    seen(Some(1), true, "", 1_900),
                ],
                1,
            ),
            (
                "a block's lines long after its first",
                &[seen(Some(1), false, "", 0), seen(Some(1), true, "", 9_000)],
                1,
            ),
            (
                "a storm of allocator lines counts once per window",
                &[
                    seen(None, false, "#", 0),
                    seen(None, false, "#", 1_500),
                    seen(None, false, "#", 3_000),
                    seen(None, false, "#", 4_500),
                ],
                2,
            ),
            (
                "two different exceptions of one source",
                &[
                    seen(None, true, "", 0),
                    Seen {
                        text: "RuntimeError: CUDA error: out of memory",
                        ..seen(None, true, "", 10)
                    },
                ],
                2,
            ),
            (
                "a traceback, then its exception logged again",
                &[seen(Some(1), true, "", 0), seen(None, true, "ERROR: ", 10)],
                1,
            ),
            (
                "two workers printing one failure",
                &[
                    seen(None, true, "(VllmWorkerProcess pid=1) ", 0),
                    seen(None, true, "(VllmWorkerProcess pid=2) ", 10),
                ],
                1,
            ),
        ];
        for (name, lines, want) in rows {
            let mut e = Episodes::default();
            let got = lines.iter().filter(|s| e.admit(**s, w)).count();
            assert_eq!(got, *want, "{name}");
        }
    }
}
