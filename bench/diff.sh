#!/usr/bin/env bash
# `rampart diff` memory (issue 10): peak RSS of a real diff run on an edit to an N-node Upstream
# (one node's port changed, one node added), against the state a short `rampart run` saved.
#   bench/diff.sh [N_NODES]
# Uses the release binary; everything stays on 127.0.0.1; every process it starts is stopped by PID.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-3000}
BIN=${RAMPART_BINARY:-.build/release/rampart}
[ -n "${RAMPART_BINARY:-}" ] || swift build -c release --product rampart >/dev/null
work=$(mktemp -d /tmp/rampart-bench-XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

mkdir -p "$work/before" "$work/after"
python3 - "$work" "$N" <<'PY'
import sys
d, n = sys.argv[1], int(sys.argv[2])
def upstream(nodes):
    s = "apiVersion: rampart.io/v1alpha1\nkind: Upstream\nmetadata: {name: big}\nspec:\n  nodes:\n"
    return s + "".join(f"  - {{host: {h}, port: {p}}}\n" for h, p in nodes)
nodes = [(f"10.{i // 250}.{i % 250}.1", 8000 + i % 7) for i in range(n)]
open(f"{d}/before/upstream.yaml", "w").write(upstream(nodes))
nodes[n // 2] = (nodes[n // 2][0], 9999)
nodes.append(("10.250.0.1", 8080))
open(f"{d}/after/upstream.yaml", "w").write(upstream(nodes))
PY

# The serving state: what `rampart run` saves for the unedited manifest.
"$BIN" run "$work/before" --listen 127.0.0.1:$(port) --admin 127.0.0.1:$(port) --admin-tls off --state-dir "$work/state" \
  --workers 1 --log-level warn >"$work/log" 2>&1 & pids+=($!)
for _ in $(seq 1 600); do [ -s "$work/state/state.json" ] && break; sleep 0.1; done
[ -s "$work/state/state.json" ] || { echo "no state.json after 60 s"; cat "$work/log"; exit 1; }
kill "${pids[0]}"; wait "${pids[0]}" 2>/dev/null || true; pids=()

measure() {  # $1 = manifest dir; prints peak RSS in MB and the diff's exit code (0 none, 1 changes)
  local rc=0
  /usr/bin/time -v "$BIN" diff "$1" --state-dir "$work/state" --color never >"$work/out" 2>"$work/time" || rc=$?
  local kb; kb=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$work/time")
  echo "$(( kb / 1024 )) MB (exit $rc, $(grep -c '^[-+][^-+]' "$work/out" || true) changed lines)"
}
echo "nodes: $N ($(wc -l <"$work/before/upstream.yaml") manifest lines)"
echo "rampart diff, no change:  $(measure "$work/before")"
echo "rampart diff, one edit:   $(measure "$work/after")"
