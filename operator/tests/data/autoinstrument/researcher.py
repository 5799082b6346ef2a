"""The `researcher` agent: an uninstrumented Flask service that answers one question with the
plain `openai` client, then exits (so its telemetry SDK, if any, flushes at exit). Flask (served
by werkzeug) is what an HTTP server instrumentation hooks into; the stdlib's http.server has none.

    python researcher.py PORT_FILE

Settings come from the environment as in a pod: OPENAI_BASE_URL, OPENAI_API_KEY, MODEL.
"""
import os
import sys

from flask import Flask, jsonify, request
from openai import OpenAI
from werkzeug.serving import make_server

app = Flask("researcher")


@app.post("/ask")
def ask():
    reply = OpenAI().chat.completions.create(
        model=os.environ["MODEL"],
        messages=[{"role": "user", "content": request.get_json()["question"]}],
    )
    return jsonify(answer=reply.choices[0].message.content)


server = make_server("127.0.0.1", 0, app)
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write(str(server.server_port))
os.replace(sys.argv[1] + ".tmp", sys.argv[1])
server.handle_request()
