#!/usr/bin/env bash
# Reload under load (issue 3): wrk through `rampart run` while the manifests change 10 times a
# second; every change is a new generation (a route's priority flips). Zero failed requests is
# the goal. Also reports requests/s with 10 and with 10,000 routes (route-count scaling).
#   bench/reload.sh [--duration 10s]
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=10s
[ "${1:-}" = "--duration" ] && DURATION=$2
command -v nginx >/dev/null && command -v wrk >/dev/null || { echo "needs nginx and wrk" >&2; exit 2; }
swift build -c release --product rampart >/dev/null
BIN=.build/release/rampart
W=$(mktemp -d /tmp/rampart-reload-bench-XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]:-}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$W"; }
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
UP=$(port)
printf 'worker_processes 1;\ndaemon off;\npid %s/up.pid;\nerror_log %s/up.err warn;\nevents { worker_connections 4096; }\nhttp { access_log off; keepalive_requests 1000000; server { listen 127.0.0.1:%s reuseport; location / { return 200 "hello, world\\n"; } } }\n' "$W" "$W" "$UP" > "$W/up.conf"
nginx -c "$W/up.conf" -p "$W" & PIDS+=($!)

manifests() { # dir routes priority
  python3 - "$1" "$2" "$3" "$UP" <<'PY'
import sys, os
d, n, prio, up = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
os.makedirs(d, exist_ok=True)
open(f"{d}/base.yaml", "w").write(f"apiVersion: rampart.io/v1alpha1\nkind: Upstream\nmetadata: {{name: up}}\nspec: {{nodes: [{{host: 127.0.0.1, port: {up}}}], keepalive: {{maxIdle: 128}}}}\n")
with open(f"{d}/routes.yaml", "w") as f:
    for i in range(n - 1):
        f.write(f"---\napiVersion: rampart.io/v1alpha1\nkind: Route\nmetadata: {{name: r{i}}}\nspec: {{hosts: [\"h{i % 50}.example.com\"], paths: [\"/api/r{i}/*\"], upstreamRef: {{name: up}}}}\n")
tmp = f"{d}/.all.yaml.tmp"
open(tmp, "w").write(f"apiVersion: rampart.io/v1alpha1\nkind: Route\nmetadata: {{name: all}}\nspec: {{paths: [\"/*\"], priority: {prio}, upstreamRef: {{name: up}}}}\n")
os.rename(tmp, f"{d}/all.yaml")
PY
}
serve() { # dir
  local p; p=$(port)
  "$BIN" run "$1" --listen 127.0.0.1:$p --workers 1 --admin 127.0.0.1:0 --admin-tls off --state-dir "$1.state" --access-log off --debounce 5ms >"$1.log" 2>&1 & PIDS+=($!)
  for _ in $(seq 1 600); do curl -fs -o /dev/null "http://127.0.0.1:$p/" && break; sleep 0.1; done
  echo "$p"
}
rps() { awk '/Requests\/sec/{print $2}'; }
errs() { awk '/Non-2xx|Socket errors/{print}' ; }

for n in 10 10000; do
  manifests "$W/r$n" "$n" 0
  p=$(serve "$W/r$n")
  wrk -t1 -c64 -d2s "http://127.0.0.1:$p/" >/dev/null
  out=$(wrk -t1 -c64 -d"$DURATION" "http://127.0.0.1:$p/")
  echo "routes=$n req/s=$(echo "$out" | rps) $(echo "$out" | errs)"
done

manifests "$W/reload" 10 0
p=$(serve "$W/reload")
( end=$((SECONDS + ${DURATION%s})); i=0; while [ $SECONDS -lt $end ]; do i=$((i+1)); manifests "$W/reload" 10 $((i % 2)) >/dev/null; sleep 0.1; done ) &
CH=$!
out=$(wrk -t1 -c64 -d"$DURATION" "http://127.0.0.1:$p/")
wait $CH || true
gens=$(grep -c "applied generation" "$W/reload.log" || true)
echo "reload under load: generations_applied=$gens req/s=$(echo "$out" | rps) failures: $(echo "$out" | errs | tr '\n' ' ')$(echo "$out" | grep -q -E 'Non-2xx|Socket errors' || echo none)"
