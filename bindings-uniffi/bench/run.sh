#!/usr/bin/env bash
# W1–W5 of bench/README.md through the Rust core (ds-bench) and the Kotlin binding, in
# one run: for each workload the core first, then the Kotlin binding, each on a fresh
# server of the same kind; then one table side by side and the binding's overhead.
#
#   nice -n 10 bash bindings-uniffi/bench/run.sh [--quick] [--server node|rust] [--only w4,w5]
#
# Release builds (ds-bench and the cdylib); the tests and CI keep using debug builds.
# The JVM warms up before every timed section (bench/Bench.kt says how); no server
# ceiling (wrk) runs: the comparison is client against client. Results are printed;
# the JSON lines go to a temporary file, never into the repository.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
uniffi="$(cd "$here/.." && pwd)"
repo="$(cd "$uniffi/.." && pwd)"
target="${CARGO_TARGET_DIR:-$repo/target}"
quick=(); server=node; only="w1 w2 w3 w4 w5"
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=(--quick); shift ;;
    --server) server="$2"; shift 2 ;;
    --only) only="${2//,/ }"; shift 2 ;;  # e.g. --only w4,w5: repeat the latency figures
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
out="$(mktemp -t ds-kotlin-bench.XXXXXX)"
[ -d "$repo/tests/node_modules/@durable-streams/server" ] || npm ci --prefix "$repo/tests" --no-audit --no-fund
(cd "$repo" && cargo build --locked --release -p ds-bench -p durable-streams-sdk-uniffi)
# The generator: the debug build ci.sh makes (reads the release library's metadata).
(cd "$repo" && cargo build --locked -p durable-streams-sdk-uniffi --features bindgen)
gen="$uniffi/kotlin/sdk/target/generated-sources/uniffi"
rm -rf "$gen"
"$target/debug/uniffi-bindgen" generate --library "$target/release/libdurable_streams_uniffi.so" \
  --language kotlin --out-dir "$gen" --no-format >/dev/null
(cd "$uniffi/kotlin" && mvn -q -B -Pbench -DskipTests package)
kb="$uniffi/kotlin/bench/target"
kotlin=(java -Djna.library.path="$target/release" -cp "$kb/durable-streams-bench-0.1.0.jar:$kb/lib/*"
  dev.durablestreams.sdk.bench.BenchKt)
echo "machine: $(nproc) CPUs, $(uname -m); load before: $(cut -d' ' -f1-3 /proc/loadavg); java: $(java -version 2>&1 | head -n 1)"

for w in $only; do
  echo "=== ${w^^}: core ===" >&2
  "$target/release/ds-bench" "$w" --server "$server" --ceiling off --out "$out" ${quick[@]+"${quick[@]}"} >/dev/null
  echo "=== ${w^^}: Kotlin binding ===" >&2
  DS_BENCH="$target/release/ds-bench" "${kotlin[@]}" "$w" --server "$server" --out "$out" ${quick[@]+"${quick[@]}"} >/dev/null
done
echo "=== the cost of one call into the binding (explains W1) ===" >&2
DS_BENCH="$target/release/ds-bench" "${kotlin[@]}" calls --server "$server"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"

node - "$out" <<'JS'
const lines = require("fs").readFileSync(process.argv[2], "utf8").trim().split("\n").map(JSON.parse)
const f = (x, d = 1) => (x == null || Number.isNaN(x) ? "-" : Number(x).toFixed(d))
const name = (l) => l.workload + (l.variant ? " " + l.variant : "")
console.log("\nworkload       client           ok   count      elapsed s  throughput  unit     p50 ms  p99 ms  max ms  CPU s  peak RSS MiB")
for (const l of lines) {
  const lat = l.latency_ms || {}
  console.log(`${name(l).padEnd(14)} ${l.client.padEnd(16)} ${String(l.ok).padEnd(4)} ${String(l.count).padStart(10)} ${f(l.elapsed_s, 2).padStart(10)} ${f(l.throughput, 0).padStart(11)}  ${l.unit.padEnd(7)} ${f(lat.p50, 2).padStart(6)} ${f(lat.p99, 2).padStart(7)} ${f(lat.max, 2).padStart(7)} ${f(l.cpu_s, 2).padStart(6)} ${f(l.peak_rss_mib).padStart(13)}`)
}
// Per item: W1 a message, W2 a 1 KiB record, W3 a decoded message, W4/W5 a received message.
const items = (l) => (l.workload === "W2" ? l.count / 1024 : l.count)
console.log("\nKotlin binding vs core, per item (W2: per 1 KiB record); + means the binding costs more")
console.log("workload       CPU µs/item  wall µs/item  Δp50 ms  Δp99 ms  p50 within 1 ms")
for (const k of lines.filter((l) => l.client === "kotlin-binding")) {
  const c = lines.find((l) => l.client === "rust-core" && l.workload === k.workload &&
    (k.workload !== "W4" || l.variant === k.variant))
  if (!c) continue
  const n = items(k)
  const cpu = ((k.cpu_s - c.cpu_s) / n) * 1e6
  const live = k.workload === "W4" || k.workload === "W5"
  const wall = live ? null : ((k.elapsed_s - c.elapsed_s) / n) * 1e6
  const d50 = live ? k.latency_ms.p50 - c.latency_ms.p50 : null
  const d99 = live ? k.latency_ms.p99 - c.latency_ms.p99 : null
  const within = live ? (Math.abs(d50) <= 1 ? "yes" : "NO") : ""
  console.log(`${name(k).padEnd(14)} ${f(cpu, 2).padStart(11)} ${f(wall, 2).padStart(13)} ${f(d50, 2).padStart(8)} ${f(d99, 2).padStart(8)}  ${within}`)
}
console.log(`\nJSON lines (temporary): ${process.argv[2]}`)
JS
