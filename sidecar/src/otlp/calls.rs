//! Agent edges from plain calls between processes, the way the OpenTelemetry Collector's
//! `servicegraph` connector and Tempo's service graphs build them: a CLIENT (or PRODUCER) span
//! and the SERVER (or CONSUMER) span whose parent it is (same trace id, the server's parent span
//! id is the client's span id), emitted by two different agents, are one call client → server.
//! HTTP client and server instrumentations carry the trace context across the hand-off, so an
//! agent system without agent spans still shows its call graph.
//!
//! The two halves arrive in either order (each process exports on its own schedule), so the
//! first waits for the other in a bounded store: at most [`MAX_WAITING`] halves and
//! [`MAX_WAITING_BYTES`] bytes (the oldest half goes first, counted as a drop), each at most
//! [`WAIT_TTL_MS`]. A half whose other half never comes (the peer reports to another sidecar,
//! or is not instrumented) expires silently: that is expected, not a loss. Pure and synchronous.

use std::collections::{HashMap, VecDeque};

/// Most halves waiting for their other half.
pub const MAX_WAITING: usize = 4_096;
/// Most bytes of waiting halves (ids, agent names and bookkeeping).
pub const MAX_WAITING_BYTES: usize = 1 << 20;
/// How long a half waits for its other half: both end within a request of each other, and
/// exporters batch for seconds, so this is long enough without keeping stale halves.
pub const WAIT_TTL_MS: u64 = 2 * 60 * 1000;
/// Bytes a waiting half takes besides its agent name (key, entry, queue slot, map overhead).
const HALF_OVERHEAD: usize = 128;

/// Which side of a call a span is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// CLIENT or PRODUCER: the caller.
    Client,
    /// SERVER or CONSUMER: the handler; its parent is the caller's span.
    Server,
}

/// One half of a call.
#[derive(Debug, Clone, PartialEq)]
pub struct Half {
    /// Client or server.
    pub side: Side,
    /// The trace id (16 bytes).
    pub trace: [u8; 16],
    /// The client's span id (the span itself) or the server's parent span id: the key both
    /// halves share.
    pub link: u64,
    /// The agent of the process that emitted it.
    pub agent: String,
    /// Duration in seconds.
    pub duration_s: f64,
    /// Status error.
    pub error: bool,
}

/// A matched call.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    /// The caller's agent.
    pub from: String,
    /// The handler's agent.
    pub to: String,
    /// The caller's duration (what the caller waited).
    pub duration_s: f64,
    /// Either half failed.
    pub error: bool,
}

/// What one half did to the store.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Outcome {
    /// The call it completed, when its other half was waiting and the agents differ.
    pub call: Option<Call>,
    /// Halves pushed out to stay within the bounds (drops).
    pub evicted: u64,
}

struct Waiting {
    half: Half,
    at_ms: u64,
    seq: u64,
}

/// Halves waiting for their other half.
#[derive(Default)]
pub struct CallPairs {
    waiting: HashMap<(Side, [u8; 16], u64), Waiting>,
    /// Arrival order, for expiry and eviction; entries already matched are skipped.
    order: VecDeque<(Side, [u8; 16], u64, u64)>,
    bytes: usize,
    seq: u64,
}

impl std::fmt::Debug for CallPairs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallPairs")
            .field("waiting", &self.waiting.len())
            .field("bytes", &self.bytes)
            .finish()
    }
}

fn size(h: &Half) -> usize {
    HALF_OVERHEAD + h.agent.len()
}

impl CallPairs {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Halves waiting.
    pub fn len(&self) -> usize {
        self.waiting.len()
    }

    /// Whether none waits.
    pub fn is_empty(&self) -> bool {
        self.waiting.is_empty()
    }

    /// Bytes of the halves waiting.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Takes one half at `now_ms`: completes the call with its waiting other half, or waits.
    pub fn observe(&mut self, half: Half, now_ms: u64) -> Outcome {
        self.expire(now_ms);
        let other = match half.side {
            Side::Client => Side::Server,
            Side::Server => Side::Client,
        };
        if let Some(w) = self.waiting.remove(&(other, half.trace, half.link)) {
            self.bytes = self.bytes.saturating_sub(size(&w.half));
            let (client, server) = match half.side {
                Side::Client => (half, w.half),
                Side::Server => (w.half, half),
            };
            // A process calling itself is no edge between agents.
            let call = (client.agent != server.agent).then_some(Call {
                error: client.error || server.error,
                from: client.agent,
                to: server.agent,
                duration_s: client.duration_s,
            });
            return Outcome { call, evicted: 0 };
        }
        let key = (half.side, half.trace, half.link);
        let bytes = size(&half);
        let mut evicted = 0;
        if bytes > MAX_WAITING_BYTES {
            return Outcome {
                call: None,
                evicted: 1,
            };
        }
        while self.waiting.len() >= MAX_WAITING || self.bytes + bytes > MAX_WAITING_BYTES {
            if self.pop_oldest().is_none() {
                break;
            }
            evicted += 1;
        }
        self.seq += 1;
        if let Some(old) = self.waiting.insert(
            key,
            Waiting {
                half,
                at_ms: now_ms,
                seq: self.seq,
            },
        ) {
            // The same half again (a re-sent export): the new one replaces it.
            self.bytes = self.bytes.saturating_sub(size(&old.half));
        }
        self.bytes += bytes;
        self.order.push_back((key.0, key.1, key.2, self.seq));
        Outcome {
            call: None,
            evicted,
        }
    }

    /// Removes the oldest waiting half; `None` when none waits.
    fn pop_oldest(&mut self) -> Option<u64> {
        while let Some((side, trace, link, seq)) = self.order.pop_front() {
            let key = (side, trace, link);
            if self.waiting.get(&key).is_some_and(|w| w.seq == seq) {
                let w = self.waiting.remove(&key)?;
                self.bytes = self.bytes.saturating_sub(size(&w.half));
                return Some(w.at_ms);
            }
        }
        None
    }

    /// Forgets the halves that waited longer than [`WAIT_TTL_MS`].
    pub fn expire(&mut self, now_ms: u64) {
        while let Some(&(side, trace, link, seq)) = self.order.front() {
            let key = (side, trace, link);
            match self.waiting.get(&key) {
                Some(w) if w.seq == seq => {
                    if now_ms.saturating_sub(w.at_ms) < WAIT_TTL_MS {
                        break;
                    }
                    self.pop_oldest();
                }
                // Matched or replaced since: only its queue slot is left.
                _ => {
                    self.order.pop_front();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T1: [u8; 16] = [1; 16];
    const T2: [u8; 16] = [2; 16];

    fn half(side: Side, trace: [u8; 16], link: u64, agent: &str, error: bool) -> Half {
        Half {
            side,
            trace,
            link,
            agent: agent.into(),
            duration_s: if side == Side::Client { 0.5 } else { 0.4 },
            error,
        }
    }

    fn call(from: &str, to: &str, error: bool) -> Option<Call> {
        Some(Call {
            from: from.into(),
            to: to.into(),
            duration_s: 0.5,
            error,
        })
    }

    #[test]
    fn halves_pair_in_either_order_and_only_on_the_same_trace_and_span() {
        use Side::{Client, Server};
        // (halves in arrival order, the calls completed, halves left waiting)
        type Case = (&'static str, Vec<Half>, Vec<Option<Call>>, usize);
        let cases: Vec<Case> = vec![
            (
                "client first",
                vec![
                    half(Client, T1, 7, "planner", false),
                    half(Server, T1, 7, "worker", false),
                ],
                vec![None, call("planner", "worker", false)],
                0,
            ),
            (
                "server first",
                vec![
                    half(Server, T1, 7, "worker", false),
                    half(Client, T1, 7, "planner", false),
                ],
                vec![None, call("planner", "worker", false)],
                0,
            ),
            (
                "an error on either side is the call's",
                vec![
                    half(Server, T1, 7, "worker", true),
                    half(Client, T1, 7, "planner", false),
                ],
                vec![None, call("planner", "worker", true)],
                0,
            ),
            (
                "another trace does not pair",
                vec![
                    half(Client, T1, 7, "planner", false),
                    half(Server, T2, 7, "worker", false),
                ],
                vec![None, None],
                2,
            ),
            (
                "another parent does not pair",
                vec![
                    half(Client, T1, 7, "planner", false),
                    half(Server, T1, 8, "worker", false),
                ],
                vec![None, None],
                2,
            ),
            (
                "two clients do not pair",
                vec![
                    half(Client, T1, 7, "planner", false),
                    half(Client, T1, 7, "planner", false),
                ],
                vec![None, None],
                1,
            ),
            (
                "a call within one agent is no edge",
                vec![
                    half(Client, T1, 7, "worker", false),
                    half(Server, T1, 7, "worker", false),
                ],
                vec![None, None],
                0,
            ),
        ];
        for (name, halves, want, left) in cases {
            let mut p = CallPairs::new();
            let got: Vec<Option<Call>> = halves
                .into_iter()
                .map(|h| {
                    let o = p.observe(h, 1_000);
                    assert_eq!(o.evicted, 0, "{name}");
                    o.call
                })
                .collect();
            assert_eq!(got, want, "{name}");
            assert_eq!(p.len(), left, "{name}");
            assert_eq!(p.bytes() == 0, left == 0, "{name}");
        }
    }

    #[test]
    fn a_half_waits_at_most_the_ttl() {
        let mut p = CallPairs::new();
        p.observe(half(Side::Server, T1, 7, "worker", false), 0);
        let o = p.observe(half(Side::Client, T1, 7, "planner", false), WAIT_TTL_MS);
        assert_eq!(o, Outcome::default(), "expired, not paired, not a drop");
        // The late client now waits itself; it pairs within its own TTL.
        let o = p.observe(
            half(Side::Server, T1, 7, "worker", false),
            2 * WAIT_TTL_MS - 1,
        );
        assert_eq!(o.call, call("planner", "worker", false));
        assert!(p.is_empty());
        assert_eq!(p.bytes(), 0);
    }

    #[test]
    fn the_oldest_halves_go_first_when_items_or_bytes_run_out() {
        let mut p = CallPairs::new();
        for i in 0..MAX_WAITING as u64 {
            assert_eq!(
                p.observe(half(Side::Server, T1, i, "w", false), 0).evicted,
                0
            );
        }
        let o = p.observe(half(Side::Server, T1, u64::MAX, "w", false), 0);
        assert_eq!(o.evicted, 1);
        assert_eq!(p.len(), MAX_WAITING);
        // Half 0 was pushed out: half 1 still pairs, half 0's client no longer does.
        assert!(
            p.observe(half(Side::Client, T1, 1, "p", false), 0)
                .call
                .is_some()
        );
        assert_eq!(
            p.observe(half(Side::Client, T1, 0, "p", false), 0).call,
            None
        );

        // Bytes: long agent names fill the byte budget before the item budget.
        let mut p = CallPairs::new();
        let long = "a".repeat(64 * 1024);
        let fit = MAX_WAITING_BYTES / (HALF_OVERHEAD + long.len());
        let mut evicted = 0;
        for i in 0..(fit as u64 + 3) {
            evicted += p
                .observe(half(Side::Client, T2, i, &long, false), 0)
                .evicted;
        }
        assert_eq!(evicted, 3);
        assert_eq!(p.len(), fit);
        assert!(p.bytes() <= MAX_WAITING_BYTES);
        // A half larger than the whole budget is dropped, not kept.
        let huge = "a".repeat(MAX_WAITING_BYTES);
        let o = p.observe(half(Side::Client, T2, 0, &huge, false), 0);
        assert_eq!(o.evicted, 1);
        assert_eq!(p.len(), fit);
    }
}
