#!/usr/bin/env bash
# Secrets benchmark (issue 6): time for `rampart run` to resolve N SecretRefs against moto_server
# (AWS Secrets Manager emulation) from a cold start, fetched concurrently.
#   bench/secrets.sh [N]
# Everything on 127.0.0.1; processes it starts are stopped by PID.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-1000}
BIN=${RAMPART_BINARY:-.build/release/rampart}
[ -n "${RAMPART_BINARY:-}" ] || swift build -c release --product rampart >/dev/null
work=$(mktemp -d /tmp/rampart-secrets-bench-XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
MOTO=$(port); GW=$(port); ADMIN=$(port)
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_DEFAULT_REGION=eu-west-1
moto_server -H 127.0.0.1 -p "$MOTO" >"$work/moto.log" 2>&1 & pids+=($!)
until curl -fs -o /dev/null "http://127.0.0.1:$MOTO/moto-api/"; do sleep 0.1; done
mkdir -p "$work/m"
python3 - "$work/m" "$N" "$MOTO" <<'PY'
import sys, boto3
d, n, port = sys.argv[1], int(sys.argv[2]), sys.argv[3]
c = boto3.client("secretsmanager", endpoint_url=f"http://127.0.0.1:{port}", region_name="eu-west-1")
with open(f"{d}/refs.yaml", "w") as f:
    for i in range(n):
        c.create_secret(Name=f"bench/s{i}", SecretString=f'{{"password": "p{i}"}}')
        f.write(f"---\napiVersion: rampart.io/v1alpha1\nkind: SecretRef\nmetadata: {{name: s{i}}}\nspec:\n  provider: aws\n"
                f"  aws: {{region: eu-west-1, secretId: bench/s{i}, endpoint: \"http://127.0.0.1:{port}\", credentials: {{fromEnvironment: true}}}}\n")
PY
start=$(date +%s.%N)
"$BIN" run "$work/m" --listen 127.0.0.1:$GW --admin 127.0.0.1:$ADMIN --admin-tls off --state-dir "$work/state" --workers 1 --log-level warn >"$work/log" 2>&1 & pids+=($!)
until [ -s "$work/state/admin-token" ]; do sleep 0.01; done
TOKEN=$(cat "$work/state/admin-token")
while :; do
  ready=$(curl -fs -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$ADMIN/api/v1/status" | grep -o '"ready":true' | wc -l || true)
  [ "$ready" -ge "$N" ] && break
  if (( $(echo "$(date +%s.%N) - $start > 120" | bc) )); then echo "only $ready of $N ready after 120 s"; tail -5 "$work/log"; exit 1; fi
  sleep 0.05
done
echo "secretrefs=$N resolved_s=$(echo "$(date +%s.%N) - $start" | bc) (cold start to all ready, moto_server, 16 concurrent fetches)"
# The same N reads straight from boto3 (sequential, one client) as a peer baseline in the same run.
python3 - "$N" "$MOTO" <<'PY'
import sys, time, boto3
n, port = int(sys.argv[1]), sys.argv[2]
c = boto3.client("secretsmanager", endpoint_url=f"http://127.0.0.1:{port}", region_name="eu-west-1")
t = time.time()
for i in range(n): c.get_secret_value(SecretId=f"bench/s{i}")
print(f"boto3_sequential_s={time.time() - t:.2f} (the same {n} GetSecretValue calls, one python client)")
PY
