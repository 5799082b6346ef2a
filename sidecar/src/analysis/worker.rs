//! The analysis thread: per-stream splitters and scanners, the observations it owns, and
//! their publication.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::time::Instant;

use super::{ANALYSIS_LINE_BYTES, IDLE_EVERY, Input, PUBLISH_EVERY, Room};
use crate::clock::now_ms;
use crate::logscan::{Event, LineKind, LineSplitter, ScanConfig, StreamScanner, decode};
use crate::observations::{Observations, Origin};

/// The analysis state of one stream.
struct Stream {
    container: String,
    stream: &'static str,
    origin: Origin,
    cfg: ScanConfig,
    splitter: LineSplitter,
    scanner: StreamScanner,
}

impl Stream {
    fn new(container: String, stream: &'static str, origin: Origin, cfg: ScanConfig) -> Self {
        let cfg = ScanConfig {
            max_line_bytes: cfg.max_line_bytes.min(ANALYSIS_LINE_BYTES),
            ..cfg
        };
        Self {
            container,
            stream,
            origin,
            cfg,
            splitter: LineSplitter::new(cfg.max_line_bytes),
            scanner: StreamScanner::new(cfg),
        }
    }

    /// Analyses the lines of `data`.
    fn chunk(&mut self, obs: &mut Observations, data: &[u8], at_ms: u64) {
        let before = self.splitter.truncated();
        let mut lines = 0u64;
        let mut events = Vec::new();
        let (scanner, container, stream) = (&mut self.scanner, &self.container, self.stream);
        self.splitter.push(data, &mut |line| {
            lines += 1;
            let text = decode(line.bytes);
            if scanner.scan(&text, at_ms, &mut events) == LineKind::Error {
                obs.error_line(container, stream, LineKind::Error, &text, at_ms);
            }
        });
        let truncated = self.splitter.truncated() - before;
        obs.count_lines(&self.container, self.stream, lines, truncated);
        self.apply(obs, events);
    }

    fn line(&mut self, obs: &mut Observations, line: &[u8], truncated: bool, at_ms: u64) {
        let mut events = Vec::new();
        let text = decode(line);
        if self.scanner.scan(&text, at_ms, &mut events) == LineKind::Error {
            obs.error_line(&self.container, self.stream, LineKind::Error, &text, at_ms);
        }
        obs.count_lines(&self.container, self.stream, 1, u64::from(truncated));
        self.apply(obs, events);
    }

    fn idle(&mut self, obs: &mut Observations, now: u64) -> bool {
        let mut events = Vec::new();
        self.scanner.flush_idle(now, &mut events);
        let any = !events.is_empty();
        self.apply(obs, events);
        any
    }

    /// End of stream (or a gap): the partial line and the open block are finished.
    fn finish(&mut self, obs: &mut Observations) {
        let now = now_ms();
        let mut lines = 0;
        let mut events = Vec::new();
        let scanner = &mut self.scanner;
        self.splitter.finish(&mut |line| {
            lines += 1;
            scanner.scan(&decode(line.bytes), now, &mut events);
        });
        self.scanner.finish(&mut events);
        if lines > 0 {
            obs.count_lines(&self.container, self.stream, lines, 0);
        }
        self.apply(obs, events);
    }

    fn restart(&mut self, obs: &mut Observations) {
        self.finish(obs);
        self.splitter = LineSplitter::new(self.cfg.max_line_bytes);
        self.scanner = StreamScanner::new(self.cfg);
    }

    fn apply(&self, obs: &mut Observations, events: Vec<Event>) {
        for e in events {
            obs.event(&self.container, self.origin, e);
        }
    }
}

pub(super) struct Worker {
    obs: Observations,
    streams: HashMap<u64, Stream>,
    room: Arc<Room>,
    view: tokio::sync::watch::Sender<Arc<Observations>>,
    dirty: bool,
}

impl Worker {
    pub(super) fn new(
        obs: Observations,
        room: Arc<Room>,
        view: tokio::sync::watch::Sender<Arc<Observations>>,
    ) -> Self {
        Self {
            obs,
            streams: HashMap::new(),
            room,
            view,
            dirty: false,
        }
    }

    pub(super) fn run(mut self, rx: &mpsc::Receiver<Input>) {
        let mut last_publish = Instant::now();
        let mut last_idle = Instant::now();
        loop {
            let wait = if self.dirty {
                PUBLISH_EVERY.saturating_sub(last_publish.elapsed())
            } else {
                IDLE_EVERY.saturating_sub(last_idle.elapsed())
            };
            match rx.recv_timeout(wait) {
                Ok(input) => self.handle(input),
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
            if last_idle.elapsed() >= IDLE_EVERY {
                last_idle = Instant::now();
                let now = now_ms();
                for s in self.streams.values_mut() {
                    self.dirty |= s.idle(&mut self.obs, now);
                }
            }
            if self.dirty && last_publish.elapsed() >= PUBLISH_EVERY {
                self.publish();
                last_publish = Instant::now();
            }
        }
    }

    fn publish(&mut self) {
        self.obs
            .note_queue_drops(self.room.dropped.load(Ordering::Relaxed));
        self.view.send_replace(Arc::new(self.obs.clone()));
        self.dirty = false;
    }

    fn handle(&mut self, input: Input) {
        self.dirty = true;
        match input {
            Input::Open {
                id,
                container,
                stream,
                origin,
                cfg,
            } => {
                self.room.give_back(0);
                self.obs.ensure_container(&container);
                self.streams
                    .insert(id, Stream::new(container, stream, origin, cfg));
            }
            Input::Chunk {
                id,
                data,
                at_ms,
                after_gap,
            } => {
                self.room.give_back(data.len());
                if let Some(s) = self.streams.get_mut(&id) {
                    if after_gap {
                        s.restart(&mut self.obs);
                    }
                    s.chunk(&mut self.obs, &data, at_ms);
                }
            }
            Input::Line {
                id,
                line,
                truncated,
                at_ms,
            } => {
                self.room.give_back(line.len());
                if let Some(s) = self.streams.get_mut(&id) {
                    s.line(&mut self.obs, &line, truncated, at_ms);
                }
            }
            Input::Close { id } => {
                self.room.give_back(0);
                if let Some(mut s) = self.streams.remove(&id) {
                    s.finish(&mut self.obs);
                }
            }
            Input::Container(name) => {
                self.room.give_back(0);
                self.obs.ensure_container(&name);
            }
            Input::Unavailable { container, reason } => {
                self.room.give_back(0);
                self.obs.set_logs_unavailable(&container, reason);
            }
            Input::Settle(done) => {
                self.publish();
                let _ = done.send(());
            }
        }
    }
}
