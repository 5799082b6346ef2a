#!/usr/bin/env bash
# make bench: the sidecar's performance targets, each beside a baseline measured in the same run.
# Wall-clock figures on a shared 2-core machine are noisy; compare the ratio to the baseline.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=target/release/agentlens-sidecar
EX=target/release/examples
LOG=target/bench/mixed.log
cargo build --release --locked -q -p agentlens-sidecar -p agentlens-operator -p agentlens-tests --bins --examples

ms() { date +%s%3N; }

# 1. Log analysis throughput, one core, 500 MB mixed log; baseline grep -cE with the same triggers.
# Both read the same file through the same (warm) page cache; the scan is reported as timed
# inside the process and as a whole process (start included), like grep.
taskset -c 0 "$EX/bench_logscan" "$LOG" 500 >/dev/null # generates the file once
cat "$LOG" >/dev/null
t0=$(ms); scan=$(taskset -c 0 "$EX/bench_logscan" "$LOG" 500); t1=$(ms)
lines=$(sed -E 's/.*lines=([0-9]+).*/\1/' <<<"$scan")
lps=$(sed -E 's/.*lines_per_second=([0-9]+).*/\1/' <<<"$scan")
scan_process_lps=$(( lines * 1000 / ( (t1 - t0) > 0 ? (t1 - t0) : 1 ) ))
pattern='out of memory|Out of memory|OUT_OF_MEMORY|OutOfMemory|MemoryAllocation|ALLOC_FAILED|OOM when allocating|No available memory for the cache blocks|failed to allocate |Failed to allocate request for|Requested amount of GPU memory|that can be stored in KV cache|To serve at least one request with the model|Traceback \(most recent call last\)|panicked at |panic: |fatal error: |Exception|Error|Throwable|UnhandledPromiseRejection|ERROR|FATAL|CRITICAL'
# (output captured: GNU grep stops at the first match when stdout is /dev/null)
t0=$(ms); : "$(LC_ALL=C taskset -c 0 grep -cE "$pattern" "$LOG")"; t1=$(ms)
grep_lps=$(( lines * 1000 / ( (t1 - t0) > 0 ? (t1 - t0) : 1 ) ))

# 2. Idle footprint of `run` observing a sleeping child, 1 s sampling, over 20 s after 5 s warm-up;
# beside the sidecar's own default memory limit (what the webhook writes, printed by
# bench_operator from the operator's code) and dcgm-exporter, the GPU exporter a GPU node runs
# anyway: its chart's default limit is 512Mi since 4.8.0 (NVIDIA/dcgm-exporter#618), and with
# no extra configuration on one A10G it "is consistently using 400~500Mi of memory"
# (https://github.com/NVIDIA/dcgm-exporter/issues/609).
port=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
"$BIN" run --listen "127.0.0.1:$port" --interval-ms 1000 -- sleep 40 &
pid=$!
sleep 5
ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
c0=$(ticks $pid); sleep 20; c1=$(ticks $pid)
rss_kb=$(awk '/VmRSS/{print $2}' "/proc/$pid/status")
hz=$(getconf CLK_TCK)
cpu_pct=$(awk -v d=$((c1 - c0)) -v hz="$hz" 'BEGIN{printf "%.3f", d / hz / 20 * 100}')
kill $pid; wait $pid 2>/dev/null || true

# 3. /metrics with 8 GPUs' worth of series, p99 with wrk (1 connection); baseline /healthz.
mport=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
"$EX/bench_metrics_server" "$mport" & spid=$!
sleep 0.5
series=$(curl -s "http://127.0.0.1:$mport/metrics" | grep -vc '^#')
p99() { wrk -t1 -c1 -d10s --latency "$1" | awk '/ 99%/{print $2}'; }
m99=$(p99 "http://127.0.0.1:$mport/metrics"); h99=$(p99 "http://127.0.0.1:$mport/healthz")
kill $spid; wait $spid 2>/dev/null || true

# 4. Webhook: /mutate-pods over HTTPS keep-alive, server pinned to CPU 0; baseline /empty.
wh=$("$EX/bench_webhook")
field() { grep "^$1 path=$2 " <<<"$wh" | sed -E "s/.*$3=([0-9.]+).*/\1/"; }

# 5. Operator: 1,000 AgentDeployments x 10 pods in the in-memory API; the injected pods'
# snapshots and package lists come from three real sidecars (bench_operator's support module).
op=$("$EX/bench_operator")
opf() { grep -o "$1=[0-9.]*" <<<"$op" | cut -d= -f2; }

# 5b. The release operator against kube-emulator over HTTPS: 1,000 systems x 10 pods created
# through the API while it runs, their pods' snapshots pulled from three real sidecars; until
# every status is written with their inventories, and its RSS then.
emu=$("$EX/bench_emulator" target/release/agentlens-operator target/release/kube-emulator 1000)
emf() { grep -o "$1=[0-9.]*" <<<"$emu" | cut -d= -f2; }

# 6. Latency proxy. Throughput: the proxy alone on CPU 0; the upstream (a minimal hyper server
# answering a 240-byte chat-completion JSON) and wrk share CPU 1, for the direct baseline and
# through the proxy alike, 3 alternating 5 s rounds, median of the ratios. Latency at 1,000
# req/s: proxy and upstream on CPU 0, the load generator on CPU 1, so both paths cross cores
# the same way; median over 3 alternating rounds of p99(proxy) - p99(direct).
freeport() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
median() { sort -n | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'; }
up_port=$(freeport); px_port=$(freeport); px_metrics=$(freeport)
taskset -c 1 "$EX/bench_proxy" upstream "$up_port" & up_pid=$!
taskset -c 0 "$BIN" run --gpu off --listen "127.0.0.1:$px_metrics" --proxy-listen "127.0.0.1:$px_port" \
  --proxy-upstream "127.0.0.1:$up_port" -- sleep 600 & px_pid=$!
sleep 1
rps() { taskset -c 1 wrk -t1 -c32 -d5s "$1" | awk '/Requests\/sec/{print $2}'; }
ratios=(); directs=(); proxieds=()
for _ in 1 2 3; do
  d=$(rps "http://127.0.0.1:$up_port/v1/chat/completions"); p=$(rps "http://127.0.0.1:$px_port/v1/chat/completions")
  directs+=("$d"); proxieds+=("$p"); ratios+=("$(awk -v a="$p" -v b="$d" 'BEGIN{printf "%.2f", a/b}')")
done
px_rps=$(printf '%s\n' "${proxieds[@]}" | median); up_rps=$(printf '%s\n' "${directs[@]}" | median)
px_ratio=$(printf '%s\n' "${ratios[@]}" | median)
kill $up_pid; wait $up_pid 2>/dev/null || true
taskset -c 0 "$EX/bench_proxy" upstream "$up_port" & up_pid=$!
sleep 0.5
added=(); d99s=(); p99s=()
for _ in 1 2 3; do
  d=$(taskset -c 1 "$EX/bench_proxy" load "http://127.0.0.1:$up_port/v1/chat/completions" 1000 5)
  p=$(taskset -c 1 "$EX/bench_proxy" load "http://127.0.0.1:$px_port/v1/chat/completions" 1000 5)
  d99=$(sed -E 's/.*p99_us=([0-9]+).*/\1/' <<<"$d"); p99=$(sed -E 's/.*p99_us=([0-9]+).*/\1/' <<<"$p")
  d99s+=("$d99"); p99s+=("$p99"); added+=($((p99 - d99)))
done
d99=$(printf '%s\n' "${d99s[@]}" | median); p99=$(printf '%s\n' "${p99s[@]}" | median)
added99=$(printf '%s\n' "${added[@]}" | median)
kill $px_pid $up_pid; wait $px_pid $up_pid 2>/dev/null || true

# 7. OTLP ingest: in-process decode + analysis on one thread, and over HTTP to `run --otlp-listen`
# on CPU 0 with 513-span protobuf requests (the Python SDK's conversation x 19): bench_otlp load
# giving every request fresh trace and span ids, as exporters do, beside wrk re-posting one body.
ingest=$("$EX/bench_otlp" ingest 5 | sed -E 's/.*spans_per_second=([0-9]+).*/\1/')
"$EX/bench_otlp" payload target/bench/otlp-513.pb
cat > target/bench/otlp.lua <<'LUA'
local f = io.open("target/bench/otlp-513.pb", "rb")
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/x-protobuf"
LUA
ot_port=$(freeport); ot_metrics=$(freeport)
taskset -c 0 "$BIN" run --gpu off --listen "127.0.0.1:$ot_metrics" --otlp-listen "127.0.0.1:$ot_port" -- sleep 600 & ot_pid=$!
sleep 1
ot_rps=$(taskset -c 1 wrk -t1 -c4 -d10s -s target/bench/otlp.lua "http://127.0.0.1:$ot_port/v1/traces" | awk '/Requests\/sec/{print $2}')
ot_spans=$(awk -v r="$ot_rps" 'BEGIN{printf "%.0f", r * 513}')
# The same shape with fresh trace and span ids in every request, 4 keep-alive connections.
ot_fresh=$(taskset -c 1 "$EX/bench_otlp" load "$ot_port" 4 10)
otf() { grep -o "$1=[0-9.]*" <<<"$ot_fresh" | cut -d= -f2; }
ot_rss=$(awk '/VmRSS/{printf "%.1f", $2/1024}' "/proc/$ot_pid/status")
kill $ot_pid; wait $ot_pid 2>/dev/null || true

# 8. Inventory: a generated root with 2,000 packages (1,200 dpkg, 800 Python), median of 5,
# one core; baseline dpkg-query on the same dpkg database. Fingerprint of a 20 GB sparse
# safetensors file (it hashes the header only), median of 101; baseline: opening the same file
# and hashing as many bytes as the fingerprint read, same page cache (bench_inventory).
inv_dir=target/bench/inventory-root
rm -rf "$inv_dir"; mkdir -p "$inv_dir"
inv=$(taskset -c 0 "$EX/bench_inventory" "$inv_dir")
invf() { grep -o "$1=[0-9.]*" <<<"$inv" | cut -d= -f2; }
t0=$(date +%s%N); taskset -c 0 dpkg-query --admindir="$inv_dir/var/lib/dpkg" -W >/dev/null; t1=$(date +%s%N)
dq_ms=$(awk -v n=$((t1 - t0)) 'BEGIN{printf "%.1f", n/1e6}')
rm -rf "$inv_dir"

# 9. Memory ceiling under floods, release binary, peak RSS (VmHWM) of the sidecar.
# (a) `run` over a Python agent raising 300 exceptions whose frames (locals) and message carry
# ~1.5 MB reprs; (b) 40 exporters posting 7 MB OTLP log exports (the largest body the receiver
# admits is 8 MiB) at 3 MB/s each, for 60 s,
# retrying after Retry-After.
cat > target/bench/flood.py <<'PY'
import sys, traceback
def transform(n, batch):
    error = type("Error%d" % n, (ValueError,), {})  # one traceback group each
    raise error("cannot merge %r" % (batch,))
def step(n, batch):
    return transform(n, batch)
def main(count):
    rows = [{"id": i, "text": "lorem ipsum dolor sit amet"} for i in range(30000)]
    for n in range(count):
        try:
            step(n, rows)
        except ValueError:
            tb = traceback.TracebackException(*sys.exc_info(), capture_locals=True)
            print("".join(tb.format()), end="", file=sys.stderr)
            del tb  # not a local of the next traceback (its repr has an address)
main(int(sys.argv[1]))
open(sys.argv[2], "w").close()
PY
rm -f target/bench/flood.done
fl_port=$(freeport)
"$BIN" run --gpu off --listen "127.0.0.1:$fl_port" -- sh -c "python3 target/bench/flood.py 300 target/bench/flood.done; sleep 2" >/dev/null 2>&1 & fl_pid=$!
while [ ! -e target/bench/flood.done ]; do sleep 0.2; done
flood_hwm=$(awk '/VmHWM/{printf "%.1f", $2/1024}' "/proc/$fl_pid/status")
flood_metrics=$(curl -s "http://127.0.0.1:$fl_port/metrics")
flood_tb=$(awk '/^agentlens_tracebacks_total\{container="main",language="python"\}/{print $2}' <<<"$flood_metrics")
flood_cut=$(awk '/^agentlens_log_lines_truncated_total\{container="main",stream="stderr"\}/{print $2}' <<<"$flood_metrics")
flood_qdrop=$(awk '/^agentlens_sidecar_dropped_total\{buffer="analysisQueue"\}/{print $2}' <<<"$flood_metrics")
wait $fl_pid 2>/dev/null || true
of_port=$(freeport); of_metrics=$(freeport)
"$BIN" run --gpu off --listen "127.0.0.1:$of_metrics" --otlp-listen "127.0.0.1:$of_port" -- sleep 600 >/dev/null 2>&1 & of_pid=$!
sleep 0.5
of_idle=$(awk '/VmRSS/{printf "%.1f", $2/1024}' "/proc/$of_pid/status")
of_out=$("$EX/bench_flood" otlp "$of_port" 40 7 3 60)
of_hwm=$(awk '/VmHWM/{printf "%.1f", $2/1024}' "/proc/$of_pid/status")
kill $of_pid; wait $of_pid 2>/dev/null || true

# 10. The proxy's CPU per request (its thread's CPU time from schedstat over requests served)
# and added p99 at 1,000 req/s, quiet and while the agent prints 100k log lines/s, beside the
# floor: twice the CPU per request of the minimal hyper upstream (a proxy makes two hops).
# Upstream and sidecar on CPU 0, load and log generator on CPU 1.
task_ns() { # CPU ns of the threads of $1 named $2 (all threads when $2 is empty)
  local sum=0 t
  for t in "/proc/$1/task/"*; do
    if [ -z "$2" ] || [ "$(cat "$t/comm")" = "$2" ]; then sum=$((sum + $(awk '{print $1}' "$t/schedstat"))); fi
  done
  echo $sum
}
per_req_us() { awk -v a="$1" -v b="$2" -v n="$3" 'BEGIN{printf "%.1f", (b - a) / n / 1000}'; }
up_port=$(freeport)
taskset -c 0 "$EX/bench_proxy" upstream "$up_port" & up_pid=$!
sleep 0.5
n0=$(task_ns $up_pid ""); d=$(taskset -c 1 "$EX/bench_proxy" load "http://127.0.0.1:$up_port/v1/chat/completions" 1000 5); n1=$(task_ns $up_pid "")
floor_us=$(awk -v v="$(per_req_us "$n0" "$n1" 5000)" 'BEGIN{printf "%.1f", 2 * v}')
direct99=$(sed -E 's/.*p99_us=([0-9]+).*/\1/' <<<"$d")
cpu_row() { # $1: the child command; prints "us_per_request p99_us lines_per_s"
  local px_port m_port pid a b out l0 l1
  px_port=$(freeport); m_port=$(freeport)
  taskset -c 0 "$BIN" run --gpu off --listen "127.0.0.1:$m_port" --proxy-listen "127.0.0.1:$px_port" \
    --proxy-upstream "127.0.0.1:$up_port" -- taskset -c 1 sh -c "$1" >/dev/null 2>&1 & pid=$!
  sleep 1
  l0=$(curl -s "http://127.0.0.1:$m_port/metrics" | awk '/^agentlens_log_lines_total\{container="main",stream="stdout"\}/{print $2}')
  a=$(task_ns $pid agentlens-proxy)
  out=$(taskset -c 1 "$EX/bench_proxy" load "http://127.0.0.1:$px_port/v1/chat/completions" 1000 5)
  b=$(task_ns $pid agentlens-proxy)
  l1=$(curl -s "http://127.0.0.1:$m_port/metrics" | awk '/^agentlens_log_lines_total\{container="main",stream="stdout"\}/{print $2}')
  kill $pid; wait $pid 2>/dev/null || true
  echo "$(per_req_us "$a" "$b" 5000) $(sed -E 's/.*p99_us=([0-9]+).*/\1/' <<<"$out") $(awk -v a="${l0:-0}" -v b="${l1:-0}" 'BEGIN{printf "%.0f", (b - a) / 5}')"
}
read -r quiet_us quiet99 _ <<<"$(cpu_row 'sleep 600')"
read -r burst_us burst99 burst_lps <<<"$(cpu_row "$EX/bench_flood lines 100000 30")"
kill $up_pid; wait $up_pid 2>/dev/null || true

printf '\n| benchmark | agentlens | baseline (same run) | target |\n|---|---|---|---|\n'
printf '| log analysis, 500 MB mixed log (%s lines) read from the file, 1 core | %s lines/s in the process, %s lines/s as a whole process | grep -cE same triggers, same file, whole process: %s lines/s (ratio %.2f) | >= 1,000,000 lines/s |\n' \
  "$lines" "$lps" "$scan_process_lps" "$grep_lps" "$(awk -v a="$scan_process_lps" -v b="$grep_lps" 'BEGIN{print a/b}')"
printf '| idle RSS, run + sleeping child | %.1f MiB | the sidecar container'"'"'s own default memory limit: %s MiB; dcgm-exporter: 400-500 MiB observed on one A10G, chart limit 512 MiB (NVIDIA/dcgm-exporter#609, #618) | <= 10 MiB |\n' \
  "$(awk -v k="$rss_kb" 'BEGIN{print k/1024}')" "$(opf sidecar_memory_limit_mib)"
printf '| idle CPU, 1 s sampling, 20 s | %s %% of one core | - | <= 0.5 %% |\n' "$cpu_pct"
printf '| /metrics p99, 8 GPUs (%s series), wrk 1 conn 10 s | %s | /healthz same server: %s | <= 2 ms |\n' "$series" "$m99" "$h99"
printf '| webhook /mutate-pods HTTPS keep-alive at 1,000 req/s, p50 / p99 | %s / %s ms | empty AdmissionResponse: %s / %s ms | p99 <= 2 ms |\n' \
  "$(field rate /mutate-pods p50_ms)" "$(field rate /mutate-pods p99_ms)" "$(field rate /empty p50_ms)" "$(field rate /empty p99_ms)"
printf '| webhook /mutate-pods max throughput, server on 1 core, 8 connections | %s req/s | empty AdmissionResponse: %s req/s | >= 5,000 req/s |\n' \
  "$(field max /mutate-pods rps)" "$(field max /empty rps)"
printf '| operator status computation (pure), 10-pod system, %s pods with real sidecar snapshots (~%s packages each), median / p99 | %s / %s us | the same without snapshots or package lists: %s / %s us | <= 200 us |\n' \
  "$(opf snapshot_pods)" "$(opf packages)" "$(opf pure_median_us)" "$(opf pure_p99_us)" "$(opf bare_median_us)" "$(opf bare_p99_us)"
printf '| operator full reconcile (stores, snapshot pulls over HTTP, compute, SSA status patch to the in-memory API), median / p99 | %s / %s us | its pure computation: %s / %s us | <= 5 ms |\n' \
  "$(opf reconcile_median_us)" "$(opf reconcile_p99_us)" "$(opf pure_median_us)" "$(opf pure_p99_us)"
printf '| operator memory after a full pass, 1,000 systems / 10,000 pods | stores %s MiB + reconcile %s MiB (incl. the in-memory API'"'"'s copies of the statuses; %s snapshots kept, %s bytes each, pulled %s) | in-memory API itself: %s MiB (process total %s MiB incl. generator input %s MiB) | <= 100 MiB |\n' \
  "$(opf stores_mib)" "$(opf reconcile_mib)" "$(opf kept_snapshots)" "$(opf kept_bytes_per_snapshot)" "$(opf pulled_bytes_per_snapshot)" "$(opf fake_api_mib)" "$(opf rss_mib)" "$(opf inputs_mib)"
printf '| operator against kube-emulator over HTTPS, 1,000 systems / 10,000 pods created while it runs, snapshots from real sidecars | every status with its inventory %s s after the first create (%s s after the last) | creating the objects alone: %s s | - |\n' \
  "$(emf all_status_s)" "$(emf lag_s)" "$(emf create_s)"
printf '| operator RSS after that pass (release binary) | %s MiB | the emulator holding the objects: %s MiB | <= 100 MiB |\n' "$(emf operator_rss_mib)" "$(emf emulator_rss_mib)"
printf '| latency proxy throughput, proxy on 1 core, wrk 32 conns, median of 3 | %s req/s (ratio %s; rounds %s) | direct to the upstream: %s req/s | ratio >= 0.8 |\n' \
  "$px_rps" "$px_ratio" "$(IFS=/; echo "${ratios[*]}")" "$up_rps"
printf '| latency proxy added p99 at 1,000 req/s, median of 3 | %s us (p99 through the proxy %s us) | direct p99: %s us | <= 200 us |\n' "$added99" "$p99" "$d99"
printf '| OTLP ingest, 513-span protobuf requests over HTTP with fresh ids each, 4 keep-alive conns, receiver on 1 core | %s spans/s (%s req/s, %s non-2xx) | one body re-posted by wrk (same ids): %s spans/s (%s req/s; fresh/same %.2f, RSS after both %s MiB); decode + analysis alone, in-process: %s spans/s | >= 50,000 spans/s |\n' \
  "$(otf spans_per_second)" "$(otf requests_per_second)" "$(otf non_2xx)" "$ot_spans" "$ot_rps" \
  "$(awk -v a="$(otf spans_per_second)" -v b="$ot_spans" 'BEGIN{print a/b}')" "$ot_rss" "$ingest"
printf '| inventory of a root with %s packages (1,200 dpkg, 800 Python), median of 5, 1 core | %s ms, %s MiB extra peak memory | dpkg-query -W on the same dpkg database: %s ms | <= 1 s, <= 20 MiB |\n' \
  "$(invf packages)" "$(invf inventory_ms)" "$(invf extra_mib)" "$dq_ms"
printf '| fingerprint of a 20 GB sparse safetensors file (reads %s bytes: its header), median of 101 | %s us | open + read + sha256 of as many bytes of the same file, same page cache: %s us | <= 1 s |\n' \
  "$(invf fingerprint_read_bytes)" "$(invf fingerprint_us)" "$(invf same_bytes_us)"
printf '| peak RSS, run over 300 Python exceptions with ~1.5 MB reprs in frames and message | %s MiB (%s tracebacks, %s lines cut for analysis, %s chunks dropped from analysis) | limit in a pod: 64 MiB | <= 48 MiB |\n' \
  "$flood_hwm" "$flood_tb" "$flood_cut" "$flood_qdrop"
printf '| peak RSS, 40 exporters posting 7 MB OTLP exports at 3 MB/s for 60 s | %s MiB (%s) | idle with the receiver: %s MiB | <= 48 MiB |\n' \
  "$of_hwm" "$of_out" "$of_idle"
printf '| proxy CPU per request at 1,000 req/s, quiet / during a 100k lines/s log burst (%s lines/s seen) | %s / %s us | floor, 2x a minimal hyper server: %s us | burst = quiet |\n' \
  "$burst_lps" "$quiet_us" "$burst_us" "$floor_us"
printf '| proxy added p99 at 1,000 req/s, quiet / during the log burst | %s / %s us | direct p99: %s us | <= 200 us |\n' \
  "$((quiet99 - direct99))" "$((burst99 - direct99))" "$direct99"

# 11. The console: overview of 1,000 systems and one system page, rendered in-process (median
# and p99 of 50); baseline: the same AgentDeployments serialised to JSON.
con=$("$EX/bench_console")
conf() { grep -o "$1=[0-9.]*" <<<"$con" | cut -d= -f2; }
printf '| console overview, 1,000 systems, render median / p99 and size | %s / %s ms, %s KiB | the same objects as JSON: %s ms, %s KiB | <= 100 ms, <= 1 MB |\n' \
  "$(conf overview_median_ms)" "$(conf overview_p99_ms)" "$(( $(conf overview_bytes) / 1024 ))" "$(conf json_median_ms)" "$(( $(conf json_bytes) / 1024 ))"
printf '| console system page (the real-pods dump), render median / p99 and size | %s / %s ms, %s KiB | - | - |\n' \
  "$(conf system_median_ms)" "$(conf system_p99_ms)" "$(( $(conf system_bytes) / 1024 ))"

# 12. Zero-code instrumentation: the agent (the plain `openai` client) against the stub
# OpenAI-compatible server, uninstrumented and with each provider exactly as the webhook
# instruments it (its env, the init container's copy of the layout), spans to a real sidecar.
# Start-up: spawn to the first call's answer and the process's CPU, median of 7 interleaved
# runs; per call: 300 sequential calls timed in the agent, CPU per call from /proc, and the CPU
# of the agent's exit after them (where the SDKs flush their spans).
ai=$("$EX/bench_autoinstrument" 7 300)
aif() { grep "^variant=$1 " <<<"$ai" | grep -o " $2=[-+0-9.a-z]*" | cut -d= -f2; }
for p in opentelemetry openinference openlit; do
  printf '| zero-code instrumentation, %s, added: agent start-up to its first answer, its CPU; per call median / p99, CPU; CPU of the exit after 300 calls (start-up median of 7 runs; tokens of every call counted by the sidecar: %s) | %s ms, %s ms CPU; %s / %s us, %s us CPU per call; exit %s ms CPU | uninstrumented, same run: %s ms, %s ms CPU; %s / %s us, %s us CPU per call; exit %s ms CPU | - |\n' \
    "$p" "$(aif "$p" tokens_ok)" "$(aif "$p" added_startup_ms)" "$(aif "$p" added_startup_cpu_ms)" \
    "$(aif "$p" added_call_median_us)" "$(aif "$p" added_call_p99_us)" "$(aif "$p" added_call_cpu_us)" "$(aif "$p" added_exit_cpu_ms)" \
    "$(aif none startup_ms)" "$(aif none startup_cpu_ms)" "$(aif none call_median_us)" "$(aif none call_p99_us)" "$(aif none call_cpu_us)" "$(aif none exit_cpu_ms)"
done
