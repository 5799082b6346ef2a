//! The source side of the analysis: a stream's handle, which never blocks.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::{ANALYSIS_LINE_BYTES, Input};
use crate::logscan::ScanConfig;
use crate::observations::Origin;

/// One stream's handle on the analysis: what a source holds. Cheap; never blocks.
#[derive(Debug)]
pub struct StreamSink {
    shared: Arc<crate::shared::Shared>,
    id: u64,
    container: String,
    stream: &'static str,
    origin: Origin,
    cfg: ScanConfig,
    opened: bool,
    gap: bool,
}

impl StreamSink {
    /// A sink for `container`'s `stream` (`stdout`, `stderr`, `file`, `otlp`).
    pub fn new(
        shared: Arc<crate::shared::Shared>,
        container: &str,
        stream: &'static str,
        cfg: ScanConfig,
    ) -> Self {
        shared.analysis.container(container);
        let id = shared.analysis.next_id.fetch_add(1, Ordering::Relaxed);
        Self {
            shared,
            id,
            container: container.to_string(),
            stream,
            origin: Origin {
                source: "log",
                stream,
            },
            cfg,
            opened: false,
            gap: false,
        }
    }

    /// The same sink reporting its GPU OOM detections under another `source` label (`otlp`)
    /// and stream (`otlp-logs`, `otlp-spans`).
    pub fn with_origin(mut self, source: &'static str, stream: &'static str) -> Self {
        self.origin = Origin { source, stream };
        self
    }

    /// Opens the stream on the analysis thread; false when the queue had no room (the
    /// caller's data is dropped and counted like a chunk, and the next feed tries again).
    fn open(&mut self) -> bool {
        if !self.opened {
            self.opened = self.shared.analysis.send_data(
                0,
                Input::Open {
                    id: self.id,
                    container: self.container.clone(),
                    stream: self.stream,
                    origin: self.origin,
                    cfg: self.cfg,
                },
            );
        }
        self.opened
    }

    /// Hands a chunk of bytes to the analysis (dropped and counted when it is behind).
    pub fn feed(&mut self, data: &[u8], at_ms: u64) {
        if data.is_empty() {
            return;
        }
        if !self.open() {
            self.gap = true;
            return;
        }
        let input = Input::Chunk {
            id: self.id,
            data: data.to_vec(),
            at_ms,
            after_gap: self.gap,
        };
        self.gap = !self.shared.analysis.send_data(data.len(), input);
    }

    /// Hands one complete line (already split by the caller), `truncated` when the caller
    /// cut it; it is cut to [`ANALYSIS_LINE_BYTES`] here.
    pub fn feed_line(&mut self, line: &[u8], truncated: bool, at_ms: u64) {
        if !self.open() {
            self.gap = true;
            return;
        }
        let cut = line.len() > ANALYSIS_LINE_BYTES;
        let line = line[..line.len().min(ANALYSIS_LINE_BYTES)].to_vec();
        let input = Input::Line {
            id: self.id,
            truncated: truncated || cut,
            at_ms,
            line,
        };
        let len = line_len(&input);
        self.gap = !self.shared.analysis.send_data(len, input);
    }

    /// End of stream: the last partial line and any open block are analysed.
    pub fn finish(&mut self) {
        if self.opened {
            self.opened = false;
            self.shared
                .analysis
                .send_forced(Input::Close { id: self.id });
        }
    }
}

fn line_len(input: &Input) -> usize {
    match input {
        Input::Line { line, .. } => line.len(),
        Input::Chunk { data, .. } => data.len(),
        _ => 0,
    }
}

impl Drop for StreamSink {
    fn drop(&mut self) {
        self.finish();
    }
}
