"""Two agents in two processes' shape, instrumented like the HTTP client and server
instrumentations do, exported by the OpenTelemetry Python SDK's own OTLP/HTTP exporter: the
"planner" sends CALLS requests (a CLIENT span, its context injected into the request headers
with the W3C propagator), the "worker" handles each (a SERVER span whose parent is the extracted,
remote context). Each agent has its own TracerProvider and resource (`service.name`, and the
webhook's `agentlens.agent`), as two containers have. The last request fails on the server.

usage: http_handoff.py ENDPOINT CALLS client-first|server-first
"""
import sys

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.propagate import extract, inject
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode

endpoint, calls, order = sys.argv[1], int(sys.argv[2]), sys.argv[3]


def provider(agent):
    p = TracerProvider(
        resource=Resource.create(
            # service.name differs from the agent: the sidecar must prefer agentlens.agent.
            {"service.name": f"svc-{agent}", "agentlens.agent": agent}
        )
    )
    p.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint + "/v1/traces")))
    return p


planner, worker = provider("planner"), provider("worker")
client_tracer, server_tracer = planner.get_tracer("urllib"), worker.get_tracer("flask")
for i in range(calls):
    with client_tracer.start_as_current_span("POST", kind=SpanKind.CLIENT) as client:
        headers = {}
        inject(headers)
        with server_tracer.start_as_current_span(
            "POST /task", context=extract(headers), kind=SpanKind.SERVER
        ) as server:
            if i == calls - 1:
                server.set_status(Status(StatusCode.ERROR))
        if i == calls - 1:
            client.set_attribute("http.response.status_code", 500)
# Each process exports on its own schedule: one whole side arrives before the other.
first, second = (planner, worker) if order == "client-first" else (worker, planner)
first.force_flush()
second.force_flush()
first.shutdown()
second.shutdown()
