#!/usr/bin/env bash
# W1–W5 of bench/README.md: the Rust core (ds-bench) and the
# Elixir binding, in one run, on the same kind of fresh server, then one table.
#
#   bash bindings-elixir/bench/run.sh [--quick] [--server node|rust]
#
# Release builds (ds-bench and the NIF); the tests and CI keep using debug builds.
# JSON lines go to bindings-elixir/bench/results/<date>.jsonl.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
target="${CARGO_TARGET_DIR:-$repo/target}"
quick=(); server=node
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=(--quick); shift ;;
    --server) server="$2"; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
mkdir -p "$here/results"
out="$here/results/$(date -u +%Y%m%dT%H%M%SZ).jsonl"
[ -d "$repo/tests/node_modules/@durable-streams/server" ] || npm ci --prefix "$repo/tests" --no-audit --no-fund
(cd "$repo" && cargo build --release -p ds-bench -p durable-streams-elixir)
(cd "$repo/bindings-elixir" && MIX_ENV=prod DS_SKIP_CARGO=1 mix compile)

for w in w1 w2 w3 w4 w5; do
  "$target/release/ds-bench" "$w" --server "$server" --out "$out" ${quick[@]+"${quick[@]}"}
done
(cd "$repo/bindings-elixir" && MIX_ENV=prod DS_NIF_PATH="$target/release/libdurable_streams_nif" \
  mix run bench/bench.exs -- --out "$out" --server "$server" ${quick[@]+"${quick[@]}"})

node - "$out" <<'JS'
const lines = require("fs").readFileSync(process.argv[2], "utf8").trim().split("\n").map(JSON.parse)
const f = (x, d = 1) => (x == null ? "-" : Number(x).toFixed(d))
console.log("\nworkload     client          ok   count   elapsed s  throughput msgs/s  p50 ms  p99 ms  max ms  client CPU s  peak RSS MiB")
for (const l of lines) {
  const w = (l.workload + (l.variant ? " " + l.variant : "")).padEnd(12)
  const lat = l.latency_ms || {}
  console.log(`${w} ${l.client.padEnd(15)} ${String(l.ok).padEnd(4)} ${String(l.count).padStart(7)} ${f(l.elapsed_s, 2).padStart(10)} ${f(l.throughput, 0).padStart(18)} ${f(lat.p50, 2).padStart(7)} ${f(lat.p99, 2).padStart(7)} ${f(lat.max, 2).padStart(7)} ${f(l.cpu_s, 2).padStart(13)} ${f(l.peak_rss_mib).padStart(13)}`)
}
console.log(`\nJSON lines: ${process.argv[2]}`)
JS
