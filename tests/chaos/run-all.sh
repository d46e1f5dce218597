#!/usr/bin/env bash
# Every language's chaos run, one after the other, at DS_CHAOS_MESSAGES messages (default
# 100,000). Uses the binding installs the ci.sh scripts leave behind: the Python venv in
# $CARGO_TARGET_DIR/python-ci-venv the Node package built in bindings-node/, the
# Elixir Mix project compiled (MIX_ENV=test) by bindings-elixir/ci.sh and the Kotlin
# adapter jar (with the debug cdylib) built by bindings-uniffi/ci.sh.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
export DS_CHAOS_MESSAGES="${DS_CHAOS_MESSAGES:-100000}"
target="${CARGO_TARGET_DIR:-$root/target}"
rc=0
cargo test --locked -p durable-streams-sdk --test chaos 2>&1 | grep -E '^summary: |test result|panicked' || rc=1
"$target/python-ci-venv/bin/python" tests/chaos/chaos_python.py || rc=1
node tests/chaos/chaos_node.mjs || rc=1
(cd bindings-elixir && MIX_ENV=test mix run chaos/chaos.exs) || rc=1
bash bindings-uniffi/chaos.sh || rc=1
exit $rc
