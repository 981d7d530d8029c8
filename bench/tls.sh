#!/usr/bin/env bash
# TLS throughput (issue 5): wrk over HTTPS through Rampart vs nginx (same certificate, one worker
# each, keep-alive), then new handshakes per second (wrk with `Connection: close`), both proxying
# to one nginx upstream over plain HTTP on loopback.
#   bench/tls.sh [--rampart-bin PATH] [--duration 10s] [--connections 64] [--rounds N] [--nginx-minimal]
# Rounds alternate who goes first. nginx forwards what Rampart forwards (bench/lib.sh) unless
# --nginx-minimal (bare proxy_pass, less work than Rampart does).
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=10s; CONNS=64; BIN=.build/release/rampart; ROUNDS=1; NGINX_MINIMAL=0
while [ $# -gt 0 ]; do
  case "$1" in
    --rampart-bin) BIN="$2"; shift 2 ;; --duration) DURATION="$2"; shift 2 ;; --connections) CONNS="$2"; shift 2 ;;
    --rounds) ROUNDS="$2"; shift 2 ;; --nginx-minimal) NGINX_MINIMAL=1; shift ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
command -v nginx >/dev/null && command -v wrk >/dev/null || { echo "needs nginx and wrk (apt-get install nginx-light wrk)" >&2; exit 2; }
[ -x "$BIN" ] || { echo "no $BIN (swift build -c release --product rampart)" >&2; exit 2; }
W=$(mktemp -d /tmp/rampart-tls-bench-XXXXXX)
. bench/lib.sh
UP=$(port); NG=$(port); RP=$(port); RPPLAIN=$(port)

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 -subj /CN=bench.local \
  -addext subjectAltName=DNS:bench.local -keyout "$W/key.pem" -out "$W/cert.pem" 2>/dev/null

conf() { printf 'worker_processes 1;\ndaemon off;\npid %s/%s.pid;\nerror_log %s/%s.err warn;\nevents { worker_connections 4096; }\nhttp { access_log off; keepalive_requests 1000000; %s }\n' "$W" "$1" "$W" "$1" "$2" > "$W/$1.conf"; }
conf up "server { listen 127.0.0.1:$UP reuseport; location / { return 200 \"hello, world\n\"; } }"
FORWARDED=$NGINX_FORWARDED; [ "$NGINX_MINIMAL" = 1 ] && FORWARDED=""
conf px "upstream b { server 127.0.0.1:$UP; keepalive 128; }
  server { listen 127.0.0.1:$NG ssl reuseport; ssl_certificate $W/cert.pem; ssl_certificate_key $W/key.pem;
    ssl_protocols TLSv1.2 TLSv1.3; ssl_session_cache shared:S:10m;
    location / { proxy_pass http://b; proxy_http_version 1.1; proxy_set_header Connection \"\"; proxy_set_header Host \$host; $FORWARDED } }"
nginx -c "$W/up.conf" -p "$W" & PIDS+=($!)
nginx -c "$W/px.conf" -p "$W" & PIDS+=($!)

mkdir -p "$W/m"
python3 - "$W" "$UP" <<'PY'
import sys, json
w, up = sys.argv[1], sys.argv[2]
cert, key = open(f"{w}/cert.pem").read(), open(f"{w}/key.pem").read()
open(f"{w}/m/bench.yaml", "w").write(f"""apiVersion: rampart.io/v1alpha1
kind: Upstream
metadata: {{name: up}}
spec: {{nodes: [{{host: 127.0.0.1, port: {up}}}], keepalive: {{maxIdle: 128, idleTimeout: 60s}}}}
---
apiVersion: rampart.io/v1alpha1
kind: Route
metadata: {{name: all}}
spec: {{paths: ["/*"], upstreamRef: {{name: up}}}}
---
apiVersion: rampart.io/v1alpha1
kind: SSL
metadata: {{name: bench, labels: {{rampart.io/default-cert: "true"}}}}
spec:
  snis: [bench.local]
  certificate: {{value: {json.dumps(cert)}}}
  privateKey: {{value: {json.dumps(key)}}}
""")
PY
"$BIN" run "$W/m" --listen 127.0.0.1:$RPPLAIN --listen-tls 127.0.0.1:$RP --workers 1 --admin 127.0.0.1:0 --admin-tls off \
  --state-dir "$W/state" --access-log off --dev >"$W/rampart.log" 2>&1 & PIDS+=($!)
for p in $NG $RP; do
  for _ in $(seq 1 300); do curl -fsk -o /dev/null "https://127.0.0.1:$p/" && break; sleep 0.1; done
done
# CPU ticks (utime + stime) of each proxy process, for requests per CPU-second (warm-up included for both).
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
HZ=$(getconf CLK_TCK)
PID_rampart=$(pgrep -f "listen-tls 127.0.0.1:$RP" | head -1)
PID_nginx=$(pgrep -P "$(cat "$W/px.pid")" | head -1)
bench() { # name port extra-args... -> sets RPS_<name>, P99_<name> (ms), EFF_<name> (requests per CPU-second)
  local name=$1 port=$2 out pid c0; shift 2
  pid=PID_$name; c0=$(ticks "${!pid}")
  wrk -t1 -c"$CONNS" -d2s "$@" "https://127.0.0.1:$port/" >/dev/null
  out=$(wrk -t1 -c"$CONNS" -d"$DURATION" --latency "$@" "https://127.0.0.1:$port/")
  printf -v "EFF_$name" '%s' "$(echo "$out" | awk -v d="${DURATION%s}" -v t="$(( $(ticks "${!pid}") - c0 ))" -v hz="$HZ" '/Requests\/sec/ {print $2 * d * hz / t}')"
  echo "$out" | grep -E "Non-2xx|Socket errors" | sed "s/^/$name /" >&2 || true
  printf -v "RPS_$name" '%s' "$(echo "$out" | wrk_rps)"
  printf -v "P99_$name" '%s' "$(echo "$out" | wrk_p99_ms)"
}
row() { # round mode
  printf "%5d  %-10s  %11.0f  %13.0f  %5.2f  %15.2f  %12.2f  %14.2f  %9.2f\n" "$1" "$2" "$RPS_nginx" "$RPS_rampart" \
    "$(echo "$RPS_rampart / $RPS_nginx" | bc -l)" "$(echo "$EFF_rampart / $EFF_nginx" | bc -l)" "$P99_nginx" "$P99_rampart" "$(echo "$P99_rampart / $P99_nginx" | bc -l)"
}
echo "round  mode        nginx-req/s  rampart-req/s  ratio  per-CPU-s-ratio  nginx-p99-ms  rampart-p99-ms  p99-ratio"
for round in $(seq 1 "$ROUNDS"); do
  # Odd rounds nginx first, even rounds Rampart first: the machine's drift falls on both.
  if [ $((round % 2)) = 1 ]; then first="nginx $NG"; second="rampart $RP"; else first="rampart $RP"; second="nginx $NG"; fi
  bench $first; bench $second; row "$round" keep-alive
  bench $first -H "Connection: close"; bench $second -H "Connection: close"; row "$round" handshake
done
grep -i "error" "$W/rampart.log" | head -3 || true
