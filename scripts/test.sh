#!/usr/bin/env bash
# Runs every test of the project: the core's unit and integration tests, the
# conformance suite through every language adapter, and each binding's own suite.
# Each section prints its own summary; the script stops at the first failure.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

section() { printf '\n==== %s ====\n' "$*"; }

section "reference server (npm @durable-streams/server 0.3.7)"
if [ ! -d tests/node_modules/@durable-streams/server ]; then
  npm ci --prefix tests --no-audit --no-fund
fi

section "build (debug, one target dir)"
cargo build --locked -p durable-streams-sdk -p ds-rust-adapter

section "core: unit, property and integration tests"
cargo test --locked -p durable-streams-sdk

section "conformance runner self-test"
node --test tests/runner/

section "conformance: Rust adapter"
node tests/runner/conformance.mjs --adapter tests/adapters/rust

for binding in node python; do
  if [ -x "bindings-$binding/ci.sh" ]; then
    section "binding: $binding"
    "bindings-$binding/ci.sh"
  fi
done
