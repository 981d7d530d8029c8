#!/usr/bin/env bash
# Controller benchmarks (issue 4): reconcile time and RSS for N routes, and file-write-to-served latency.
#   bench/reconcile.sh [N_ROUTES] [CHANGES]
# Uses the release binary; everything stays on 127.0.0.1; every process it starts is stopped by PID.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-10000}
CHANGES=${2:-100}
DEBOUNCE=${DEBOUNCE:-5ms}
# PERF=FILE records the changes with perf (see below).
# LOG_LEVEL=debug prints each reconcile's phases (ms) at the end: where the time goes.
BIN=${RAMPART_BINARY:-.build/release/rampart}
[ -n "${RAMPART_BINARY:-}" ] || swift build -c release --product rampart >/dev/null
work=$(mktemp -d /tmp/rampart-bench-XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
UP=$(port); GW=$(port); ADMIN=$(port)
# Served = routed to the upstream (any upstream status), not Rampart's own 404.
served() { local b; b=$(curl -s "http://127.0.0.1:$GW$1") || return 1; [[ "$b" != *'"error":"no route"'* ]]; }
mkdir -p "$work/www" "$work/m"
echo ok > "$work/www/index.html"
python3 -m http.server "$UP" --bind 127.0.0.1 --directory "$work/www" >/dev/null 2>&1 & pids+=($!)

python3 - "$work/m" "$N" "$UP" <<'PY'
import sys
d, n, up = sys.argv[1], int(sys.argv[2]), sys.argv[3]
open(f"{d}/upstream.yaml", "w").write(f"apiVersion: rampart.io/v1alpha1\nkind: Upstream\nmetadata: {{name: web}}\nspec: {{nodes: [{{host: 127.0.0.1, port: {up}}}]}}\n")
with open(f"{d}/routes.yaml", "w") as f:
    for i in range(n):
        f.write(f"---\napiVersion: rampart.io/v1alpha1\nkind: Route\nmetadata: {{name: r{i}}}\nspec:\n  hosts: [\"h{i % 50}.example.com\"]\n  paths: [\"/api/v1/r{i}\", \"/api/v1/r{i}/*\"]\n  methods: [GET, POST]\n  upstreamRef: {{name: web}}\n")
open(f"{d}/probe.yaml", "w").write("apiVersion: rampart.io/v1alpha1\nkind: Route\nmetadata: {name: probe}\nspec: {paths: [\"/probe-0\"], upstreamRef: {name: web}}\n")
PY

start=$(date +%s.%N)
"$BIN" run "$work/m" --listen 127.0.0.1:$GW --admin 127.0.0.1:$ADMIN --admin-tls off --state-dir "$work/state" --workers 1 --log-level "${LOG_LEVEL:-warn}" --debounce "$DEBOUNCE" >"$work/log" 2>&1 & RP=$!; pids+=($RP)
until curl -fs -o /dev/null "http://127.0.0.1:$ADMIN/readyz" && served /probe-0; do
  sleep 0.01
  if (( $(echo "$(date +%s.%N) - $start > 120" | bc) )); then echo "not ready after 120s"; cat "$work/log"; exit 1; fi
done
ready=$(echo "$(date +%s.%N) - $start" | bc)
rss_kb=$(awk '/VmRSS/{print $2}' /proc/$RP/status)
reconcile=$(curl -fs "http://127.0.0.1:$ADMIN/metrics" | awk '/^rampart_reconcile_duration_seconds_sum/{s=$2} /^rampart_reconcile_duration_seconds_count/{c=$2} END{if(c>0) printf "%.3f", s/c}')
echo "routes=$N start_to_serving_s=$ready mean_reconcile_s=$reconcile rss_mb=$((rss_kb/1024))"

# PERF=FILE: a call-graph profile of the changes below (perf record -g; `perf report -i FILE`).
if [ -n "${PERF:-}" ]; then perf record -g -o "$PERF" -p "$RP" 2>/dev/null & PERF_PID=$!; pids+=($PERF_PID); sleep 0.5; fi
# File-write-to-served latency: rewrite one file, poll the new path until it answers.
lat=()
for i in $(seq 1 "$CHANGES"); do
  t0=$(date +%s%N)
  printf 'apiVersion: rampart.io/v1alpha1\nkind: Route\nmetadata: {name: probe}\nspec: {paths: ["/probe-%s"], upstreamRef: {name: web}}\n' "$i" > "$work/m/probe.yaml.tmp"
  mv "$work/m/probe.yaml.tmp" "$work/m/probe.yaml"
  until served "/probe-$i"; do :; done
  lat+=($(( ($(date +%s%N) - t0) / 1000000 )))
done
if [ -n "${PERF:-}" ]; then kill -INT "$PERF_PID"; wait "$PERF_PID" 2>/dev/null || true; fi
printf '%s\n' "${lat[@]}" | sort -n | awk '{a[NR]=$1} END{p=int(NR*0.99); if (p<1) p=1; printf "write_to_served_ms median=%d p99=%d max=%d (n=%d, --debounce %s)\n", a[int(NR/2)+1], a[p], a[NR], NR, DEB}' DEB="$DEBOUNCE"
if [ "${LOG_LEVEL:-warn}" = debug ]; then
  grep 'reconcile phases' "$work/log" | python3 -c '
import sys, re
rows = [dict((k, float(v)) for k, v in re.findall(r"(\w+)=\"?([0-9.]+)", line)) for line in sys.stdin]
if rows:
    first, rest = rows[0], rows[1:] or rows
    print("first reconcile phases (ms): " + " ".join(f"{k}={v:.1f}" for k, v in first.items()))
    for k in first:
        xs = sorted(r.get(k, 0) for r in rest)
        print(f"  per change {k}: median={xs[len(xs)//2]:.1f} max={xs[-1]:.1f}")
'
fi
