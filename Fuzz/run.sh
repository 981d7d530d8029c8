#!/usr/bin/env bash
# Runs each fuzz target for SECONDS with its seed corpus and dictionary (make fuzz). New corpus entries
# and crashes go under OUT (outside the committed corpus); exits 1 if any target crashed, leaked past
# its limits or timed out on an input.
#   Fuzz/run.sh BIN_DIR OUT SECONDS TARGET[:DICT]...
set -u
bin=$1 out=$2 seconds=$3
shift 3
failed=()
printf '%-20s %10s %8s %7s %7s %7s  %s\n' target execs exec/s cov ft corpus result
for spec in "$@"; do
  target=${spec%%:*} dict=${spec#*:}
  [ "$dict" = "$spec" ] && dict=""
  dir="$out/$target"
  mkdir -p "$dir/corpus" "$dir/crashes"
  args=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
        -artifact_prefix="$dir/crashes/" "$dir/corpus" "Fuzz/corpus/$target")
  [ -n "$dict" ] && args=(-dict="Fuzz/$dict.dict" "${args[@]}")
  # The Swift runtime's crash handler would race ASan's report; leak checks stop at the first Foundation cache.
  ASAN_OPTIONS=detect_leaks=0 SWIFT_BACKTRACE=enable=no nice -n 19 "$bin/$target" "${args[@]}" >"$dir/log" 2>&1
  rc=$?
  stat() { sed -n "s/^stat::$1: *//p" "$dir/log" | tail -1; }
  last=$(grep -E '^#[0-9]+.*cov: ' "$dir/log" | tail -1)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
  result=ok
  if [ $rc -ne 0 ]; then
    result="FAILED (exit $rc): $(ls "$dir/crashes" | head -3 | tr '\n' ' ') see $dir/log"
    failed+=("$target")
  fi
  printf '%-20s %10s %8s %7s %7s %7s  %s\n' "$target" "$(stat number_of_executed_units)" "$(stat average_exec_per_sec)" \
    "${cov:-?}" "${ft:-?}" "$(ls "$dir/corpus" | wc -l)" "$result"
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: ${failed[*]} failed; reproduce with: $bin/TARGET $out/TARGET/crashes/FILE" >&2
  exit 1
fi
