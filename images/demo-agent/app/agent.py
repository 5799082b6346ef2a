"""A small agent of the agentlens demo: asks the model, and its peer agent, now and then.

Each agent calls the OpenAI-compatible model (DEMO_MODEL_URL) every DEMO_INTERVAL_SECONDS with
the plain `openai` client, logs the answer's token usage, and, when DEMO_PEER_URL is set, hands
the answer to its peer agent's /task over HTTP (waiting, at most 60 s, for the peer's /healthz
before its first round). The code exports no telemetry of its own: the
AgentDeployment's `autoInstrument` makes its model calls GenAI spans and its HTTP hand-off a
CLIENT span (urllib) and a SERVER span (Flask) of one trace, the planner → worker edge
(examples/demo/). The server is a Flask app, served by werkzeug's threaded server, because that
is what an HTTP server instrumentation hooks into (the stdlib's http.server has none). It serves:

  GET  /healthz                 "ok"
  POST /task                    asks the model about the posted text, answers with its reply
  POST /fail?kind=oom           prints a real PyTorch CUDA out-of-memory report (an H200 run's
                                stderr, /opt/demo/torch-cuda-oom-h200.stderr) to stderr
  POST /fail?kind=exception     raises an exception in a thread (a Python traceback on stderr)

DEMO_FAIL=oom|exception does the same once, DEMO_FAIL_AFTER_SECONDS (default 10) after start.
Other settings: DEMO_AGENT_NAME (default "agent"), DEMO_LISTEN (default 0.0.0.0:8080),
DEMO_MODEL_NAME (default "demo-llm"), OPENAI_API_KEY (default "demo": the stub wants none).
"""

import os
import sys
import threading
import time

import urllib.request

from flask import Flask, jsonify, request
from openai import OpenAI, OpenAIError
from werkzeug.serving import WSGIRequestHandler, make_server

NAME = os.environ.get("DEMO_AGENT_NAME", "agent")
MODEL_URL = os.environ.get("DEMO_MODEL_URL", "http://127.0.0.1:8000/v1").rstrip("/")
PEER_URL = os.environ.get("DEMO_PEER_URL", "").rstrip("/")
INTERVAL = float(os.environ.get("DEMO_INTERVAL_SECONDS", "5"))
OOM_REPORT = os.environ.get("DEMO_OOM_REPORT", "/opt/demo/torch-cuda-oom-h200.stderr")
MAX_BODY = 1 << 20


def log(msg):
    print(f"{NAME}: {msg}", flush=True)


# The stub model needs no key; the client insists on one.
MODEL = OpenAI(base_url=MODEL_URL, api_key=os.environ.get("OPENAI_API_KEY", "demo"), timeout=10)


def ask_model(question):
    """The model's answer and token usage for one question."""
    reply = MODEL.chat.completions.create(
        model=os.environ.get("DEMO_MODEL_NAME", "demo-llm"),
        messages=[
            {"role": "system", "content": f"You are the {NAME} agent of the agentlens demo."},
            {"role": "user", "content": question},
        ],
    )
    usage = reply.usage.model_dump() if reply.usage else {}
    return reply.choices[0].message.content, usage


def ask_peer(text):
    """Hands `text` to the peer agent's /task."""
    req = urllib.request.Request(f"{PEER_URL}/task", data=text.encode(), method="POST")
    with urllib.request.urlopen(req, timeout=10) as r:
        r.read()


def fail(kind):
    """Prints the OOM report, or raises in a thread of its own (the server keeps serving)."""
    if kind == "oom":
        with open(OOM_REPORT, encoding="utf-8") as f:
            sys.stderr.write(f.read())
        sys.stderr.flush()
    elif kind == "exception":

        def boom():
            raise RuntimeError(f"{NAME}: the tool call failed on purpose (DEMO_FAIL=exception)")

        threading.Thread(target=boom, name=f"{NAME}-task").start()
    else:
        raise ValueError(f"unknown failure kind {kind!r}: oom or exception")


app = Flask(NAME)
app.config["MAX_CONTENT_LENGTH"] = MAX_BODY


@app.get("/healthz")
def healthz():
    return jsonify(status="ok")


@app.post("/task")
def task():
    try:
        answer, usage = ask_model(request.get_data(as_text=True) or "What should I do next?")
    except OpenAIError as e:
        return jsonify(error=f"model: {e}"), 502
    return jsonify(agent=NAME, answer=answer, usage=usage)


@app.post("/fail")
def fail_now():
    kind = request.args.get("kind", "oom")
    try:
        fail(kind)
    except ValueError as e:
        return jsonify(error=str(e)), 400
    return jsonify(agent=NAME, failed=kind)


@app.errorhandler(404)
@app.errorhandler(405)
def not_found(_):
    return jsonify(error="not found"), 404


class Handler(WSGIRequestHandler):
    """werkzeug's request handler, logging each request as the agent's own line."""

    def log_request(self, code="-", size="-"):
        # werkzeug's own line adds ANSI colours; the demo's log stays plain text.
        log(f'{self.address_string()} "{self.requestline}" {getattr(code, "value", code)} {size}')

    def log(self, type, message, *args):
        log(f"{self.address_string()} {message % args}")


def wait_for(url, what, deadline_seconds=60):
    """Waits until `url` answers (containers of a pod start together, in no order)."""
    deadline = time.monotonic() + deadline_seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                r.read()
            return
        except OSError:
            time.sleep(0.5)
    log(f"{what} {url} does not answer; going on")


def work():
    """The agent's loop: ask the model, hand the answer to the peer."""
    # The model first: a first call before it listens would fail after the client's retries
    # (~1.5 s) and cost a whole round.
    wait_for(f"{MODEL_URL}/models", "model")
    if PEER_URL:
        wait_for(f"{PEER_URL}/healthz", "peer")
    n = 0
    while True:
        n += 1
        try:
            answer, usage = ask_model(f"Task {n}: what is the next step?")
            log(f"task {n}: {usage.get('prompt_tokens', 0)} prompt + "
                f"{usage.get('completion_tokens', 0)} completion tokens")
            if PEER_URL:
                ask_peer(answer)
                log(f"task {n}: handed to {PEER_URL}")
        except (OpenAIError, OSError) as e:
            log(f"task {n}: {e}")
        time.sleep(INTERVAL)


def main():
    host, _, port = os.environ.get("DEMO_LISTEN", "0.0.0.0:8080").rpartition(":")
    server = make_server(host, int(port), app, threaded=True, request_handler=Handler)
    threading.Thread(target=work, name="work", daemon=True).start()
    scheduled = os.environ.get("DEMO_FAIL", "")
    if scheduled:
        delay = float(os.environ.get("DEMO_FAIL_AFTER_SECONDS", "10"))
        threading.Timer(delay, fail, args=(scheduled,)).start()
    log(f"serving on {host}:{port}, model {MODEL_URL}, peer {PEER_URL or 'none'}")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
