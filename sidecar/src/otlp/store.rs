//! What the OTLP receiver keeps: tokens and requests per model, prompt templates, retrievers,
//! guardrails, evaluators and the agent-to-agent call graph. Every map is bounded and counts
//! what it had to drop (`agentlens_sidecar_dropped_total{buffer}`).
//!
//! The call graph: an agent span (`invoke_agent`, OpenInference `AGENT`) whose nearest agent
//! ancestor is another agent is an edge caller → callee. Children end, and so are exported,
//! before their parents, so an agent span whose ancestors have not arrived waits (bounded, at
//! most [`PENDING_TTL_MS`]) until they do. A parent in another process (remote) ends the walk:
//! the caller's own sidecar records that edge from its client-side `invoke_agent` span.
//!
//! Plain calls make edges too: a CLIENT span and the SERVER span under it, emitted by two
//! agents (HTTP instrumentations carry the context), paired by [`super::calls`].

use std::collections::{BTreeMap, HashMap, VecDeque};

use agentlens_crds::snapshot::{
    CheckSeen, GenAiSnapshot, ModelUsage, PromptTemplateSeen, RetrieverSeen, SnapshotAgentEdge,
};
use sha2::{Digest, Sha256};

use super::calls::{CallPairs, Half, Side};
use super::genai::{AiKind, SpanFacts};
use crate::clock::time;
use crate::latency::Histogram;
use crate::metrics::Metrics;

/// Most models with their own label value and usage entry.
pub const MAX_MODELS: usize = 32;
/// Most prompt templates kept.
pub const MAX_PROMPTS: usize = 100;
/// Most retrievers, guardrails and evaluators kept (each).
pub const MAX_CHECKS: usize = 32;
/// Most agent-graph edges.
pub const MAX_EDGES: usize = 256;
/// Spans remembered for parent lookups.
pub const MAX_INDEX: usize = 65_536;
/// Agent spans waiting for their ancestors.
pub const MAX_PENDING: usize = 4_096;
/// How long an agent span waits for its ancestors.
pub const PENDING_TTL_MS: u64 = 5 * 60 * 1000;
/// Longest prompt text kept when content capture is on.
pub const MAX_PROMPT_TEXT: usize = 16 * 1024;

/// Bounded buffers of this store, as `dropped` keys.
pub const BUFFERS: [&str; 7] = [
    "otlpModels",
    "otlpPrompts",
    "otlpRetrievers",
    "otlpChecks",
    "otlpEdges",
    "otlpPendingEdges",
    "otlpPendingCalls",
];

/// GenAI operation names with their own label value.
const OPERATIONS: [&str; 10] = [
    "chat",
    "text_completion",
    "generate_content",
    "embeddings",
    "execute_tool",
    "invoke_agent",
    "create_agent",
    "retrieval",
    "apply_guardrail",
    "evaluate",
];

/// A span id as a number (ids are 8 bytes; anything else is 0, "no span").
fn id(bytes: &[u8]) -> u64 {
    <[u8; 8]>::try_from(bytes).map_or(0, u64::from_be_bytes)
}

struct Node {
    parent: u64,
    agent: Option<String>,
}

struct Pending {
    parent: u64,
    agent: String,
    duration_s: f64,
    error: bool,
    at_ms: u64,
}

#[derive(Default)]
struct Edge {
    calls: u64,
    errors: u64,
    latency: Histogram,
}

enum Caller {
    Agent(String),
    None,
    Unknown,
}

/// The receiver's state.
pub struct GenAiStore {
    capture_content: bool,
    spans: u64,
    models: BTreeMap<String, ModelUsage>,
    prompts: HashMap<String, PromptTemplateSeen>,
    retrievers: BTreeMap<(Option<String>, Option<String>), RetrieverSeen>,
    guardrails: BTreeMap<String, CheckSeen>,
    evaluators: BTreeMap<String, CheckSeen>,
    index: HashMap<u64, Node>,
    order: VecDeque<u64>,
    pending: VecDeque<Pending>,
    edges: BTreeMap<(String, String), Edge>,
    calls: CallPairs,
    dropped: BTreeMap<&'static str, u64>,
    metrics: Metrics,
}

impl std::fmt::Debug for GenAiStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GenAiStore")
            .field("spans", &self.spans)
            .finish()
    }
}

impl GenAiStore {
    /// An empty store; `capture_content` keeps redacted prompt text.
    pub fn new(capture_content: bool, metrics: Metrics) -> Self {
        metrics.init_buffers(&BUFFERS);
        Self {
            capture_content,
            spans: 0,
            models: BTreeMap::new(),
            prompts: HashMap::new(),
            retrievers: BTreeMap::new(),
            guardrails: BTreeMap::new(),
            evaluators: BTreeMap::new(),
            index: HashMap::new(),
            order: VecDeque::new(),
            pending: VecDeque::new(),
            edges: BTreeMap::new(),
            calls: CallPairs::new(),
            dropped: BTreeMap::new(),
            metrics,
        }
    }

    fn drop_one(&mut self, buffer: &'static str) {
        *self.dropped.entry(buffer).or_default() += 1;
        self.metrics.dropped.with_label_values(&[buffer]).inc();
    }

    /// Items dropped per buffer.
    pub fn dropped(&self) -> &BTreeMap<&'static str, u64> {
        &self.dropped
    }

    /// Takes in one export request's spans (all of them first, so parents in the same batch
    /// are known), `now_ms` for expiry.
    pub fn ingest(&mut self, batch: &[SpanFacts], now_ms: u64) {
        for f in batch {
            self.remember(f);
        }
        for f in batch {
            self.spans += 1;
            self.account(f, now_ms);
            self.call(f, now_ms);
        }
        self.calls.expire(now_ms);
        self.resolve(now_ms);
    }

    fn remember(&mut self, f: &SpanFacts) {
        let span = id(&f.span_id);
        if span == 0 {
            return;
        }
        if self.order.len() >= MAX_INDEX
            && let Some(old) = self.order.pop_front()
        {
            self.index.remove(&old);
        }
        let agent = (f.kind == AiKind::Agent).then(|| f.agent.clone()).flatten();
        if self
            .index
            .insert(
                span,
                Node {
                    parent: if f.parent_remote { 0 } else { id(&f.parent_id) },
                    agent,
                },
            )
            .is_none()
        {
            self.order.push_back(span);
        }
    }

    fn caller(&self, parent: u64) -> Caller {
        let mut at = parent;
        for _ in 0..64 {
            if at == 0 {
                return Caller::None;
            }
            match self.index.get(&at) {
                None => return Caller::Unknown,
                Some(n) => {
                    if let Some(a) = &n.agent {
                        return Caller::Agent(a.clone());
                    }
                    at = n.parent;
                }
            }
        }
        Caller::None
    }

    /// The agent a span belongs to: its own attribute, its nearest known agent ancestor, or
    /// the service.
    fn agent_of(&self, f: &SpanFacts) -> String {
        if let Some(a) = &f.agent {
            return a.clone();
        }
        match self.caller(id(&f.parent_id)) {
            Caller::Agent(a) => a,
            _ => f.service.clone(),
        }
    }

    fn model_label(&mut self, model: Option<&str>) -> String {
        let Some(m) = model else {
            return "unknown".to_string();
        };
        if !self.models.contains_key(m) {
            if self.models.len() >= MAX_MODELS {
                self.drop_one("otlpModels");
                return "other".to_string();
            }
            self.models.insert(
                m.to_string(),
                ModelUsage {
                    model: m.to_string(),
                    ..ModelUsage::default()
                },
            );
        }
        m.to_string()
    }

    fn account(&mut self, f: &SpanFacts, now_ms: u64) {
        let at = if f.end_ms > 0 { f.end_ms } else { now_ms };
        if f.kind != AiKind::Other {
            let model = self.model_label(f.model.as_deref());
            let op = if OPERATIONS.contains(&f.operation.as_str()) {
                f.operation.as_str()
            } else {
                "other"
            };
            self.metrics
                .genai_duration
                .with_label_values(&[model.as_str(), op])
                .observe(f.duration_s);
            let (input, output) = (f.input_tokens.unwrap_or(0), f.output_tokens.unwrap_or(0));
            if input > 0 {
                self.metrics
                    .genai_tokens
                    .with_label_values(&[model.as_str(), "input"])
                    .inc_by(input);
            }
            if output > 0 {
                self.metrics
                    .genai_tokens
                    .with_label_values(&[model.as_str(), "output"])
                    .inc_by(output);
            }
            if let Some(u) = self.models.get_mut(&model) {
                if matches!(f.kind, AiKind::Llm | AiKind::Embedding) {
                    u.requests += 1;
                }
                u.input_tokens = u.input_tokens.saturating_add(input);
                u.output_tokens = u.output_tokens.saturating_add(output);
            }
        }
        if let Some((text, version)) = &f.prompt {
            self.prompt(f, text, version.clone(), at);
        }
        if let Some((store, collection)) = &f.retriever {
            let key = (store.clone(), collection.clone());
            if let Some(r) = self.retrievers.get_mut(&key) {
                r.queries += 1;
                r.last_seen = time(at);
            } else if self.retrievers.len() >= MAX_CHECKS {
                self.drop_one("otlpRetrievers");
            } else {
                let agent = Some(self.agent_of(f));
                self.retrievers.insert(
                    key,
                    RetrieverSeen {
                        store: store.clone(),
                        collection: collection.clone(),
                        agent,
                        queries: 1,
                        first_seen: time(at),
                        last_seen: time(at),
                    },
                );
            }
        }
        if let Some((name, score, failed)) = &f.check {
            let guardrail = f.kind == AiKind::Guardrail;
            let full = if guardrail {
                self.guardrails.len() >= MAX_CHECKS && !self.guardrails.contains_key(name)
            } else {
                self.evaluators.len() >= MAX_CHECKS && !self.evaluators.contains_key(name)
            };
            if full {
                self.drop_one("otlpChecks");
            } else {
                let map = if guardrail {
                    &mut self.guardrails
                } else {
                    &mut self.evaluators
                };
                let c = map.entry(name.clone()).or_insert_with(|| CheckSeen {
                    name: name.clone(),
                    runs: 0,
                    failures: 0,
                    last_score: None,
                    last_seen: time(at),
                });
                c.runs += 1;
                c.failures += u64::from(*failed);
                if score.is_some() {
                    c.last_score = *score;
                }
                c.last_seen = time(at);
            }
        }
        if f.kind == AiKind::Agent
            && let Some(agent) = &f.agent
            && !f.parent_remote
            && !f.parent_id.is_empty()
        {
            if self.pending.len() >= MAX_PENDING {
                self.pending.pop_front();
                self.drop_one("otlpPendingEdges");
            }
            self.pending.push_back(Pending {
                parent: id(&f.parent_id),
                agent: agent.clone(),
                duration_s: f.duration_s,
                error: f.error,
                at_ms: now_ms,
            });
        }
    }

    /// Pairs a CLIENT or SERVER span with its other half (another process's).
    fn call(&mut self, f: &SpanFacts, now_ms: u64) {
        let Ok(trace) = <[u8; 16]>::try_from(f.trace_id.as_slice()) else {
            return;
        };
        let (side, link) = if f.client {
            (Side::Client, id(&f.span_id))
        } else if f.server {
            (Side::Server, id(&f.parent_id))
        } else {
            return;
        };
        if link == 0 {
            return; // a root SERVER span: no caller we could see
        }
        let outcome = self.calls.observe(
            Half {
                side,
                trace,
                link,
                agent: f.service.clone(),
                duration_s: f.duration_s,
                error: f.error,
            },
            now_ms,
        );
        for _ in 0..outcome.evicted {
            self.drop_one("otlpPendingCalls");
        }
        if let Some(c) = outcome.call {
            self.edge(c.from, c.to, c.duration_s, c.error);
        }
    }

    fn prompt(&mut self, f: &SpanFacts, text: &str, version: Option<String>, at: u64) {
        let hash = format!("sha256:{:x}", Sha256::digest(text.as_bytes()));
        if let Some(p) = self.prompts.get_mut(&hash) {
            p.uses += 1;
            p.last_seen = time(at);
            return;
        }
        if self.prompts.len() >= MAX_PROMPTS {
            // The least recently used template goes.
            if let Some(oldest) = self
                .prompts
                .values()
                .min_by(|a, b| a.last_seen.0.cmp(&b.last_seen.0))
                .map(|p| p.hash.clone())
            {
                self.prompts.remove(&oldest);
            }
            self.drop_one("otlpPrompts");
        }
        let agent = Some(self.agent_of(f));
        let text = self
            .capture_content
            .then(|| agentlens_crds::text::truncate(&crate::redact::redact(text), MAX_PROMPT_TEXT));
        self.prompts.insert(
            hash.clone(),
            PromptTemplateSeen {
                hash,
                version,
                agent,
                model: f.model.clone(),
                uses: 1,
                first_seen: time(at),
                last_seen: time(at),
                text,
            },
        );
    }

    fn resolve(&mut self, now_ms: u64) {
        let pending = std::mem::take(&mut self.pending);
        let mut waiting = VecDeque::with_capacity(pending.len());
        for p in pending {
            match self.caller(p.parent) {
                Caller::Agent(caller) => {
                    if caller != p.agent {
                        self.edge(caller, p.agent.clone(), p.duration_s, p.error);
                    }
                }
                Caller::None => {}
                Caller::Unknown => {
                    if now_ms.saturating_sub(p.at_ms) < PENDING_TTL_MS {
                        waiting.push_back(p);
                    }
                }
            }
        }
        self.pending = waiting;
    }

    fn edge(&mut self, from: String, to: String, seconds: f64, error: bool) {
        let key = (from, to);
        if !self.edges.contains_key(&key) && self.edges.len() >= MAX_EDGES {
            self.drop_one("otlpEdges");
            return;
        }
        let e = self.edges.entry(key).or_default();
        e.calls += 1;
        e.errors += u64::from(error);
        e.latency.observe(seconds, error);
    }

    /// The snapshot sections: GenAI evidence and the call graph (lists cut at `limit`, most
    /// recent or busiest first).
    pub fn snapshot(&self, limit: usize) -> (GenAiSnapshot, Vec<SnapshotAgentEdge>) {
        let mut prompts: Vec<PromptTemplateSeen> = self.prompts.values().cloned().collect();
        prompts.sort_by(|a, b| b.last_seen.0.cmp(&a.last_seen.0).then(a.hash.cmp(&b.hash)));
        prompts.truncate(limit);
        let mut edges: Vec<SnapshotAgentEdge> = self
            .edges
            .iter()
            .map(|((from, to), e)| SnapshotAgentEdge {
                from: from.clone(),
                to: to.clone(),
                calls: e.calls,
                errors: e.errors,
                buckets: e.latency.buckets(),
            })
            .collect();
        edges.sort_by_key(|e| std::cmp::Reverse(e.calls));
        edges.truncate(limit);
        (
            GenAiSnapshot {
                spans: self.spans,
                models: self.models.values().cloned().collect(),
                prompts,
                retrievers: self.retrievers.values().take(limit).cloned().collect(),
                guardrails: self.guardrails.values().take(limit).cloned().collect(),
                evaluators: self.evaluators.values().take(limit).cloned().collect(),
            },
            edges,
        )
    }
}
