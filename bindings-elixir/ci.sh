#!/usr/bin/env bash
# CI for the Elixir binding: install Elixir/OTP from Debian if missing, build the NIF
# with cargo (debug, the workspace target dir) through the Mix project's compiler step,
# run ExUnit against the real reference server, then the conformance suite through
# tests/adapters/elixir (the prebuilt Mix project; nothing compiled at run time), then the
# chaos run (chaos/chaos.exs: Writer and live reader through tests/chaos/proxy.mjs).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}"
export MIX_ENV=test

step() { printf '\n---- elixir binding: %s ----\n' "$*"; }

if ! command -v mix >/dev/null 2>&1; then
  step "toolchain (apt: elixir erlang-dev)"
  sudo_cmd=""; [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq elixir erlang-dev >/dev/null
fi
echo "$(elixir --version | tail -1), OTP $(erl -noshell -eval 'io:format("~s",[erlang:system_info(otp_release)]),halt().')"

if [ ! -d tests/node_modules/@durable-streams/server ]; then
  step "reference server (npm ci in tests/)"
  npm ci --prefix tests --no-audit --no-fund
fi

step "build (cargo NIF + mix compile)"
(cd bindings-elixir && mix compile)

workdir="$(mktemp -d)"
trap 'rm -rf "$workdir"' EXIT

step "ExUnit against the reference server"
set +e
(cd bindings-elixir && mix test 2>&1) | tee "$workdir/exunit.log"
exunit_rc=${PIPESTATUS[0]}
set -e
line="$(grep -E '^[0-9]+ tests?, [0-9]+ failures?' "$workdir/exunit.log" | tail -1)"
tests="$(sed -E 's/^([0-9]+) tests?.*/\1/' <<<"$line")"
failed="$(sed -E 's/.* ([0-9]+) failures?.*/\1/' <<<"$line")"
skipped="$( { grep -oE "[0-9]+ (skipped|excluded)" <<<"$line" || true; } | awk '{s+=$1} END {print s+0}')"
tests="${tests:-0}"; failed="${failed:-1}"

conf_line=""
if [ -x tests/adapters/elixir ] && [ "${DS_ELIXIR_SKIP_CONFORMANCE:-0}" != 1 ]; then
  step "conformance through tests/adapters/elixir"
  node tests/runner/conformance.mjs --adapter tests/adapters/elixir | tee "$workdir/conformance.log"
  conf_line="$(grep -E 'passed, [0-9]+ failed' "$workdir/conformance.log" | tail -1)"
fi

chaos_line=""
chaos_rc=0
if [ "${DS_ELIXIR_SKIP_CHAOS:-0}" != 1 ]; then
  step "chaos: producer and live reader through tests/chaos/proxy.mjs"
  set +e
  (cd bindings-elixir && mix run chaos/chaos.exs 2>&1) | tee "$workdir/chaos.log" | grep -v '^summary: ' # printed once, below
  chaos_rc=${PIPESTATUS[0]}
  set -e
  chaos_line="$(grep -E '^summary: chaos \(elixir\)' "$workdir/chaos.log" | tail -1)"
  [ -n "$chaos_line" ] || chaos_line="summary: chaos (elixir): 0 passed, 1 failed, 0 skipped — no summary (exit $chaos_rc)"
fi

step "summary"
echo "summary: ExUnit: $((tests - failed - skipped)) passed, $failed failed, $skipped skipped"
if [ -n "$conf_line" ]; then
  echo "summary: ${conf_line/#conformance:/conformance, Elixir adapter:}"
fi
[ -n "$chaos_line" ] && echo "$chaos_line"
[ "$chaos_rc" -eq 0 ] || exit 1
[ "$exunit_rc" -eq 0 ] && [ "$failed" -eq 0 ] || exit 1
if [ -n "$conf_line" ] && ! grep -qE ' 0 failed' <<<"$conf_line"; then exit 1; fi
