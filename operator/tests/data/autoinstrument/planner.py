"""The `planner` agent: an uninstrumented script that plans with the plain `openai` client and
asks the researcher agent over HTTP, then exits.

Settings come from the environment as in a pod: OPENAI_BASE_URL, OPENAI_API_KEY, MODEL,
RESEARCHER_URL.
"""
import json
import os
import urllib.request

from openai import OpenAI

plan = OpenAI().chat.completions.create(
    model=os.environ["MODEL"],
    messages=[
        {"role": "system", "content": "You plan research."},
        {"role": "user", "content": "How do sidecars see LLM calls?"},
    ],
)
request = urllib.request.Request(
    os.environ["RESEARCHER_URL"],
    data=json.dumps({"question": plan.choices[0].message.content}).encode(),
    headers={"content-type": "application/json"},
)
with urllib.request.urlopen(request, timeout=30) as r:
    print(json.load(r)["answer"])
