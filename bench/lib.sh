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
