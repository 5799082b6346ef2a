//! Log collection: a child's stdout/stderr passed through byte for byte while being analysed,
//! and files followed across truncation and rotation. Each stream has its own splitter and
//! scanner; what they find goes into the shared observations.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncSeekExt, AsyncWrite, AsyncWriteExt};

use crate::logscan::{Event, LineSplitter, ScanConfig, StreamScanner, decode};
use crate::sample::now_ms;
use crate::shared::Shared;

/// Analysis of one stream.
pub struct StreamSink {
    shared: Arc<Shared>,
    container: String,
    stream: &'static str,
    source: &'static str,
    splitter: LineSplitter,
    scanner: StreamScanner,
    events: Vec<Event>,
}

impl StreamSink {
    /// A sink for `container`'s `stream` (`stdout`, `stderr`, `file`).
    pub fn new(
        shared: Arc<Shared>,
        container: &str,
        stream: &'static str,
        cfg: ScanConfig,
    ) -> Self {
        if let Ok(mut o) = shared.observations.lock() {
            o.ensure_container(container);
        }
        Self {
            shared,
            container: container.to_string(),
            stream,
            source: "log",
            splitter: LineSplitter::new(cfg.max_line_bytes),
            scanner: StreamScanner::new(cfg),
            events: Vec::new(),
        }
    }

    /// The same sink reporting its GPU OOM events with another `source` label (`otlp`).
    pub fn with_source(mut self, source: &'static str) -> Self {
        self.source = source;
        self
    }

    /// Analyses a chunk of bytes.
    pub fn feed(&mut self, data: &[u8], at_ms: u64) {
        let before = self.splitter.truncated();
        let mut lines = 0u64;
        let mut errors: Vec<(crate::logscan::LineKind, String)> = Vec::new();
        let scanner = &mut self.scanner;
        let events = &mut self.events;
        self.splitter.push(data, &mut |line| {
            lines += 1;
            let text = decode(line.bytes);
            let kind = scanner.scan(&text, at_ms, events);
            if kind == crate::logscan::LineKind::Error {
                errors.push((kind, text.into_owned()));
            }
        });
        let truncated = self.splitter.truncated() - before;
        self.publish(lines, truncated, errors, at_ms);
    }

    /// Analyses one complete line (already split and bounded by the caller), `truncated` when
    /// the caller cut it.
    pub fn feed_line(&mut self, line: &[u8], truncated: bool, at_ms: u64) {
        let text = decode(line);
        let kind = self.scanner.scan(&text, at_ms, &mut self.events);
        let errors = if kind == crate::logscan::LineKind::Error {
            vec![(kind, text.into_owned())]
        } else {
            Vec::new()
        };
        self.publish(1, u64::from(truncated), errors, at_ms);
    }

    /// Finishes blocks idle for long enough.
    pub fn idle(&mut self, now: u64) {
        self.scanner.flush_idle(now, &mut self.events);
        if !self.events.is_empty() {
            self.publish(0, 0, Vec::new(), now);
        }
    }

    /// End of stream: the last partial line and any open block.
    pub fn finish(&mut self) {
        let now = now_ms();
        let mut lines = 0;
        let scanner = &mut self.scanner;
        let events = &mut self.events;
        self.splitter.finish(&mut |line| {
            lines += 1;
            scanner.scan(&decode(line.bytes), now, events);
        });
        self.scanner.finish(&mut self.events);
        self.publish(lines, 0, Vec::new(), now);
    }

    fn publish(
        &mut self,
        lines: u64,
        truncated: u64,
        errors: Vec<(crate::logscan::LineKind, String)>,
        at_ms: u64,
    ) {
        if lines == 0 && self.events.is_empty() && errors.is_empty() && truncated == 0 {
            return;
        }
        let Ok(mut o) = self.shared.observations.lock() else {
            return;
        };
        if lines > 0 || truncated > 0 {
            o.count_lines(&self.container, self.stream, lines, truncated);
        }
        for (kind, line) in errors {
            o.error_line(&self.container, self.stream, kind, &line, at_ms);
        }
        for e in self.events.drain(..) {
            o.event(&self.container, self.source, e);
        }
    }
}

/// Copies `reader` to `writer` unchanged while analysing it, until end of stream. Write errors
/// (our own stdout closed) do not stop the reading: the child must never block on a full pipe.
pub async fn pass_through<R, W>(mut reader: R, mut writer: W, mut sink: StreamSink)
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut buf = vec![0u8; 64 * 1024];
    let mut writable = true;
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            read = reader.read(&mut buf) => {
                let n = match read {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                if writable && (writer.write_all(&buf[..n]).await.is_err() || writer.flush().await.is_err()) {
                    writable = false;
                }
                sink.feed(&buf[..n], now_ms());
            }
            _ = tick.tick() => sink.idle(now_ms()),
        }
    }
    sink.finish();
}

/// Where a followed file is.
struct Position {
    file: tokio::fs::File,
    inode: u64,
    offset: u64,
}

async fn open_at(path: &PathBuf, at_end: bool) -> Option<Position> {
    use std::os::unix::fs::MetadataExt;
    let mut file = tokio::fs::File::open(path).await.ok()?;
    let meta = file.metadata().await.ok()?;
    let offset = if at_end { meta.len() } else { 0 };
    file.seek(std::io::SeekFrom::Start(offset)).await.ok()?;
    Some(Position {
        file,
        inode: meta.ino(),
        offset,
    })
}

async fn drain(pos: &mut Position, sink: &mut StreamSink, buf: &mut [u8]) {
    loop {
        match pos.file.read(buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                pos.offset += n as u64;
                sink.feed(&buf[..n], now_ms());
            }
        }
    }
}

/// Follows `path` like `tail -F`: existing content is skipped, appended lines are read, a
/// rotated file (new inode at the path) is read to its end before the new one is opened from
/// the start, and a truncated file (copytruncate) is read again from the start. Polls every
/// 250 ms until `stop` resolves.
pub async fn follow_file(
    path: PathBuf,
    mut sink: StreamSink,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    use std::os::unix::fs::MetadataExt;
    let mut buf = vec![0u8; 64 * 1024];
    let mut pos = open_at(&path, true).await;
    let mut reported_missing = false;
    loop {
        match pos.as_mut() {
            None => {
                pos = open_at(&path, false).await;
                if pos.is_none() && !reported_missing {
                    reported_missing = true;
                    tracing::debug!("waiting for log file {}", path.display());
                }
            }
            Some(p) => {
                drain(p, &mut sink, &mut buf).await;
                match tokio::fs::metadata(&path).await {
                    Ok(meta) if meta.ino() != p.inode => {
                        // Rotated: finish the old file, then start the new one from the top.
                        drain(p, &mut sink, &mut buf).await;
                        pos = open_at(&path, false).await;
                    }
                    Ok(meta) if meta.len() < p.offset => {
                        let _ = p.file.seek(std::io::SeekFrom::Start(0)).await;
                        p.offset = 0;
                    }
                    Ok(_) => {}
                    Err(_) => {} // Removed: keep the old handle until a new file appears.
                }
            }
        }
        sink.idle(now_ms());
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(250)) => {}
            _ = stop.changed() => {
                if let Some(p) = pos.as_mut() {
                    drain(p, &mut sink, &mut buf).await;
                }
                break;
            }
        }
    }
    sink.finish();
}
