//! Limits and interleaving of the assembler, on lines built for the purpose (the real
//! blocks are tested in `sidecar/tests/logscan.rs`).

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
