"""An OpenAI-compatible chat completions endpoint on loopback that answers every request with
fixed `usage` numbers per model, so a test knows exactly which token counts the spans must carry.

    python stub_openai.py PORT_FILE

Listens on 127.0.0.1 on a free port, writes the port to PORT_FILE, serves until killed.
The usage table is printed by `python stub_openai.py --usage` (JSON), the single source the
test compares against.
"""
import json
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# request model -> (response model, prompt tokens, completion tokens)
USAGE = {
    "gpt-4o": ("gpt-4o-2024-08-06", 31, 7),
    "gpt-4o-mini": ("gpt-4o-mini-2024-07-18", 113, 17),
}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body leave in two writes: without TCP_NODELAY the body waits for the client's
    # delayed ACK (40 ms on Linux), which would swamp every per-call figure.
    disable_nagle_algorithm = True

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("content-length", "0"))) or b"{}")
        if self.path.rstrip("/") != "/v1/chat/completions" or body.get("model") not in USAGE:
            self.send_error(404)
            return
        model, prompt, completion = USAGE[body["model"]]
        answer = json.dumps({
            "id": "chatcmpl-agentlens-stub",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "system_fingerprint": "fp_stub",
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": "stub answer", "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }],
            "usage": {
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "total_tokens": prompt + completion,
            },
        }).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args):
        pass


def main():
    if sys.argv[1:] == ["--usage"]:
        print(json.dumps({m: {"model": r, "input": p, "output": c} for m, (r, p, c) in USAGE.items()}))
        return
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    with open(sys.argv[1] + ".tmp", "w") as f:
        f.write(str(server.server_address[1]))
    import os
    os.replace(sys.argv[1] + ".tmp", sys.argv[1])
    server.serve_forever()


if __name__ == "__main__":
    main()
