#!/usr/bin/env bash
# Reload under load: wrk through `rampart run` while the manifests change 10 times a second (every
# change is a new generation: a route's priority flips; the Upstream stays as it is).
#   1. route-count scaling: requests/s with 10 and with 10,000 routes in the snapshot, alternating ROUNDS times;
#   2. steady vs reloading, ROUNDS times on the same 10-route config (the order alternates): failed requests
#      (goal: none), requests/s while reloading as a ratio of the steady rate (goal: >= 0.9), and the
#      upstream connections opened while reloading (nginx stub_status `accepts`; pooled connections
#      of an unchanged upstream survive an apply, so this stays near zero).
#   bench/reload.sh [--duration 10s] [--rounds 3]
# Everything stays on 127.0.0.1; every process it starts is stopped by PID when it ends.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=10s
ROUNDS=3
while [ $# -gt 0 ]; do
  case "$1" in
    --duration) DURATION=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    *) echo "usage: $0 [--duration 10s] [--rounds 3]" >&2; exit 2 ;;
  esac
done
command -v nginx >/dev/null && command -v wrk >/dev/null || { echo "needs nginx and wrk" >&2; exit 2; }
BIN=${RAMPART_BINARY:-.build/release/rampart}
[ -x "$BIN" ] || { echo "no $BIN (swift build -c release --product rampart)" >&2; exit 2; }
W=$(mktemp -d /tmp/rampart-reload-bench-XXXXXX)
. bench/lib.sh
UP=$(port)
STATUS=$(port)
cat > "$W/up.conf" <<CONF
worker_processes 1;
daemon off;
pid $W/up.pid;
error_log $W/up.err warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  server { listen 127.0.0.1:$UP reuseport; location / { return 200 "hello, world\n"; } }
  server { listen 127.0.0.1:$STATUS; location / { stub_status; } }
}
CONF
nginx -c "$W/up.conf" -p "$W" & PIDS+=($!)
# Connections the upstream has accepted since it started (stub_status counts its own request too).
accepts() { curl -fs "http://127.0.0.1:$STATUS/" | awk 'NR == 3 {print $1}'; }

manifests() { # dir routes priority
  python3 - "$1" "$2" "$3" "$UP" <<'PY'
import sys, os
d, n, prio, up = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
os.makedirs(d, exist_ok=True)
if not os.path.exists(f"{d}/base.yaml"):
    open(f"{d}/base.yaml", "w").write(f"apiVersion: rampart.io/v1alpha1\nkind: Upstream\nmetadata: {{name: up}}\nspec: {{nodes: [{{host: 127.0.0.1, port: {up}}}], keepalive: {{maxIdle: 128}}}}\n")
    with open(f"{d}/routes.yaml", "w") as f:
        for i in range(n - 1):
            f.write(f"---\napiVersion: rampart.io/v1alpha1\nkind: Route\nmetadata: {{name: r{i}}}\nspec: {{hosts: [\"h{i % 50}.example.com\"], paths: [\"/api/r{i}/*\"], upstreamRef: {{name: up}}}}\n")
tmp = f"{d}/.all.yaml.tmp"
open(tmp, "w").write(f"apiVersion: rampart.io/v1alpha1\nkind: Route\nmetadata: {{name: all}}\nspec: {{paths: [\"/*\"], priority: {prio}, upstreamRef: {{name: up}}}}\n")
os.rename(tmp, f"{d}/all.yaml")
PY
}
# Starts `rampart run` on DIR; sets SERVED_PORT. Not in a subshell, so that its PID is kept.
serve() {
  SERVED_PORT=$(port)
  "$BIN" run "$1" --listen "127.0.0.1:$SERVED_PORT" --workers 1 --admin 127.0.0.1:0 --admin-tls off \
    --state-dir "$1.state" --access-log off --debounce 5ms >"$1.log" 2>&1 & PIDS+=($!)
  for _ in $(seq 1 600); do curl -fs -o /dev/null "http://127.0.0.1:$SERVED_PORT/" && return 0; sleep 0.1; done
  echo "rampart on $1 did not serve" >&2; cat "$1.log" >&2; exit 1
}
stop_last() { local p=${PIDS[-1]}; kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; unset 'PIDS[-1]'; }
rps() { awk '/Requests\/sec/{print $2}'; }
failures() { grep -E 'Non-2xx|Socket errors' | tr '\n' ' ' || true; }

# Both route counts are served at once and measured alternately, ROUNDS times (odd rounds 10 first),
# so the machine's drift falls on both.
declare -A PORT_OF
for n in 10 10000; do
  manifests "$W/r$n" "$n" 0
  serve "$W/r$n"; PORT_OF[$n]=$SERVED_PORT
  wrk -t1 -c64 -d2s "http://127.0.0.1:$SERVED_PORT/" >/dev/null
done
declare -A RATE
for round in $(seq 1 "$ROUNDS"); do
  order="10 10000"; [ $((round % 2)) = 0 ] && order="10000 10"
  for n in $order; do
    out=$(wrk -t1 -c64 -d"$DURATION" "http://127.0.0.1:${PORT_OF[$n]}/")
    RATE[$n]=$(echo "$out" | rps)
    fails=$(echo "$out" | failures)
    [ -n "$fails" ] && echo "routes=$n: $fails"
  done
  printf "round %d: 10 routes %s req/s, 10,000 routes %s req/s: %.2f (goal >= 0.95)\n" "$round" "${RATE[10]}" "${RATE[10000]}" \
    "$(echo "${RATE[10000]} / ${RATE[10]}" | bc -l)"
done
stop_last; stop_last

manifests "$W/reload" 10 0
serve "$W/reload"
wrk -t1 -c64 -d2s "http://127.0.0.1:$SERVED_PORT/" >/dev/null
for round in $(seq 1 "$ROUNDS"); do
  # Odd rounds measure steady first, even rounds reloading first.
  [ $((round % 2)) = 1 ] && steady=$(wrk -t1 -c64 -d"$DURATION" "http://127.0.0.1:$SERVED_PORT/")
  gens0=$(grep -c "applied generation" "$W/reload.log" || true)
  acc0=$(accepts)
  # The writer is one long-lived process (no fork or exec per change: a shell loop's `mv` and
  # `sleep` were 20 process starts a second, whose cost on the two cores fell on the measurement).
  python3 - "$W/reload" "${DURATION%s}" <<'PY' &
import os, sys, time
d, end = sys.argv[1], time.monotonic() + float(sys.argv[2])
i = 0
while time.monotonic() < end:
    i += 1
    with open(f"{d}/.all.yaml.tmp", "w") as f:
        f.write(f'apiVersion: rampart.io/v1alpha1\nkind: Route\nmetadata: {{name: all}}\nspec: {{paths: ["/*"], priority: {i % 2}, upstreamRef: {{name: up}}}}\n')
    os.rename(f"{d}/.all.yaml.tmp", f"{d}/all.yaml")
    time.sleep(0.1)
PY
  CH=$!
  out=$(wrk -t1 -c64 -d"$DURATION" "http://127.0.0.1:$SERVED_PORT/")
  wait $CH || true
  acc1=$(accepts)
  gens1=$(grep -c "applied generation" "$W/reload.log" || true)
  [ $((round % 2)) = 0 ] && steady=$(wrk -t1 -c64 -d"$DURATION" "http://127.0.0.1:$SERVED_PORT/")
  s=$(echo "$steady" | rps); r=$(echo "$out" | rps)
  fails=$(echo "$steady$out" | failures)
  printf "round %d: steady %s req/s, reloading %s req/s (%.2f of steady, goal >= 0.9), %d generations applied, %d upstream connections opened while reloading, failures: %s\n" \
    "$round" "$s" "$r" "$(echo "$r / $s" | bc -l)" "$((gens1 - gens0))" "$((acc1 - acc0 - 1))" "${fails:-none}"
done
