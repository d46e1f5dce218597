#!/usr/bin/env bash
# The README's first command: starts a local reference server, creates a JSON stream,
# runs a producer and a live consumer through the Rust core, prints what happened.
# Needs: Rust (cargo) and Node.js >= 20. Nothing else to set up.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v node >/dev/null || { echo "demo: Node.js >= 20 is required (for the local reference server)" >&2; exit 1; }
command -v cargo >/dev/null || { echo "demo: Rust (cargo) is required" >&2; exit 1; }

# The reference server's package, once.
if [ ! -d tests/node_modules/@durable-streams/server ]; then
  echo "demo: installing the reference server (npm ci --prefix tests)..." >&2
  npm ci --prefix tests --no-audit --no-fund --loglevel=error >&2
fi

echo "demo: building (first run compiles the core, about a minute)..." >&2
cargo build --quiet -p ds-demo
exec cargo run --quiet -p ds-demo
