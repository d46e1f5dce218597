#!/usr/bin/env bash
# Installs the benchmark's prerequisites and runs every workload (W1-W5).
#
#   bash scripts/bench.sh [--quick] [--server node|rust|both] [ds-bench options...]
#
#   --quick         reduced sizes (under a minute; the defaults take ~1.5 min per server)
#   --server both   run against the reference Node server, then the Rust server
#   other options   passed to `ds-bench all` (see `cargo run -p ds-bench -- help`)
#
# Prerequisites it installs when missing: the reference server (npm ci --prefix tests),
# wrk (apt-get, for the server ceiling; skipped without it), and for --server rust the
# `durable-streams-server` binary (cargo install durable-streams 0.1.5, ~1 min).
# JSON result lines are appended to bench/results.jsonl (override with --out FILE).
set -euo pipefail
cd "$(dirname "$0")/.."

servers=(node)
args=()
out=bench/results.jsonl
while [ $# -gt 0 ]; do
  case "$1" in
    --server) case "$2" in both) servers=(node rust) ;; *) servers=("$2") ;; esac; shift 2 ;;
    --server=*) v="${1#--server=}"; case "$v" in both) servers=(node rust) ;; *) servers=("$v") ;; esac; shift ;;
    --out) out="$2"; shift 2 ;;
    *) args+=("$1"); shift ;;
  esac
done

command -v node >/dev/null || { echo "bench: Node.js >= 20 is required" >&2; exit 1; }
if [ ! -d tests/node_modules/@durable-streams/server ]; then
  npm ci --prefix tests --no-audit --no-fund --loglevel=error
fi

if ! command -v wrk >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    (apt-get update -qq && apt-get install -y -qq wrk) >/dev/null || echo "bench: could not install wrk; no server ceiling" >&2
  elif command -v sudo >/dev/null && command -v apt-get >/dev/null; then
    (sudo apt-get update -qq && sudo apt-get install -y -qq wrk) >/dev/null || echo "bench: could not install wrk; no server ceiling" >&2
  else
    echo "bench: wrk not found (install it for the server ceiling figures)" >&2
  fi
fi

for s in "${servers[@]}"; do
  if [ "$s" = rust ] && ! command -v durable-streams-server >/dev/null && [ ! -x "$HOME/.cargo/bin/durable-streams-server" ]; then
    cargo install durable-streams --version 0.1.5 --locked
  fi
done

cargo build --release -p ds-bench
for s in "${servers[@]}"; do
  echo "##### server: $s #####"
  ./target/release/ds-bench all --server "$s" --out "$out" "${args[@]}"
done
echo "JSON lines appended to $out"
