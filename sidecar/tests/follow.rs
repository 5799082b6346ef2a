//! `--log-file` following: appended lines, rotation by rename, copytruncate, a file created
//! late.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Write;
use std::time::Duration;

use agentlens_crds::snapshot::SidecarMode;
use agentlens_sidecar::logs::{StreamSink, follow_file};
use agentlens_sidecar::logscan::ScanConfig;
use agentlens_sidecar::shared::Shared;

fn append(path: &std::path::Path, text: &str) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    f.write_all(text.as_bytes()).unwrap();
}

async fn lines_seen(shared: &Shared) -> u64 {
    shared.settle();
    shared.observations().containers()["main"].file_lines
}

/// Waits (at most 30 s) until `want` lines were seen, then asserts it: no fixed sleep before
/// an assertion.
async fn wait_for_lines(shared: &Shared, want: u64, what: &str) {
    let seen = common::wait_until_async(Duration::from_secs(30), async || {
        (lines_seen(shared).await == want).then_some(())
    })
    .await;
    assert!(seen.is_some(), "{what}: {} lines", lines_seen(shared).await);
}

/// Lets the follower's 250 ms poll run a few times. Only where the follower must have seen a
/// state before the test changes it (opened the file before an append it must not skip, seen
/// the truncated size before the next append), which nothing outside it can observe.
async fn settle() {
    tokio::time::sleep(Duration::from_millis(700)).await;
}

#[tokio::test(flavor = "current_thread")]
async fn follows_appends_rotation_and_truncation() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("agent.log");
    append(&path, "old line written before the sidecar started\n");
    let shared = Shared::new(SidecarMode::Run, None).unwrap();
    let sink = StreamSink::new(shared.clone(), "main", "file", ScanConfig::default());
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(follow_file(path.clone(), sink, stop_rx));
    settle().await;
    assert_eq!(lines_seen(&shared).await, 0, "existing content is skipped");

    append(&path, "one\ntwo\n");
    wait_for_lines(&shared, 2, "appended lines").await;

    // logrotate's default: rename, then the app reopens a new file.
    std::fs::rename(&path, dir.path().join("agent.log.1")).unwrap();
    append(
        &dir.path().join("agent.log.1"),
        "three (written to the old file after rename)\n",
    );
    append(&path, "four\n");
    wait_for_lines(&shared, 4, "old file drained, new file read from its start").await;

    // copytruncate: same inode, size drops to zero.
    std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(&path)
        .unwrap();
    settle().await;
    append(&path, "five\n");
    wait_for_lines(&shared, 5, "read again from the start after truncation").await;

    // A traceback in the file is captured like one on stderr.
    append(
        &path,
        "Traceback (most recent call last):\n  File \"/app/x.py\", line 3, in <module>\nKeyError: 'invoice_id'\n",
    );
    wait_for_lines(&shared, 8, "the traceback's lines").await;
    stop_tx.send(true).unwrap();
    task.await.unwrap();
    shared.settle();
    let obs = shared.observations();
    assert_eq!(obs.containers()["main"].tracebacks, 1);
    assert_eq!(obs.groups()[0].exception, "KeyError");
}

#[tokio::test(flavor = "current_thread")]
async fn a_file_created_later_is_read_from_its_start() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("late.log");
    let shared = Shared::new(SidecarMode::Run, None).unwrap();
    let sink = StreamSink::new(shared.clone(), "main", "file", ScanConfig::default());
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(follow_file(path.clone(), sink, stop_rx));
    settle().await;
    append(&path, "first\nsecond\n");
    wait_for_lines(&shared, 2, "a file created later is read from its start").await;
    stop_tx.send(true).unwrap();
    task.await.unwrap();
}
