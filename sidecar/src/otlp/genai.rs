//! What one span says about an AI agent system, read from the OpenTelemetry GenAI semantic
//! conventions (`gen_ai.*`) and the OpenInference attributes (`openinference.span.kind`,
//! `llm.*`). Pure: a span and its resource in, plain facts out.

use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::trace::v1::{Span, span, status};

/// What a span does, by the OpenInference span kinds (GenAI operations map onto them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AiKind {
    /// An agent invocation.
    Agent,
    /// A call to a language model.
    Llm,
    /// A tool call.
    Tool,
    /// A retrieval from a vector store or index.
    Retriever,
    /// An embedding call.
    Embedding,
    /// A guardrail check.
    Guardrail,
    /// An evaluator run.
    Evaluator,
    /// Anything else (HTTP handlers, chains, database calls).
    Other,
}

/// The facts of one span.
#[derive(Debug, Clone, PartialEq)]
pub struct SpanFacts {
    /// Trace id.
    pub trace_id: Vec<u8>,
    /// Span id.
    pub span_id: Vec<u8>,
    /// Parent span id (empty for a root).
    pub parent_id: Vec<u8>,
    /// The parent lives in another process (W3C context from a request).
    pub parent_remote: bool,
    /// The agent of the process that emitted it: the resource's `agentlens.agent` (the
    /// webhook's), else its `service.name`.
    pub service: String,
    /// What the span does.
    pub kind: AiKind,
    /// `gen_ai.operation.name`, or one derived from the OpenInference kind.
    pub operation: String,
    /// The agent: the one invoked for an agent span, else `gen_ai.agent.name` when set.
    pub agent: Option<String>,
    /// The model (response model first).
    pub model: Option<String>,
    /// Input tokens.
    pub input_tokens: Option<u64>,
    /// Output tokens.
    pub output_tokens: Option<u64>,
    /// Duration in seconds.
    pub duration_s: f64,
    /// End time, ms since the epoch.
    pub end_ms: u64,
    /// Status error.
    pub error: bool,
    /// Span kind SERVER or CONSUMER: the handling of a request or of a queued message.
    pub server: bool,
    /// Span kind CLIENT or PRODUCER: a request sent or a message queued.
    pub client: bool,
    /// The prompt template (or system instructions) and its version, when the span has one.
    pub prompt: Option<(String, Option<String>)>,
    /// Vector store and collection of a retrieval.
    pub retriever: Option<(Option<String>, Option<String>)>,
    /// Guardrail or evaluator name, score and whether it failed.
    pub check: Option<(String, Option<f64>, bool)>,
    /// Exception texts (message and stack trace) of `exception` events.
    pub exceptions: Vec<String>,
}

/// A string view of an attribute value.
pub fn text(v: &AnyValue) -> Option<String> {
    match v.value.as_ref()? {
        any_value::Value::StringValue(s) => Some(s.clone()),
        any_value::Value::IntValue(i) => Some(i.to_string()),
        any_value::Value::DoubleValue(d) => Some(d.to_string()),
        any_value::Value::BoolValue(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A string view of an attribute value, at most `max` bytes (a long string is cut without
/// being copied whole first); whether it was cut.
pub fn text_cut(v: &AnyValue, max: usize) -> Option<(String, bool)> {
    match v.value.as_ref()? {
        any_value::Value::StringValue(s) if s.len() > max => {
            Some((agentlens_crds::text::truncate(s, max), true))
        }
        _ => text(v).map(|t| (t, false)),
    }
}

fn number(v: &AnyValue) -> Option<f64> {
    match v.value.as_ref()? {
        any_value::Value::IntValue(i) => Some(*i as f64),
        any_value::Value::DoubleValue(d) => Some(*d),
        any_value::Value::StringValue(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// The attribute `key`.
pub fn attr<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a AnyValue> {
    attrs
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
}

/// The longest name (model, agent, service, guardrail or evaluator) kept: names become metric
/// label values and status entries, so any process in the pod posting a 100 KiB "model" must
/// not make the AgentDeployment's status too large for the API server.
pub const MAX_NAME_BYTES: usize = 128;

/// A name: [`first_text`] cut at [`MAX_NAME_BYTES`].
fn first_name(attrs: &[KeyValue], keys: &[&str]) -> Option<String> {
    first_text(attrs, keys).map(|s| name(&s))
}

/// A name cut at [`MAX_NAME_BYTES`] (on a character boundary).
pub fn name(s: &str) -> String {
    agentlens_crds::text::truncate(s, MAX_NAME_BYTES)
}

fn first_text(attrs: &[KeyValue], keys: &[&str]) -> Option<String> {
    keys.iter()
        .find_map(|k| attr(attrs, k).and_then(text))
        .filter(|s| !s.trim().is_empty())
}

fn first_count(attrs: &[KeyValue], keys: &[&str]) -> Option<u64> {
    keys.iter()
        .find_map(|k| attr(attrs, k).and_then(number))
        .filter(|n| *n >= 0.0)
        .map(|n| n as u64)
}

fn kind_of(attrs: &[KeyValue], operation: Option<&str>) -> AiKind {
    if let Some(k) = first_text(attrs, &["openinference.span.kind"]) {
        return match k.to_ascii_uppercase().as_str() {
            "AGENT" => AiKind::Agent,
            "LLM" => AiKind::Llm,
            "TOOL" => AiKind::Tool,
            "RETRIEVER" => AiKind::Retriever,
            "EMBEDDING" => AiKind::Embedding,
            "GUARDRAIL" => AiKind::Guardrail,
            "EVALUATOR" => AiKind::Evaluator,
            _ => AiKind::Other,
        };
    }
    match operation {
        Some("invoke_agent" | "create_agent") => AiKind::Agent,
        Some("chat" | "text_completion" | "generate_content") => AiKind::Llm,
        Some("embeddings") => AiKind::Embedding,
        Some("execute_tool") => AiKind::Tool,
        Some("retrieval" | "retrieve") => AiKind::Retriever,
        Some("apply_guardrail" | "guardrail") => AiKind::Guardrail,
        Some("evaluate" | "evaluation") => AiKind::Evaluator,
        _ => {
            // A vector database query is a retrieval even without GenAI attributes.
            let system = first_text(attrs, &["db.system.name", "db.system"]);
            if system.is_some_and(|s| VECTOR_STORES.contains(&s.to_ascii_lowercase().as_str())) {
                AiKind::Retriever
            } else {
                AiKind::Other
            }
        }
    }
}

/// Database systems that are vector stores.
const VECTOR_STORES: [&str; 12] = [
    "qdrant",
    "weaviate",
    "chroma",
    "chromadb",
    "milvus",
    "pinecone",
    "pgvector",
    "lancedb",
    "faiss",
    "vespa",
    "elasticsearch",
    "opensearch",
];

fn default_operation(kind: AiKind) -> &'static str {
    match kind {
        AiKind::Agent => "invoke_agent",
        AiKind::Llm => "chat",
        AiKind::Tool => "execute_tool",
        AiKind::Retriever => "retrieval",
        AiKind::Embedding => "embeddings",
        AiKind::Guardrail => "apply_guardrail",
        AiKind::Evaluator => "evaluate",
        AiKind::Other => "other",
    }
}

/// Text parts of a GenAI message list (`gen_ai.system_instructions`, `gen_ai.input.messages`)
/// with the given role (`None`: every part, for instruction lists).
fn message_text(json: &str, role: Option<&str>) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(json).ok()?;
    let items = v.as_array()?;
    let mut out = Vec::new();
    for m in items {
        if let Some(r) = role
            && m.get("role").and_then(|x| x.as_str()) != Some(r)
        {
            continue;
        }
        let parts = match m.get("parts").and_then(|p| p.as_array()) {
            Some(p) => p.iter().collect::<Vec<_>>(),
            None => vec![m],
        };
        for p in parts {
            if let Some(t) = p.get("content").and_then(|c| c.as_str()) {
                out.push(t.to_string());
            }
        }
    }
    (!out.is_empty()).then(|| out.join("\n"))
}

/// The system prompt of an indexed message list (`prefix.N.role`, `prefix.N.content`), as
/// OpenInference (`llm.input_messages.N.message.`) and OpenLLMetry (`gen_ai.prompt.N.`) write.
fn indexed_system(attrs: &[KeyValue], prefix: &str, infix: &str) -> Option<String> {
    for i in 0..16 {
        let role = first_text(attrs, &[&format!("{prefix}.{i}.{infix}role")])?;
        if role == "system" {
            return first_text(attrs, &[&format!("{prefix}.{i}.{infix}content")]);
        }
    }
    None
}

fn prompt(span: &Span) -> Option<(String, Option<String>)> {
    let a = &span.attributes;
    let version = first_text(a, &["llm.prompt_template.version"]);
    let text = first_text(a, &["llm.prompt_template.template"])
        .or_else(|| {
            let s = first_text(a, &["gen_ai.system_instructions"])?;
            message_text(&s, None).or(Some(s))
        })
        .or_else(|| message_text(&first_text(a, &["gen_ai.input.messages"])?, Some("system")))
        .or_else(|| indexed_system(a, "llm.input_messages", "message."))
        .or_else(|| indexed_system(a, "gen_ai.prompt", ""))
        .or_else(|| {
            // The older event form: a `gen_ai.system.message` event with `content`.
            span.events
                .iter()
                .find(|e| e.name == "gen_ai.system.message")
                .and_then(|e| first_text(&e.attributes, &["content"]))
        })?;
    Some((text, version))
}

/// The facts of `span`, emitted by `service`.
pub fn facts(span: &Span, service: &str) -> SpanFacts {
    let a = &span.attributes;
    let op_attr = first_text(a, &["gen_ai.operation.name"]);
    let kind = kind_of(a, op_attr.as_deref());
    let operation = op_attr.unwrap_or_else(|| default_operation(kind).to_string());
    let agent = match kind {
        AiKind::Agent => first_name(a, &["gen_ai.agent.name", "agent.name", "graph.node.name"])
            .or_else(|| {
                span.name
                    .strip_prefix("invoke_agent ")
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
            }),
        _ => first_name(a, &["gen_ai.agent.name"]),
    };
    let error = span
        .status
        .as_ref()
        .is_some_and(|s| s.code == status::StatusCode::Error as i32);
    let duration_ns = span
        .end_time_unix_nano
        .saturating_sub(span.start_time_unix_nano);
    let check = match kind {
        AiKind::Guardrail => Some((
            first_name(a, &["gen_ai.guardrail.name", "guardrail.name"])
                .unwrap_or_else(|| span.name.clone()),
            None,
            error,
        )),
        AiKind::Evaluator => Some((
            first_name(a, &["gen_ai.evaluation.name", "eval.name"])
                .unwrap_or_else(|| span.name.clone()),
            first_count_f(a, &["gen_ai.evaluation.score.value", "eval.score"]),
            error
                || failed_label(first_text(
                    a,
                    &["gen_ai.evaluation.score.label", "eval.label"],
                )),
        )),
        _ => span
            .events
            .iter()
            .find(|e| e.name == "gen_ai.evaluation.result")
            .and_then(|e| {
                let ea = &e.attributes;
                Some((
                    first_name(ea, &["gen_ai.evaluation.name"])?,
                    first_count_f(ea, &["gen_ai.evaluation.score.value"]),
                    failed_label(first_text(ea, &["gen_ai.evaluation.score.label"])),
                ))
            }),
    };
    SpanFacts {
        trace_id: span.trace_id.clone(),
        span_id: span.span_id.clone(),
        parent_id: span.parent_span_id.clone(),
        // Flags bit 8 says whether bit 9 (parent is remote) is known.
        parent_remote: span.flags & 0x300 == 0x300,
        service: service.to_string(),
        kind,
        operation,
        agent,
        model: first_name(
            a,
            &[
                "gen_ai.response.model",
                "gen_ai.request.model",
                "llm.model_name",
                "embedding.model_name",
            ],
        ),
        input_tokens: first_count(
            a,
            &[
                "gen_ai.usage.input_tokens",
                "gen_ai.usage.prompt_tokens",
                "llm.token_count.prompt",
            ],
        ),
        output_tokens: first_count(
            a,
            &[
                "gen_ai.usage.output_tokens",
                "gen_ai.usage.completion_tokens",
                "llm.token_count.completion",
            ],
        ),
        duration_s: duration_ns as f64 / 1e9,
        end_ms: span.end_time_unix_nano / 1_000_000,
        error,
        server: span.kind == span::SpanKind::Server as i32
            || span.kind == span::SpanKind::Consumer as i32,
        client: span.kind == span::SpanKind::Client as i32
            || span.kind == span::SpanKind::Producer as i32,
        prompt: matches!(kind, AiKind::Llm | AiKind::Agent)
            .then(|| prompt(span))
            .flatten(),
        retriever: (kind == AiKind::Retriever).then(|| {
            (
                first_text(a, &["db.system.name", "db.system", "gen_ai.provider.name"]),
                first_text(
                    a,
                    &[
                        "db.collection.name",
                        "gen_ai.data_source.id",
                        "db.namespace",
                    ],
                ),
            )
        }),
        check,
        exceptions: span
            .events
            .iter()
            .filter(|e| e.name == "exception")
            .filter_map(|e| {
                let ea = &e.attributes;
                first_text(ea, &["exception.stacktrace"]).or_else(|| {
                    let t = first_text(ea, &["exception.type"]).unwrap_or_default();
                    let m = first_text(ea, &["exception.message"])?;
                    Some(if t.is_empty() { m } else { format!("{t}: {m}") })
                })
            })
            .collect(),
    }
}

fn first_count_f(attrs: &[KeyValue], keys: &[&str]) -> Option<f64> {
    keys.iter()
        .find_map(|k| attr(attrs, k).and_then(number))
        .filter(|n| n.is_finite())
}

fn failed_label(label: Option<String>) -> bool {
    label.is_some_and(|l| {
        matches!(
            l.to_ascii_lowercase().as_str(),
            "fail" | "failed" | "false" | "blocked" | "unsafe"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(key: &str, value: any_value::Value) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: Some(AnyValue { value: Some(value) }),
            ..KeyValue::default()
        }
    }

    #[test]
    fn names_are_cut_and_counts_saturate() {
        let huge = "m".repeat(100 * 1024);
        let span = Span {
            name: "chat".into(),
            attributes: vec![
                kv(
                    "gen_ai.operation.name",
                    any_value::Value::StringValue("chat".into()),
                ),
                kv(
                    "gen_ai.request.model",
                    any_value::Value::StringValue(huge.clone()),
                ),
                kv("gen_ai.agent.name", any_value::Value::StringValue(huge)),
                kv(
                    "gen_ai.usage.input_tokens",
                    any_value::Value::DoubleValue(1e30),
                ),
                kv("gen_ai.usage.output_tokens", any_value::Value::IntValue(9)),
            ],
            ..Span::default()
        };
        let f = facts(&span, "svc");
        assert!(
            f.model.as_ref().is_some_and(|m| m.len() == MAX_NAME_BYTES),
            "{:?}",
            f.model.map(|m| m.len())
        );
        assert!(f.agent.as_ref().is_some_and(|a| a.len() <= MAX_NAME_BYTES));
        assert_eq!((f.input_tokens, f.output_tokens), (Some(u64::MAX), Some(9)));
        assert_eq!(name("é".repeat(100).as_str()).len(), MAX_NAME_BYTES);
    }
}
