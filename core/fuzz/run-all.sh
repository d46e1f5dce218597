#!/usr/bin/env bash
# Runs every fuzz target for RUNS executions (default 10 million), one after the other,
# at the lowest CPU priority, starting from the seed corpus written by seed-corpus.mjs.
# Logs: $LOGS/<target>.log (default /tmp/ds-fuzz). Exits non-zero on the first crash,
# timeout or leak (libFuzzer writes the input to core/fuzz/artifacts/<target>/).
#
#   bash core/fuzz/run-all.sh [target...]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"
runs="${RUNS:-10000000}"
logs="${LOGS:-/tmp/ds-fuzz}"
mkdir -p "$logs"
[ -d corpus ] || node seed-corpus.mjs
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(sse json_split offset_headers retry_after)
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t"
  echo "fuzz $t: $runs runs (log $logs/$t.log)"
  nice -n 19 cargo +nightly fuzz run -s "${SANITIZER:-leak}" "$t" "corpus/$t" -- \
    -runs="$runs" -max_len="${MAX_LEN:-1024}" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 > "$logs/$t.log" 2>&1
  grep -E '^stat::number_of_executed_units|^Done' "$logs/$t.log" | tr '\n' ' '
  echo
done
