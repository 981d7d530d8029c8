#!/usr/bin/env bash
# Proxy throughput: wrk through Rampart vs through nginx, to the same nginx upstream, on loopback,
# one worker each. Prints a table and the ratio.
#
# Usage:
#   bench/proxy.sh [--rampart-bin PATH] [--rampart-cmd "COMMAND"] [--duration 10s] [--connections 64] [--rounds 5]
#
#   --rounds N           alternate nginx and Rampart N times (odd rounds nginx first); one line per round
#   --nginx-minimal      nginx without the forwarding headers Rampart adds (less work than Rampart does)
#   --rampart-bin PATH   the `rampart` binary: run as `rampart run MANIFESTS --listen 127.0.0.1:$RAMPART_PORT --workers 1`
#   --rampart-cmd CMD    any command that serves the proxy on 127.0.0.1:$RAMPART_PORT to the upstream
#                        127.0.0.1:$UPSTREAM_PORT (both exported to it). Until `rampart run` exists,
#                        use the test-bundle harness (see bench/README.md).
set -euo pipefail
# For NGINX_FORWARDED; this script keeps its own PIDS and cleanup below (they replace lib.sh's).
. "$(dirname "$0")/lib.sh"

DURATION=10s
CONNS=64
THREADS=1
ROUNDS=1
NGINX_MINIMAL=0
RAMPART_BIN=""
RAMPART_CMD=""
export UPSTREAM_PORT=${UPSTREAM_PORT:-18080}
export NGINX_PORT=${NGINX_PORT:-18081}
export RAMPART_PORT=${RAMPART_PORT:-18082}

while [ $# -gt 0 ]; do
  case "$1" in
    --rampart-bin) RAMPART_BIN="$2"; shift 2 ;;
    --rampart-cmd) RAMPART_CMD="$2"; shift 2 ;;
    --duration) DURATION="$2"; shift 2 ;;
    --connections) CONNS="$2"; shift 2 ;;
    --rounds) ROUNDS="$2"; shift 2 ;;
    --nginx-minimal) NGINX_MINIMAL=1; shift ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done

command -v nginx >/dev/null || { echo "nginx missing (apt-get install nginx-light)" >&2; exit 2; }
command -v wrk >/dev/null || { echo "wrk missing (apt-get install wrk)" >&2; exit 2; }
[ -n "$RAMPART_BIN$RAMPART_CMD" ] || { echo "give --rampart-bin or --rampart-cmd" >&2; exit 2; }

WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
  kill "$(cat "$WORK/up.pid" 2>/dev/null)" 2>/dev/null || true
  kill "$(cat "$WORK/px.pid" 2>/dev/null)" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

nginx_conf() { # name body
  cat > "$WORK/$1.conf" <<CONF
worker_processes 1;
daemon off;
pid $WORK/$1.pid;
error_log $WORK/$1.err warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  $2
}
CONF
}

nginx_conf up "server { listen 127.0.0.1:$UPSTREAM_PORT reuseport; location / { return 200 \"hello, world\n\"; } }"
# By default nginx forwards what Rampart forwards (lib.sh); --nginx-minimal drops those headers
# (nginx's bare proxy_pass), for the record.
FORWARDED=$NGINX_FORWARDED
[ "$NGINX_MINIMAL" = 1 ] && FORWARDED=""
nginx_conf px "upstream backend { server 127.0.0.1:$UPSTREAM_PORT; keepalive 128; }
  server { listen 127.0.0.1:$NGINX_PORT reuseport;
    location / { proxy_pass http://backend; proxy_http_version 1.1; proxy_set_header Connection \"\"; proxy_set_header Host \$host; $FORWARDED } }"

nginx -c "$WORK/up.conf" -p "$WORK" & PIDS+=($!)
nginx -c "$WORK/px.conf" -p "$WORK" & PIDS+=($!)

if [ -n "$RAMPART_BIN" ]; then
  mkdir -p "$WORK/manifests"
  cat > "$WORK/manifests/bench.yaml" <<YAML
apiVersion: rampart.io/v1alpha1
kind: Upstream
metadata: {name: up, namespace: bench}
spec:
  nodes: [{host: 127.0.0.1, port: $UPSTREAM_PORT, weight: 1}]
  keepalive: {maxIdle: 128, idleTimeout: 60s}
---
apiVersion: rampart.io/v1alpha1
kind: Route
metadata: {name: all, namespace: bench}
spec:
  paths: ["/*"]
  upstreamRef: {name: up}
YAML
  "$RAMPART_BIN" run "$WORK/manifests" --listen "127.0.0.1:$RAMPART_PORT" --workers 1 --admin 127.0.0.1:0 \
    --admin-tls off --state-dir "$WORK/state" --access-log off --dev >"$WORK/rampart.log" 2>&1 & PIDS+=($!)
else
  bash -c "$RAMPART_CMD" >"$WORK/rampart.log" 2>&1 & PIDS+=($!)
fi

wait_port() {
  for _ in $(seq 1 300); do
    curl -fsS -o /dev/null "http://127.0.0.1:$1/" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "port $1 did not answer" >&2; cat "$WORK"/*.err "$WORK/rampart.log" >&2 2>/dev/null || true; exit 1
}
wait_port "$UPSTREAM_PORT"; wait_port "$NGINX_PORT"; wait_port "$RAMPART_PORT"

run_wrk() { # port
  wrk -t"$THREADS" -c"$CONNS" -d2s "http://127.0.0.1:$1/" >/dev/null   # warm-up
  wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency "http://127.0.0.1:$1/"
}

# CPU ticks (utime + stime) of a process, from /proc/PID/stat; the proxies' work per request.
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
HZ=$(getconf CLK_TCK)
NGX_WORKER=$(pgrep -P "$(cat "$WORK/px.pid")" | head -1)
RAMPART_PID=$(pgrep -f "listen 127.0.0.1:$RAMPART_PORT" | head -1)

rps() { echo "$1" | wrk_rps; }
p99() { echo "$1" | wrk_p99_ms; }
# One proxy's run: its wrk output, and its CPU seconds over warm-up + run.
measure() { # port pid -> sets OUT, CPU
  local c0; c0=$(ticks "$2")
  OUT=$(run_wrk "$1")
  CPU=$(echo "($(ticks "$2") - $c0) / $HZ" | bc -l)
  echo "$OUT" | grep -E "Non-2xx|Socket errors" >&2 || true
}
echo "== upstream direct";  UP=$(run_wrk "$UPSTREAM_PORT");  echo "$UP" | grep -E "Requests/sec|Latency |99%"
echo "round  nginx-req/s  rampart-req/s  ratio  per-CPU-s-ratio  nginx-p99-ms  rampart-p99-ms  p99-ratio"
for round in $(seq 1 "$ROUNDS"); do
  if [ $((round % 2)) = 1 ]; then
    measure "$NGINX_PORT" "$NGX_WORKER"; NG=$OUT; NG_CPU=$CPU
    measure "$RAMPART_PORT" "$RAMPART_PID"; RP=$OUT; RP_CPU=$CPU
  else
    measure "$RAMPART_PORT" "$RAMPART_PID"; RP=$OUT; RP_CPU=$CPU
    measure "$NGINX_PORT" "$NGX_WORKER"; NG=$OUT; NG_CPU=$CPU
  fi
  NG_RPS=$(rps "$NG"); RP_RPS=$(rps "$RP")
  # Requests per CPU-second of the proxy process (warm-up included in both: 2 s + the run).
  NG_EFF=$(echo "$NG_RPS * ${DURATION%s} / $NG_CPU" | bc -l); RP_EFF=$(echo "$RP_RPS * ${DURATION%s} / $RP_CPU" | bc -l)
  NG_P99=$(p99 "$NG"); RP_P99=$(p99 "$RP")
  printf "%5d  %11.0f  %13.0f  %5.2f  %15.2f  %12.2f  %14.2f  %9.2f\n" "$round" "$NG_RPS" "$RP_RPS" \
    "$(echo "$RP_RPS / $NG_RPS" | bc -l)" "$(echo "$RP_EFF / $NG_EFF" | bc -l)" "$NG_P99" "$RP_P99" "$(echo "$RP_P99 / $NG_P99" | bc -l)"
done
