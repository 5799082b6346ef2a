"""The benchmark agent of `examples/bench_autoinstrument.rs`: an uninstrumented script with the
plain `openai` client, like `planner.py`, that makes one call, prints `ready`, then makes CALLS
more sequential calls and prints their durations in nanoseconds as a JSON list, then exits (so
a telemetry SDK, if any, flushes at exit).

    python bench_agent.py CALLS

Settings come from the environment as in a pod: OPENAI_BASE_URL, OPENAI_API_KEY, MODEL.
"""
import json
import os
import sys
import time

from openai import OpenAI

client = OpenAI()


def call():
    return client.chat.completions.create(
        model=os.environ["MODEL"],
        messages=[{"role": "user", "content": "How do sidecars see LLM calls?"}],
    )


call()
print("ready", flush=True)
sys.stdin.readline()
durations = []
for _ in range(int(sys.argv[1])):
    start = time.perf_counter_ns()
    call()
    durations.append(time.perf_counter_ns() - start)
print(json.dumps(durations), flush=True)
