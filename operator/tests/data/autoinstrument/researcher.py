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


asked = False


@app.post("/ask")
def ask():
    global asked
    asked = True
    reply = OpenAI().chat.completions.create(
        model=os.environ["MODEL"],
        messages=[{"role": "user", "content": request.get_json()["question"]}],
    )
    return jsonify(answer=reply.choices[0].message.content)


server = make_server("127.0.0.1", 0, app)
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write(str(server.server_port))
os.replace(sys.argv[1] + ".tmp", sys.argv[1])
# Serve until the question has come: a handle_request() can end without it (a stray
# connection, or an accept that failed because its client reset first: socketserver ignores
# that error), and exiting then would refuse the planner. Said on stderr, so a test that fails
# afterwards shows it.
while not asked:
    server.handle_request()
    if not asked:
        print("researcher: a connection ended without the question; serving on", file=sys.stderr)
