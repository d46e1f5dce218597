#!/usr/bin/env bash
# W1 through the core and through the upstream Rust client's producer, same server,
# alternating runs, median and spread (bench/README.md, "The upstream Rust client").
#
#   DS_UPSTREAM_RUST_CLIENT=<checkout>/packages/client-rust \
#     bash scripts/bench-peer-rust.sh [--server node|rust|both] [--runs 3] [--messages 100k]
#   DS_UPSTREAM_RUST_CLIENT=... bash scripts/bench-peer-rust.sh --build-only
#       builds the harness and prints DS_PEER_RUST_BENCH=<binary> (used by scripts/bench-all.sh)
#
# The upstream client is not published on crates.io, so its source must be given; its
# src/{error,iterator,producer,stream,types}.rs are copied, unchanged, into a build of
# bench/peer-rust (target/peer-rust, never committed).
set -euo pipefail
cd "$(dirname "$0")/.."
src="${DS_UPSTREAM_RUST_CLIENT:?set DS_UPSTREAM_RUST_CLIENT to the upstream packages/client-rust directory}"
upstream=(error iterator producer stream types)
for f in "${upstream[@]}"; do
  [[ -f "$src/src/$f.rs" ]] || { echo "bench-peer-rust: no src/$f.rs in $src" >&2; exit 1; }
done

servers=(node)
args=()
build_only=false
while [ $# -gt 0 ]; do
  case "$1" in
    --server) case "$2" in both) servers=(node rust) ;; *) servers=("$2") ;; esac; shift 2 ;;
    --build-only) build_only=true; shift ;;
    *) args+=("$1"); shift ;;
  esac
done

build=target/peer-rust
mkdir -p "$build/src/bin"
cp bench/peer-rust/Cargo.toml "$build/Cargo.toml"
cp bench/peer-rust/src/*.rs "$build/src/"
cp bench/peer-rust/src/bin/*.rs "$build/src/bin/"
for f in "${upstream[@]}"; do cp "$src/src/$f.rs" "$build/src/$f.rs"; done
cargo build --release --quiet --manifest-path "$build/Cargo.toml" >&2
if $build_only; then
  echo "DS_PEER_RUST_BENCH=$PWD/$build/target/release/bench-upstream-rust"
  exit 0
fi

if [ ! -d tests/node_modules/@durable-streams/server ]; then
  npm ci --prefix tests --no-audit --no-fund --loglevel=error
fi
for s in "${servers[@]}"; do
  if [ "$s" = rust ] && ! command -v durable-streams-server >/dev/null && [ ! -x "$HOME/.cargo/bin/durable-streams-server" ]; then
    cargo install durable-streams --version 0.1.5 --locked
  fi
done
cargo build --release --quiet -p ds-bench
for s in "${servers[@]}"; do
  ./target/release/ds-bench w1-compare --server "$s" --peer-cmd "$build/target/release/bench-upstream-rust" "${args[@]}"
done
