"""The `researcher` agent: an uninstrumented HTTP service that answers one question with the
plain `openai` client, then exits (so its telemetry SDK, if any, flushes at exit).

    python researcher.py PORT_FILE

Settings come from the environment as in a pod: OPENAI_BASE_URL, OPENAI_API_KEY, MODEL.
"""
import json
import os
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer

from openai import OpenAI


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        question = json.loads(self.rfile.read(int(self.headers["content-length"])))["question"]
        reply = OpenAI().chat.completions.create(
            model=os.environ["MODEL"],
            messages=[{"role": "user", "content": question}],
        )
        answer = json.dumps({"answer": reply.choices[0].message.content}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args):
        pass


server = HTTPServer(("127.0.0.1", 0), Handler)
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
os.replace(sys.argv[1] + ".tmp", sys.argv[1])
server.handle_request()
