#!/usr/bin/env bash
# Kubernetes source benchmark (issue 11): N Routes created through the Kubernetes API stand-in
# (Tests/Support/KubernetesAPIStandIn.swift, a TEST STAND-IN, not an API server):
#   start -> all served, RSS; one API change -> served (median/p99 over CHANGES); 410 -> relist -> a change served.
#   bench/kubernetes.sh [N_ROUTES] [CHANGES]    (LOG_LEVEL=debug: reconcile phases; PERF=FILE: perf record of the changes)
# Everything stays on 127.0.0.1; every process it starts is stopped by PID.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-10000}
CHANGES=${2:-100}
BIN=${RAMPART_BINARY:-.build/release/rampart}
[ -n "${RAMPART_BINARY:-}" ] || swift build -c release --product rampart >/dev/null
work=$(mktemp -d /tmp/rampart-bench-k8s-XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
UP=$(port); GW=$(port); ADMIN=$(port)
served() { local b; b=$(curl -s "http://127.0.0.1:$GW$1") || return 1; [[ "$b" != *'"error":"no route"'* ]]; }
mkdir -p "$work/www" && echo ok > "$work/www/index.html"
python3 -m http.server "$UP" --bind 127.0.0.1 --directory "$work/www" >/dev/null 2>&1 & pids+=($!)

# The stand-in's python source is kept in the Swift test support file; take it from there.
python3 - "$work/standin.py" <<'PY'
import re, sys
src = open("Tests/Support/KubernetesAPIStandIn.swift").read()
open(sys.argv[1], "w").write(re.search(r'kubernetesStandInPythonSource = #"""\n(.*?)\n"""#', src, re.S).group(1))
PY
python3 "$work/standin.py" --token bench --token-user bench --bookmark-interval 5 --crds manifests/crds/rampart.io_crds.yaml >"$work/standin.out" 2>&1 & pids+=($!)
for _ in $(seq 1 200); do [ -s "$work/standin.out" ] && break; sleep 0.05; done
API=$(head -1 "$work/standin.out")
cat > "$work/kubeconfig" <<KC
apiVersion: v1
kind: Config
clusters: [{name: bench, cluster: {server: "http://127.0.0.1:$API"}}]
users: [{name: bench, user: {token: bench}}]
contexts: [{name: bench, context: {cluster: bench, user: bench, namespace: default}}]
current-context: bench
KC

# One persistent connection, N creates.
python3 - "$API" "$N" "$UP" <<'PY'
import http.client, json, sys
api, n, up = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
c = http.client.HTTPConnection("127.0.0.1", api)
def post(path, body):
    c.request("POST", path, json.dumps(body), {"Authorization": "Bearer bench", "Content-Type": "application/json"})
    r = c.getresponse(); r.read()
    assert r.status == 201, r.status
base = "/apis/rampart.io/v1alpha1/namespaces/default/"
post(base + "upstreams", {"apiVersion": "rampart.io/v1alpha1", "kind": "Upstream", "metadata": {"name": "web"}, "spec": {"nodes": [{"host": "127.0.0.1", "port": up}]}})
for i in range(n):
    post(base + "routes", {"apiVersion": "rampart.io/v1alpha1", "kind": "Route", "metadata": {"name": "r%d" % i},
                           "spec": {"hosts": ["h%d.example.com" % (i % 50)], "paths": ["/api/v1/r%d" % i, "/api/v1/r%d/*" % i], "upstreamRef": {"name": "web"}}})
post(base + "routes", {"apiVersion": "rampart.io/v1alpha1", "kind": "Route", "metadata": {"name": "probe"}, "spec": {"paths": ["/probe-0"], "upstreamRef": {"name": "web"}}})
PY

start=$(date +%s.%N)
"$BIN" run --source kubernetes --kubeconfig "$work/kubeconfig" --listen 127.0.0.1:$GW --admin 127.0.0.1:$ADMIN --admin-tls off \
  --state-dir "$work/state" --workers 1 --log-level "${LOG_LEVEL:-warn}" >"$work/log" 2>&1 & RP=$!; pids+=($RP)
until served /probe-0; do
  sleep 0.01
  if (( $(echo "$(date +%s.%N) - $start > 180" | bc) )); then echo "not serving after 180s"; tail -20 "$work/log"; exit 1; fi
done
ready=$(echo "$(date +%s.%N) - $start" | bc)
rss_kb=$(awk '/VmRSS/{print $2}' /proc/$RP/status)
echo "routes=$N start_to_all_served_s=$ready rss_mb=$((rss_kb/1024))"

# PERF=FILE: a call-graph profile of the changes below (perf record -g; `perf report -i FILE`).
if [ -n "${PERF:-}" ]; then perf record -g -o "$PERF" -p "$RP" 2>/dev/null & PERF_PID=$!; pids+=($PERF_PID); sleep 0.5; fi
# API change -> served: a merge patch of the probe Route's path, polled until the new path answers.
python3 - "$API" "$GW" "$CHANGES" <<'PY'
import http.client, json, sys, time
api, gw, changes = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
c = http.client.HTTPConnection("127.0.0.1", api)
def patch(path):
    c.request("PATCH", "/apis/rampart.io/v1alpha1/namespaces/default/routes/probe", json.dumps({"spec": {"paths": [path]}}),
              {"Authorization": "Bearer bench", "Content-Type": "application/merge-patch+json"})
    r = c.getresponse(); r.read()
def served(path):
    g = http.client.HTTPConnection("127.0.0.1", gw, timeout=5)
    try:
        g.request("GET", path); r = g.getresponse(); body = r.read()
        return b'"error":"no route"' not in body
    except Exception:
        return False
    finally:
        g.close()
lat = []
for i in range(1, changes + 1):
    t0 = time.monotonic(); patch("/probe-%d" % i)
    while not served("/probe-%d" % i):
        if time.monotonic() - t0 > 30: sys.exit("change %d not served after 30 s" % i)
    lat.append((time.monotonic() - t0) * 1000)
lat.sort()
print("apply_to_served_ms median=%d p99=%d max=%d (n=%d)" % (lat[len(lat)//2], lat[max(0, int(len(lat)*0.99)-1)], lat[-1], len(lat)))
PY
if [ -n "${PERF:-}" ]; then kill -INT "$PERF_PID"; wait "$PERF_PID" 2>/dev/null || true; fi

# 410 -> relist of every Route -> the next change served.
t0=$(date +%s%N)
curl -fs -X POST -H 'Content-Type: application/json' -d '{"path": "/routes", "errorAfter": 0, "errorReason": "Expired", "count": 1}' \
  "http://127.0.0.1:$API/_standin/watch-fault" >/dev/null
curl -fs -X POST "http://127.0.0.1:$API/_standin/compact" >/dev/null
curl -fs -X PATCH -H 'Authorization: Bearer bench' -H 'Content-Type: application/merge-patch+json' \
  -d '{"spec": {"paths": ["/probe-relisted"]}}' "http://127.0.0.1:$API/apis/rampart.io/v1alpha1/namespaces/default/routes/probe" >/dev/null
until served /probe-relisted; do :; done
echo "expired_watch_change_served_ms=$(( ($(date +%s%N) - t0) / 1000000 )) (410 on the Routes watch, relist of $N objects, then the change)"
# LOG_LEVEL=debug: each reconcile's phases (ms), medians over the changes.
if [ "${LOG_LEVEL:-warn}" = debug ]; then
  grep 'reconcile phases' "$work/log" | tail -n +2 | python3 -c '
import sys, re
rows = [dict((k, float(v)) for k, v in re.findall(r"(\w+)=\"?([0-9.]+)", line)) for line in sys.stdin]
for k in (rows[0] if rows else {}):
    xs = sorted(r.get(k, 0) for r in rows)
    print(f"  per change {k}: median={xs[len(xs)//2]:.1f} max={xs[-1]:.1f}")
'
fi
