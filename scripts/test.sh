#!/usr/bin/env bash
# Runs every test of the project: the core's unit, property and integration tests, the
# conformance suite through every language adapter, and each binding's own suite
# against its installed package. Each section prints its own summary; the last lines
# add them up. Stops at the first failing section.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
logs="$(mktemp -d)"
summary=()

section() { printf '\n==== %s ====\n' "$*"; }

# run NAME COMMAND...: run a section, keep its output for the summary.
run() {
  local name="$1"; shift
  section "$name"
  "$@" 2>&1 | tee "$logs/$name.log"
  return "${PIPESTATUS[0]}"
}

count() { # sum of the numbers before WORD ($3) in the lines of log $1 matching $2
  { grep -E "$2" "$logs/$1.log" || true; } | { grep -oE "[0-9]+ $3" || true; } | awk '{s+=$1} END {print s+0}'
}

section "reference server (npm @durable-streams/server 0.3.7)"
if [ ! -d tests/node_modules/@durable-streams/server ]; then
  npm ci --prefix tests --no-audit --no-fund
fi

run build cargo build --locked -p durable-streams-sdk -p ds-rust-adapter -p ds-demo

run rust-release bash scripts/release.sh rust-check
while IFS= read -r line; do summary+=("${line#summary: }"); done < <(grep -E '^summary: ' "$logs/rust-release.log" || true)

run core cargo test --locked -p durable-streams-sdk -p ds-bench
summary+=("core (cargo test): $(count core '^test result' passed) passed, $(count core '^test result' failed) failed, $(count core '^test result' ignored) skipped")
while IFS= read -r line; do summary+=("core: ${line#summary: }"); done < <(grep -E '^summary: chaos' "$logs/core.log" || true)

run runner-self-test node --test --test-reporter=spec tests/runner/
summary+=("runner self-test (node:test): $( (grep -E '^(ℹ|#) (pass|fail) ' "$logs/runner-self-test.log" || true) | tr -d 'ℹ#' | xargs)")

run conformance-rust node tests/runner/conformance.mjs --adapter tests/adapters/rust
summary+=("conformance, Rust adapter: $(tail -n 1 "$logs/conformance-rust.log" | sed 's/^conformance: //')")

# Every binding with a ci.sh is a section of its own; each prints its runners' results as
# lines "summary: WHAT: N passed, N failed[, N skipped]", which are collected as they are.
for ci in bindings-*/ci.sh; do
  name="$(basename "$(dirname "$ci")")"
  run "$name" bash "$ci"
  while IFS= read -r line; do summary+=("$name: ${line#summary: }"); done \
    < <(grep -E '^summary: ' "$logs/$name.log" || true)
  if ! grep -qE '^summary: ' "$logs/$name.log"; then
    echo "$name printed no summary line" >&2; exit 1
  fi
done

section "summary"
printf '%s\n' "${summary[@]}"
passed=0 failed=0 skipped=0
for line in "${summary[@]}"; do
  p=$(grep -oE '[0-9]+ passed' <<<"$line" | grep -oE '[0-9]+' || true)
  [ -z "$p" ] && p=$(grep -oE 'pass [0-9]+' <<<"$line" | grep -oE '[0-9]+' || true)
  f=$(grep -oE '[0-9]+ failed' <<<"$line" | grep -oE '[0-9]+' || true)
  [ -z "$f" ] && f=$(grep -oE 'fail [0-9]+' <<<"$line" | grep -oE '[0-9]+' || true)
  s=$(grep -oE '[0-9]+ skipped' <<<"$line" | grep -oE '[0-9]+' || true)
  passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0})); skipped=$((skipped + ${s:-0}))
done
echo "all: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
