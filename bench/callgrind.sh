#!/usr/bin/env bash
# Instructions per request (callgrind Ir) of the release `rampart run`, for a bare route and for a
# route with key-auth + limit-count (local) + proxy-rewrite. Instruction counts do not depend on how
# busy the machine is, so this is the before/after measure of request-path changes.
#
# Usage: bench/callgrind.sh [--harness XCTEST] [--requests N] [--out DIR]
#   The gateway is served by the release test-bundle harness (RampartGatewayTests.BenchHarness with
#   RAMPART_BENCH_PLUGINS set): valgrind 3.19 dies on `rampart run` itself (an internal SIGSEGV once
#   the main thread parks in dispatchMain), and the harness runs the same gateway code.
#   Build it with: swift build -c release --build-tests -Xswiftc -enable-testing
#   Each route gets N warm-up requests (not counted), then the counters are zeroed, N requests are
#   sent on one keep-alive connection and the counters dumped. Ir per request = total Ir / N (all
#   threads of the process; the idle resolver and health threads add next to nothing).
#   --out DIR keeps the callgrind dumps and the `callgrind_annotate` summaries there.
set -euo pipefail
cd "$(dirname "$0")/.."
XCTEST=.build/release/RampartPackageTests.xctest
N=2000
OUT=""
while [ $# -gt 0 ]; do
  case "$1" in
    --harness) XCTEST=$2; shift 2 ;;
    --requests) N=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    *) echo "usage: $0 [--harness XCTEST] [--requests N] [--out DIR]" >&2; exit 2 ;;
  esac
done
command -v valgrind >/dev/null || { echo "valgrind missing (apt-get install valgrind)" >&2; exit 2; }
command -v nginx >/dev/null || { echo "nginx missing (apt-get install nginx-light)" >&2; exit 2; }
[ -x "$XCTEST" ] || { echo "no $XCTEST (swift build -c release --build-tests -Xswiftc -enable-testing)" >&2; exit 2; }
WORK=$(mktemp -d)
[ -n "$OUT" ] && mkdir -p "$OUT"
PIDS=()
cleanup() {
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && wait "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
UP=$(free_port); PORT=$(free_port)

cat > "$WORK/up.conf" <<CONF
worker_processes 1;
daemon off;
pid $WORK/up.pid;
error_log $WORK/up.err warn;
events { worker_connections 1024; }
http { access_log off; keepalive_requests 1000000;
  server { listen 127.0.0.1:$UP; location / { return 200 "hello, world\n"; } } }
CONF
nginx -c "$WORK/up.conf" -p "$WORK" & PIDS+=($!)

RAMPART_BENCH_LISTEN=127.0.0.1:$PORT RAMPART_BENCH_UPSTREAM=127.0.0.1:$UP RAMPART_BENCH_PLUGINS=1 \
  valgrind --tool=callgrind --compress-strings=no --callgrind-out-file="$WORK/cg.out" \
  "$XCTEST" RampartGatewayTests.BenchHarness/testServeForBench >"$WORK/rampart.log" 2>&1 & PIDS+=($!)
VG=$!

ready=""
for _ in $(seq 1 600); do
  code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/bare" 2>/dev/null || true)
  [ "$code" = 200 ] && { ready=1; break; }
  sleep 0.2
done
[ -n "$ready" ] || { echo "the harness did not serve /bare" >&2; cat "$WORK/rampart.log" >&2; exit 1; }

# N requests on one keep-alive connection; fails unless every answer is 200.
load() { # path header count
  python3 - "$PORT" "$1" "$2" "$3" <<'PY'
import socket, sys
port, path, header, n = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
req = ("GET %s HTTP/1.1\r\nHost: bench\r\n%s\r\n" % (path, header + "\r\n" if header else "")).encode()
s = socket.create_connection(("127.0.0.1", port), timeout=60)
buf = b""
for i in range(n):
    s.sendall(req)
    while b"\r\n\r\n" not in buf:
        c = s.recv(65536)
        if not c: sys.exit("connection closed after %d responses" % i)
        buf += c
    head, _, buf = buf.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200"): sys.exit("response %d: %r" % (i, head[:40]))
    length = 0
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == b"content-length": length = int(v)
    while len(buf) < length:
        buf += s.recv(65536)
    buf = buf[length:]
PY
}

measure() { # name path header
  load "$2" "$3" "$N"
  callgrind_control -z "$VG" >/dev/null 2>&1
  load "$2" "$3" "$N"
  callgrind_control -d "$1" "$VG" >/dev/null 2>&1
  local f
  f=$(ls -t "$WORK"/cg.out.* | head -1)
  local ir
  ir=$(awk '/^summary:/ {print $2}' "$f")
  printf "%-8s %12d Ir total  %8d Ir/request  (%d requests)\n" "$1" "$ir" "$((ir / N))" "$N"
  if [ -n "$OUT" ]; then
    cp "$f" "$OUT/callgrind.$1"
    callgrind_annotate --inclusive=no "$f" 2>/dev/null | head -70 | cut -c1-220 > "$OUT/$1.self.txt" || true
    callgrind_annotate --inclusive=yes "$f" 2>/dev/null | head -90 | cut -c1-220 > "$OUT/$1.inclusive.txt" || true
  fi
}

measure bare /bare ""
measure plugins "/plugins?x=1" "apikey: bench-key-0123456789"
