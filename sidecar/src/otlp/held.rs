//! Matched calls (CLIENT/SERVER pairs from [`super::calls`]) held until the store can tell
//! whether a call is the transport of an agent invocation it already counts as an agent edge.
//! That takes the client span's local ancestors, and children are exported before their
//! parents, so a call may wait for them: at most [`MAX_HELD`] calls and [`MAX_HELD_BYTES`]
//! bytes, each at most [`HELD_TTL_MS`]. A call pushed out by a bound, or that waited its
//! TTL, is counted, not dropped: a matched pair is evidence of a call on its own, and counting
//! it is better than losing it. Pure and synchronous.

use std::collections::VecDeque;

use super::calls::Call;

/// Most calls held.
pub const MAX_HELD: usize = 4_096;
/// Most bytes of held calls (agent names and bookkeeping).
pub const MAX_HELD_BYTES: usize = 1 << 20;
/// How long a call waits for its client's ancestors: as long as an agent span waits for its
/// own ([`super::store::PENDING_TTL_MS`]), since both wait for the same spans.
pub const HELD_TTL_MS: u64 = super::store::PENDING_TTL_MS;
/// Bytes a held call takes besides its two agent names (call, span id, time, queue slot).
const HELD_OVERHEAD: usize = 96;

/// What the store can tell about a matched call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// A call of its own: count it.
    Count,
    /// The transport of an agent invocation the agent spans count: not again.
    Counted,
    /// A local ancestor of the client span, needed to tell, has not arrived yet.
    Wait,
}

struct Held {
    call: Call,
    /// The client span's id: where the ancestor walk starts.
    span: u64,
    at_ms: u64,
}

fn size(c: &Call) -> usize {
    HELD_OVERHEAD + c.from.len() + c.to.len()
}

/// Calls waiting for their client's ancestors, oldest first.
#[derive(Default)]
pub struct HeldCalls {
    queue: VecDeque<Held>,
    bytes: usize,
}

impl std::fmt::Debug for HeldCalls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HeldCalls")
            .field("held", &self.queue.len())
            .field("bytes", &self.bytes)
            .finish()
    }
}

impl HeldCalls {
    /// Calls held.
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// Whether none is held.
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Bytes of the calls held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Holds `call`, whose client span is `span`, at `now_ms`; returns the calls to count now:
    /// the oldest, pushed out to stay within the bounds (or `call` itself when it alone is
    /// over the byte bound).
    pub fn hold(&mut self, call: Call, span: u64, now_ms: u64) -> Vec<Call> {
        let bytes = size(&call);
        if bytes > MAX_HELD_BYTES {
            return vec![call];
        }
        let mut out = Vec::new();
        while self.queue.len() >= MAX_HELD || self.bytes + bytes > MAX_HELD_BYTES {
            let Some(old) = self.queue.pop_front() else {
                break;
            };
            self.bytes = self.bytes.saturating_sub(size(&old.call));
            out.push(old.call);
        }
        self.bytes += bytes;
        self.queue.push_back(Held {
            call,
            span,
            at_ms: now_ms,
        });
        out
    }

    /// Asks `verdict` about every held call again at `now_ms` (by its client span); returns
    /// the calls to count: those found to be their own and those that waited
    /// [`HELD_TTL_MS`]. Calls found to be counted already are let go.
    pub fn release(&mut self, now_ms: u64, mut verdict: impl FnMut(u64) -> Verdict) -> Vec<Call> {
        let mut out = Vec::new();
        let mut kept = VecDeque::with_capacity(self.queue.len());
        for h in std::mem::take(&mut self.queue) {
            let count = match verdict(h.span) {
                Verdict::Wait if now_ms.saturating_sub(h.at_ms) < HELD_TTL_MS => {
                    kept.push_back(h);
                    continue;
                }
                Verdict::Counted => false,
                Verdict::Count | Verdict::Wait => true,
            };
            self.bytes = self.bytes.saturating_sub(size(&h.call));
            if count {
                out.push(h.call);
            }
        }
        self.queue = kept;
        out
    }
}
