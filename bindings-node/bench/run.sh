#!/usr/bin/env bash
# W1–W5 (bench/README.md) through the Node binding and through the TypeScript reference
# client @durable-streams/client, plus the Rust core (ds-bench) for reference, side by side.
#
#   bash bindings-node/bench/run.sh [--quick] [--rust off] [--runs 3] [--servers "node rust"] [size flags, e.g. --messages 100k]
#
# Every workload runs against both servers (the reference npm server and crates.io
# durable-streams-server), three runs each; the table shows the median run and the spread.
#
# Builds what it needs: the reference client (npm ci here), the reference server (npm ci in
# tests/), ds-bench (cargo build --release: its server, pre-fill and writer helpers) and a
# RELEASE build of the binding assembled in bench/.build/pkg (the tests keep using the debug
# build in native/). JSON result lines go to bench/results/<date>.jsonl (override: --out FILE).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
pkg="$(cd "$here/.." && pwd)"
repo="$(cd "$pkg/.." && pwd)"

out=""
servers="node rust"
pass=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --servers) servers="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --out=*) out="${1#--out=}"; shift ;;
    *) pass+=("$1"); shift ;;
  esac
done
mkdir -p "$here/results"
out="${out:-$here/results/$(date -u +%Y%m%dT%H%M%SZ).jsonl}"

step() { printf '\n==> %s\n' "$*" >&2; }

[[ -d "$here/node_modules/@durable-streams/client" ]] || (cd "$here" && npm ci --no-audit --no-fund)
[[ -d "$pkg/node_modules/@napi-rs/cli" ]] || (cd "$pkg" && npm ci --no-audit --no-fund)
[[ -d "$repo/tests/node_modules/@durable-streams/server" ]] || (cd "$repo/tests" && npm ci --no-audit --no-fund)

if [[ -z "${DS_BENCH:-}" ]]; then
  step "ds-bench (release): server, pre-fill and writer helpers"
  (cd "$repo" && cargo build --release -p ds-bench)
fi

step "binding, release build → bench/.build/pkg"
mkdir -p "$here/.build/pkg"
(cd "$pkg" && npx napi build --release --platform --output-dir bench/.build/pkg/native --js index.js --dts index.d.ts)
rm -rf "$here/.build/pkg/lib"
cp -R "$pkg/lib" "$here/.build/pkg/lib"
cp "$pkg/package.json" "$here/.build/pkg/package.json"

for server in $servers; do
  step "W1–W5, server: $server → $out"
  node "$here/bench.mjs" --workload all --server "$server" --out "$out" ${pass[@]+"${pass[@]}"}
done
step "all runs: node $here/bench.mjs table $out"
node "$here/bench.mjs" table "$out"
