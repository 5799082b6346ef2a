"""A local OpenAI-compatible stub model for the agentlens demo.

POST /v1/chat/completions answers every request with the same message and the same `usage`
(12 prompt tokens, 9 completion tokens), so a demo needs no GPU, no weights and no network.
GET /v1/models lists the one model; GET /healthz answers "ok".

Environment: DEMO_MODEL_LISTEN (host:port, default 0.0.0.0:8000), DEMO_MODEL_NAME
(default "demo-llm").
"""

import json
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MODEL = os.environ.get("DEMO_MODEL_NAME", "demo-llm")
ANSWER = "This is the demo model's fixed answer."
USAGE = {"prompt_tokens": 12, "completion_tokens": 9, "total_tokens": 21}
# Requests larger than this are refused: the stub never buffers without bound.
MAX_BODY = 1 << 20


def completion(request):
    """The chat completion for a parsed request body."""
    return {
        "id": "chatcmpl-demo",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": request.get("model") or MODEL,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": ANSWER},
                "finish_reason": "stop",
            }
        ],
        "usage": USAGE,
    }


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def reply(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/healthz":
            self.reply(200, {"status": "ok"})
        elif self.path == "/v1/models":
            self.reply(200, {"object": "list", "data": [{"id": MODEL, "object": "model"}]})
        else:
            self.reply(404, {"error": {"message": "not found"}})

    def do_POST(self):
        if self.path != "/v1/chat/completions":
            self.reply(404, {"error": {"message": "not found"}})
            return
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self.reply(413, {"error": {"message": "request too large"}})
            return
        try:
            request = json.loads(self.rfile.read(length) or b"{}")
        except ValueError as e:
            self.reply(400, {"error": {"message": f"invalid JSON: {e}"}})
            return
        self.reply(200, completion(request))

    def log_message(self, fmt, *args):
        print(f"model-server: {self.address_string()} {fmt % args}", flush=True)


def main():
    host, _, port = os.environ.get("DEMO_MODEL_LISTEN", "0.0.0.0:8000").rpartition(":")
    server = ThreadingHTTPServer((host, int(port)), Handler)
    print(f"model-server: serving {MODEL} on {host}:{port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
