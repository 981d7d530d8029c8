#!/usr/bin/env bash
# The cost of plugins on the request path: wrk through `rampart run` and through nginx, each serving
# a bare route `/` and a route `/plugins` that checks an API key, counts requests per client address
# and rewrites the path and a header. nginx's equivalent: a `map` of the `apikey` header (401
# otherwise), `limit_req` per `$binary_remote_addr` (a rate no client reaches, like the count here)
# and `rewrite` + `proxy_set_header`. Rounds alternate the two proxies.
#   Goal: Rampart's plugins route >= 0.9x its bare route; its ratio to nginx on the same route.
#   bench/plugins.sh [--rampart-bin PATH] [--duration 10s] [--rounds 3]
# Everything stays on 127.0.0.1; every process it starts is stopped by PID when it ends.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.build/release/rampart
DURATION=10s
ROUNDS=3
while [ $# -gt 0 ]; do
  case "$1" in
    --rampart-bin) BIN=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    *) echo "usage: $0 [--rampart-bin PATH] [--duration 10s] [--rounds 3]" >&2; exit 2 ;;
  esac
done
command -v nginx >/dev/null && command -v wrk >/dev/null || { echo "needs nginx and wrk" >&2; exit 2; }
[ -x "$BIN" ] || { echo "no $BIN (swift build -c release --product rampart)" >&2; exit 2; }
W=$(mktemp -d /tmp/rampart-plugins-bench-XXXXXX)
. bench/lib.sh
UP=$(port); NGX=$(port); RP=$(port)
KEY=bench-key-0123456789

nginx_conf() { # name http-body
  printf 'worker_processes 1;\ndaemon off;\npid %s/%s.pid;\nerror_log %s/%s.err warn;\nevents { worker_connections 4096; }\nhttp { access_log off; keepalive_requests 1000000;\n%s\n}\n' \
    "$W" "$1" "$W" "$1" "$2" > "$W/$1.conf"
}
nginx_conf up "server { listen 127.0.0.1:$UP reuseport; location / { return 200 \"hello, world\n\"; } }"
FORWARDED="proxy_set_header Host \$host; $NGINX_FORWARDED proxy_set_header Connection \"\";"
nginx_conf px "upstream backend { server 127.0.0.1:$UP; keepalive 128; }
  map \$http_apikey \$key_ok { default 0; \"$KEY\" 1; }
  limit_req_zone \$binary_remote_addr zone=perclient:1m rate=1000000000r/m;
  server { listen 127.0.0.1:$NGX reuseport;
    proxy_http_version 1.1;
    location / { $FORWARDED proxy_pass http://backend; }
    location = /plugins {
      if (\$key_ok = 0) { return 401; }
      limit_req zone=perclient burst=1000000000 nodelay;
      rewrite ^ /rewritten break;
      $FORWARDED proxy_set_header X-Bench 1;
      proxy_pass http://backend;
    } }"
nginx -c "$W/up.conf" -p "$W" & PIDS+=($!)
nginx -c "$W/px.conf" -p "$W" & PIDS+=($!)

mkdir -p "$W/manifests"
cat > "$W/manifests/bench.yaml" <<YAML
apiVersion: rampart.io/v1alpha1
kind: Upstream
metadata: {name: up, namespace: bench}
spec:
  nodes: [{host: 127.0.0.1, port: $UP}]
  keepalive: {maxIdle: 128, idleTimeout: 60s}
---
apiVersion: rampart.io/v1alpha1
kind: Route
metadata: {name: all, namespace: bench}
spec: {paths: ["/*"], upstreamRef: {name: up}}
---
apiVersion: rampart.io/v1alpha1
kind: Route
metadata: {name: plugins, namespace: bench}
spec:
  paths: ["/plugins"]
  upstreamRef: {name: up}
  plugins:
    key-auth: {header: apikey, keys: [{value: "$KEY"}]}
    limit-count: {count: 1000000000, window: 60s, key: remote_addr, policy: local}
    proxy-rewrite: {uri: /rewritten, headers: {set: {X-Bench: "1"}}}
YAML
"$BIN" run "$W/manifests" --listen "127.0.0.1:$RP" --workers 1 --admin 127.0.0.1:0 --admin-tls off \
  --state-dir "$W/state" --access-log off --dev >"$W/rampart.log" 2>&1 & PIDS+=($!)

wait_ok() { # port path
  for _ in $(seq 1 300); do curl -fs -o /dev/null -H "apikey: $KEY" "http://127.0.0.1:$1$2" && return 0; sleep 0.1; done
  echo "127.0.0.1:$1$2 did not answer" >&2; cat "$W"/*.err "$W/rampart.log" >&2 2>/dev/null || true; exit 1
}
wait_ok "$UP" /; wait_ok "$NGX" /plugins; wait_ok "$RP" /plugins
# Both refuse a request without the key: the check is on for both.
for p in "$NGX" "$RP"; do
  code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$p/plugins")
  [ "$code" = 401 ] || { echo "127.0.0.1:$p/plugins without a key answered $code, not 401" >&2; exit 1; }
done

rate() { # port path
  wrk -t1 -c64 -d2s -H "apikey: $KEY" "http://127.0.0.1:$1$2" >/dev/null
  wrk -t1 -c64 -d"$DURATION" -H "apikey: $KEY" "http://127.0.0.1:$1$2" | awk '/Requests\/sec/{print $2} /Non-2xx|Socket errors/{print "FAILED: " $0 > "/dev/stderr"}'
}
echo "round  nginx-bare  nginx-plugins  rampart-bare  rampart-plugins  rampart-plugins/bare  rampart/nginx-bare  rampart/nginx-plugins"
for round in $(seq 1 "$ROUNDS"); do
  if [ $((round % 2)) = 1 ]; then
    nb=$(rate "$NGX" /); np=$(rate "$NGX" /plugins); rb=$(rate "$RP" /); rpl=$(rate "$RP" /plugins)
  else
    rb=$(rate "$RP" /); rpl=$(rate "$RP" /plugins); nb=$(rate "$NGX" /); np=$(rate "$NGX" /plugins)
  fi
  printf "%5d  %10.0f  %13.0f  %12.0f  %15.0f  %20.2f  %18.2f  %21.2f\n" "$round" "$nb" "$np" "$rb" "$rpl" \
    "$(echo "$rpl / $rb" | bc -l)" "$(echo "$rb / $nb" | bc -l)" "$(echo "$rpl / $np" | bc -l)"
done
