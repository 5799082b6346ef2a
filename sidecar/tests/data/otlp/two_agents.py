"""A two-agent conversation instrumented with the OpenTelemetry Python SDK, exported to an
OTLP/HTTP receiver: in protobuf through the SDK's own exporter (opentelemetry-exporter-otlp-
proto-http), or in OTLP/JSON (the SDK's protobuf message written with the OTLP JSON mapping:
hex ids, integer enums, camelCase keys).

A "triage" agent answers three user turns; each turn it calls an LLM (GenAI semantic
conventions, system instructions) and hands over to a "researcher" agent that queries a
vector store, calls an LLM (OpenInference attributes, a versioned prompt template) and a tool.
A guardrail and an evaluator run on each answer. The third research call fails with a CUDA
out-of-memory error recorded as an exception.

usage: two_agents.py ENDPOINT protobuf|json [DUMP_FILE]
"""
import base64
import json
import sys
import time
import urllib.request

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode

endpoint, encoding = sys.argv[1], sys.argv[2]
dump = sys.argv[3] if len(sys.argv) > 3 else None

resource = Resource.create({"service.name": "support-bot", "k8s.container.name": "main"})
provider = TracerProvider(resource=resource)
memory = InMemorySpanExporter()
provider.add_span_processor(SimpleSpanProcessor(memory))
if encoding == "protobuf" and not dump:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint + "/v1/traces")))
tracer = provider.get_tracer("two-agents-demo", "1.0")

TRIAGE_SYSTEM = json.dumps([{"type": "text", "content":
    "You are the triage agent of ACME support. Escalate to ops@example.com. "
    "Never reveal the key sk-proj-abcdefghijklmnopqrstuvwx0123."}])
RESEARCH_TEMPLATE = "Answer the question {question} using only these articles: {context}"


def research(turn):
    with tracer.start_as_current_span("invoke_agent researcher", kind=SpanKind.INTERNAL, attributes={
        "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "researcher",
    }) as agent:
        with tracer.start_as_current_span("query kb-articles", kind=SpanKind.CLIENT, attributes={
            "openinference.span.kind": "RETRIEVER", "db.system.name": "qdrant",
            "db.collection.name": "kb-articles",
        }):
            time.sleep(0.002)
        with tracer.start_as_current_span("ChatAnthropic", kind=SpanKind.CLIENT, attributes={
            "openinference.span.kind": "LLM", "llm.model_name": "claude-3-5-sonnet",
            "llm.token_count.prompt": 800, "llm.token_count.completion": 200,
            "llm.prompt_template.template": RESEARCH_TEMPLATE,
            "llm.prompt_template.version": "v3",
        }):
            time.sleep(0.003)
        with tracer.start_as_current_span("execute_tool web_search", attributes={
            "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "web_search",
        }):
            pass
        if turn == 2:
            try:
                raise RuntimeError(
                    "CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 79.10 GiB total "
                    "capacity; 77.20 GiB already allocated; 1.10 GiB free; 77.90 GiB reserved "
                    "in total by PyTorch)")
            except RuntimeError as e:
                agent.record_exception(e)
                agent.set_status(Status(StatusCode.ERROR, "out of memory"))


for turn in range(3):
    with tracer.start_as_current_span("POST /chat", kind=SpanKind.SERVER, attributes={
        "http.request.method": "POST", "http.route": "/chat",
    }):
        with tracer.start_as_current_span("invoke_agent triage", attributes={
            "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "triage",
        }):
            with tracer.start_as_current_span("chat gpt-4o-mini", kind=SpanKind.CLIENT, attributes={
                "gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai",
                "gen_ai.request.model": "gpt-4o-mini",
                "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
                "gen_ai.usage.input_tokens": 120, "gen_ai.usage.output_tokens": 30,
                "gen_ai.system_instructions": TRIAGE_SYSTEM,
            }):
                time.sleep(0.001)
            research(turn)
            with tracer.start_as_current_span("pii-filter", attributes={
                "openinference.span.kind": "GUARDRAIL",
            }):
                pass
            with tracer.start_as_current_span("faithfulness", attributes={
                "openinference.span.kind": "EVALUATOR", "eval.score": 0.92,
            }):
                pass

provider.force_flush()
spans = memory.get_finished_spans()

if encoding == "protobuf" and not dump:
    provider.shutdown()
    print(f"exported {len(spans)} spans (protobuf)")
    sys.exit(0)

from google.protobuf.json_format import MessageToDict
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

message = encode_spans(spans)
if encoding == "protobuf":
    body, ctype = message.SerializeToString(), "application/x-protobuf"
else:
    doc = MessageToDict(message, use_integers_for_enums=True)

    def hex_ids(node):
        # OTLP/JSON writes trace and span ids as hex, not protobuf JSON's base64.
        if isinstance(node, dict):
            for k, v in node.items():
                if k in ("traceId", "spanId", "parentSpanId") and isinstance(v, str):
                    node[k] = base64.b64decode(v).hex()
                else:
                    hex_ids(v)
        elif isinstance(node, list):
            for v in node:
                hex_ids(v)

    hex_ids(doc)
    body, ctype = json.dumps(doc, indent=1).encode(), "application/json"

if dump:
    open(dump, "wb").write(body)
    print(f"wrote {len(spans)} spans to {dump}")
    sys.exit(0)

req = urllib.request.Request(endpoint + "/v1/traces", data=body, headers={"Content-Type": ctype})
with urllib.request.urlopen(req) as r:
    assert r.status == 200, r.status
print(f"exported {len(spans)} spans ({encoding})")
