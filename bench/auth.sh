#!/usr/bin/env bash
# Authentication under attack (issue 9): what tests do not assert, timings.
#  1. basic-auth: latency of a wrong password for a known user vs an unknown user (each guess new,
#     so each costs one PBKDF2); the ratio should be ~1.0 (no user enumeration by timing).
#  2. admin: /healthz latency quiet vs while a client holds half a head open and 4 threads send new
#     wrong bearer tokens in a loop.
#  3. data plane: an open route's latency quiet vs while 64 threads send new wrong basic-auth
#     passwords to another route on the same loop (--workers 1).
# Every figure is a ratio against the quiet baseline of the same run.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.build/release/rampart
while [ $# -gt 0 ]; do
  case "$1" in
    --rampart-bin) BIN=$2; shift 2 ;;
    *) echo "usage: $0 [--rampart-bin PATH]" >&2; exit 2 ;;
  esac
done
[ -x "$BIN" ] || swift build -c release --product rampart >/dev/null
N=${N:-300}
WORK=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
UP=$(free_port); PORT=$(free_port); ADMIN=$(free_port)
mkdir -p "$WORK/m" "$WORK/s"
python3 -c '
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        self.send_response(200); self.send_header("Content-Length", "3"); self.end_headers(); self.wfile.write(b"ok\n")
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()' "$UP" 2>/dev/null &
PIDS+=($!)
cat > "$WORK/m/all.yaml" <<YAML
apiVersion: rampart.io/v1alpha1
kind: Upstream
metadata: {name: web}
spec:
  nodes: [{host: 127.0.0.1, port: $UP}]
---
apiVersion: rampart.io/v1alpha1
kind: Route
metadata: {name: basic}
spec:
  paths: ["/b"]
  upstreamRef: {name: web}
  plugins:
    basic-auth: {users: [{username: alice, password: {value: alice-pw}}]}
---
apiVersion: rampart.io/v1alpha1
kind: Route
metadata: {name: open}
spec:
  paths: ["/open"]
  upstreamRef: {name: web}
YAML
"$BIN" run "$WORK/m" --dev --listen 127.0.0.1:$PORT --admin 127.0.0.1:$ADMIN --admin-tls off \
  --state-dir "$WORK/s" --workers 1 >"$WORK/rampart.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do curl -fs -o /dev/null "http://127.0.0.1:$PORT/open" && break; sleep 0.1; done

python3 - "$PORT" "$ADMIN" "$N" "$(cat "$WORK/s/admin-token")" <<'PY'
import base64, multiprocessing, socket, statistics, sys, threading, time
port, admin, n = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])

def once(p, path, header=""):
    s = socket.create_connection(("127.0.0.1", p), timeout=30)
    t = time.perf_counter()
    s.sendall(("GET %s HTTP/1.1\r\nHost: a\r\nConnection: close\r\n%s\r\n" % (path, header)).encode())
    data = b""
    while b"\r\n\r\n" not in data:
        c = s.recv(4096)
        if not c: break
        data += c
    dt = time.perf_counter() - t
    s.close()
    return data[9:12].decode(), dt

def basic(user, pw): return "Authorization: Basic %s\r\n" % base64.b64encode(("%s:%s" % (user, pw)).encode()).decode()
def p(xs, q): return sorted(xs)[min(len(xs) - 1, int(len(xs) * q))] * 1000

# 1. known vs unknown user, interleaved so that drift hits both alike.
known, unknown = [], []
for i in range(n):
    known.append(once(port, "/b", basic("alice", "k%d" % i))[1])
    unknown.append(once(port, "/b", basic("mallory", "u%d" % i))[1])
km, um = statistics.median(known) * 1000, statistics.median(unknown) * 1000
print("basic-auth wrong password: known user median %.2f ms, unknown user median %.2f ms, unknown/known %.2f" % (km, um, um / km))

def flood_process(target, kind, threads):
    # Its own process (own GIL): the prober's latency is not the load generator's.
    def w(k):
        i = 0
        while True:
            i += 1
            h = "Authorization: Bearer wrong-%d-%d\r\n" % (k, i) if kind == "bearer" else basic("alice", "g-%d-%d" % (k, i))
            try: once(target[0], target[1], h)
            except OSError: pass
    for k in range(threads): threading.Thread(target=w, args=(k,), daemon=True).start()
    threading.Event().wait()

def flood(target, kind, threads):
    pr = multiprocessing.Process(target=flood_process, args=(target, kind, threads), daemon=True)
    pr.start()
    return pr

def probe(p_, path, count):
    return [once(p_, path)[1] for _ in range(count)]

# 2. admin /healthz quiet vs under a slow client + wrong-token flood.
quiet = probe(admin, "/healthz", n)
slow = socket.create_connection(("127.0.0.1", admin)); slow.sendall(b"GET /api/v1/status HTTP/1.1\r\nHost: a\r\n")
fl = flood((admin, "/api/v1/status"), "bearer", 4)
time.sleep(0.5)
try:
    loaded = probe(admin, "/healthz", n)
except OSError as e:
    loaded = [30.0]
    print("admin /healthz failed under the flood:", e)
fl.terminate(); fl.join(); slow.close()
print("admin /healthz: quiet p50 %.2f / p99 %.2f ms; under flood p50 %.2f / p99 %.2f ms; p99 ratio %.2f"
      % (p(quiet, .5), p(quiet, .99), p(loaded, .5), p(loaded, .99), p(loaded, .99) / p(quiet, .99)))

# 3. open route quiet vs under a basic-auth guessing flood on the same loop.
quiet = probe(port, "/open", n)
fl = flood((port, "/b"), "basic", 64)
time.sleep(0.5)
loaded = probe(port, "/open", n)
fl.terminate(); fl.join()
print("open route: quiet p50 %.2f / p99 %.2f ms; under basic-auth flood p50 %.2f / p99 %.2f ms; p99 ratio %.2f"
      % (p(quiet, .5), p(quiet, .99), p(loaded, .5), p(loaded, .99), p(loaded, .99) / p(quiet, .99)))
PY
curl -s "http://127.0.0.1:$ADMIN/metrics" | grep -E '^rampart_(basic_auth|admin_token)_' || true
