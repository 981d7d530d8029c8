# Shared by the benchmarks (sourced): the processes a benchmark started, stopped by PID when it
# ends, its scratch directory $W removed, and free loopback ports.
PIDS=()
bench_cleanup() {
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && wait "$p" 2>/dev/null || true; done
  [ -n "${W:-}" ] && rm -rf "$W"
  return 0
}
trap bench_cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
# What an nginx peer sets so it forwards what Rampart forwards (X-Forwarded-For/-Proto/-Host,
# X-Real-IP, Via, a generated X-Request-Id): both proxies do the same work and the upstream parses
# the same head. Goes inside a `location` beside proxy_pass.
NGINX_FORWARDED='proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for; proxy_set_header X-Real-IP $remote_addr;
    proxy_set_header X-Forwarded-Proto $scheme; proxy_set_header X-Forwarded-Host $host; proxy_set_header Via "1.1 nginx";
    proxy_set_header X-Request-Id $request_id;'
# wrk's p99 in ms (it prints us, ms or s) and its requests/s, from its --latency output on stdin.
wrk_p99_ms() { awk '$1 == "99%" { v = $2; if (v ~ /us$/) { sub(/us$/, "", v); v /= 1000 } else if (v ~ /ms$/) { sub(/ms$/, "", v) } else if (v ~ /s$/) { sub(/s$/, "", v); v *= 1000 }; print v }'; }
wrk_rps() { awk '/Requests\/sec/ {print $2}'; }
