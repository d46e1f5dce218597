#!/usr/bin/env bash
# CI for the Node binding: build (debug), type-check, pack, install the tarball into a
# fresh directory, then run the node:test suite and the conformance runner against the
# INSTALLED package (not this source tree). Then the release packages: scripts/release.sh
# node (napi build --release --strip, the main and linux-x64-gnu tarballs), installed with
# `npm install <tgz>` into an empty project, and a smoke test through them.
# DS_SKIP_RELEASE=1 skips the release part (it says so in its summary line).
#
#   bash bindings-node/ci.sh
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/ds-node-ci.XXXXXX")"
release_pid=""
# A release build still running when this script fails is stopped (it is its own session).
trap '[[ -n "$release_pid" ]] && kill -- "-$release_pid" 2>/dev/null; rm -rf "$work"' EXIT

step() { printf '\n==> %s\n' "$*"; }

cd "$here"
step "npm ci (bindings-node)"
npm ci --no-audit --no-fund

if [[ ! -d "$repo/tests/node_modules/@durable-streams/server" ]]; then
  step "npm ci (tests: reference server and conformance runner)"
  (cd "$repo/tests" && npm ci --no-audit --no-fund)
fi

step "napi build (debug)"
npx napi build --platform --output-dir native --js index.js --dts index.d.ts

step "type check: tsc --noEmit (test/types/usage.mts against lib/index.d.ts)"
npx tsc --noEmit -p tsconfig.json
echo "types: ok"

step "npm pack: the main package and the linux-x64-gnu platform package (scripts/release.sh node-pack)"
DIST="$work" bash "$repo/scripts/release.sh" node-pack
tarball="$(ls "$work"/node/durable-streams-sdk-[0-9]*.tgz) $(ls "$work"/node/durable-streams-sdk-linux-x64-gnu-*.tgz)"

if [[ -z "${DS_SKIP_RELEASE:-}" ]]; then
  # The release build takes minutes of CPU; it runs (niced by release.sh) while the suites
  # below, which mostly wait on the network, run. It rewrites native/, which was packed
  # above. Its output is shown when it is awaited.
  step "release packages (scripts/release.sh node) started in the background"
  release_start=$(date +%s)
  DIST="$work/release" RELEASE_SKIP_NPM_CI=1 setsid bash "$repo/scripts/release.sh" node > "$work/release.log" 2>&1 &
  release_pid=$!
fi

step "install the tarball into a fresh directory"
app="$work/app"
mkdir -p "$app"
cat > "$app/package.json" <<'JSON'
{ "name": "ds-node-ci-app", "version": "0.0.0", "private": true, "type": "module" }
JSON
# shellcheck disable=SC2086  # two tarballs; the other platforms' optional packages are skipped
(cd "$app" && npm install --no-audit --no-fund --no-package-lock $tarball)
cp -R "$here/test" "$app/test"
installed="$(cd "$app" && node -p "require('path').dirname(require.resolve('durable-streams-sdk/package.json'))")"
echo "installed package: $installed"
case "$installed" in
  "$app"/node_modules/*) ;;
  *) echo "error: durable-streams-sdk resolved outside the fresh directory" >&2; exit 1 ;;
esac

step "README quick start: compile against the installed types, run it twice against the reference server"
mkdir -p "$app/examples"
cp "$here/examples/quickstart.mts" "$app/examples/"
cat > "$app/tsconfig.json" <<JSON
{
  "compilerOptions": {
    "target": "ES2022", "module": "node16", "moduleResolution": "node16", "strict": true,
    "lib": ["ES2022"], "types": ["node"], "typeRoots": ["$here/node_modules/@types"],
    "outDir": "dist", "rootDir": "."
  },
  "files": ["examples/quickstart.mts"]
}
JSON
(cd "$app" && "$here/node_modules/.bin/tsc" -p tsconfig.json)
# The reference server stops when its stdin closes: feed it from fd 3, close fd 3 to stop it.
exec 3> >(DS_PORT=0 node "$repo/tests/server/ref-server.mjs" > "$work/ref-url.txt" 2> "$work/ref-server.log")
for _ in $(seq 100); do [[ -s "$work/ref-url.txt" ]] && break; sleep 0.1; done
# Twice in a row: the quick start must not depend on a fresh server.
for run in 1 2; do
  DS_URL="$(head -n 1 "$work/ref-url.txt")" node "$app/dist/examples/quickstart.mjs"
done
exec 3>&-

step "node:test suite against the installed package"
set +e
(cd "$app" && DS_REF_SERVER="$repo/tests/server/ref-server.mjs" \
  node --test --test-concurrency=2 --test-reporter=spec test/*.test.mjs) 2>&1 | tee "$work/node-test.log"
test_rc=${PIPESTATUS[0]}
set -e

step "conformance runner with tests/adapters/node over the installed package"
set +e
DURABLE_STREAMS_SDK_NODE="$installed" node "$repo/tests/runner/conformance.mjs" \
  --adapter "$repo/tests/adapters/node" 2>&1 | tee "$work/conformance.log" | grep -E '^(FAIL|conformance:)'
conf_rc=${PIPESTATUS[0]}
set -e

step "chaos run (tests/chaos/chaos_node.mjs: producer and live reader through the chaos proxy)"
set +e
DURABLE_STREAMS_SDK_NODE="$installed" node "$repo/tests/chaos/chaos_node.mjs" 2>&1 | tee "$work/chaos.log" | grep -v '^summary: ' # printed once, below
chaos_rc=${PIPESTATUS[0]}
set -e

release_what="release npm packages smoke (empty project)"
if [[ -n "${DS_SKIP_RELEASE:-}" ]]; then
  echo "summary: $release_what: 0 passed, 0 failed, 1 skipped (DS_SKIP_RELEASE is set)" > "$work/smoke.log"
  smoke_rc=0
else
  step "release packages (scripts/release.sh node): waiting for the background build"
  release_rc=0
  wait "$release_pid" || release_rc=$?
  release_pid=""
  cat "$work/release.log"
  echo "release build: $(( $(date +%s) - release_start )) s after its start (exit $release_rc)"
  [[ $release_rc -eq 0 ]] || { echo "scripts/release.sh node failed" >&2; exit 1; }
  step "npm install the two release tarballs into an empty project, smoke test against the reference server"
  rapp="$work/release-app"
  mkdir -p "$rapp"
  echo '{ "name": "ds-release-smoke", "version": "0.0.0", "private": true, "type": "module" }' > "$rapp/package.json"
  (cd "$rapp" && npm install --no-audit --no-fund --no-package-lock \
    "$work"/release/node/durable-streams-sdk-[0-9]*.tgz "$work"/release/node/durable-streams-sdk-linux-x64-gnu-*.tgz)
  cp "$here/release/smoke.mjs" "$rapp/"
  set +e
  (cd "$rapp" && node smoke.mjs "$repo/tests/server/ref-server.mjs") 2>&1 | tee "$work/smoke.log" | grep -v '^summary: '
  smoke_rc=${PIPESTATUS[0]}
  set -e
  echo "release build + smoke: $(( $(date +%s) - release_start )) s after the build's start"
fi

step "summary (bindings-node)"
tests_line="$(grep -E '^ℹ (tests|pass|fail) ' "$work/node-test.log" | tr '\n' ' ')"
conf_line="$(grep -E '^conformance:' "$work/conformance.log" | tail -n 1)"
echo "node:test   : ${tests_line:-no summary} (exit $test_rc)"
echo "conformance : ${conf_line:-no summary} (exit $conf_rc)"
grep -E '^summary: chaos' "$work/chaos.log" || echo "summary: chaos (node): 0 passed, 1 failed, 0 skipped (no result, exit $chaos_rc)"
grep -E '^summary: ' "$work/smoke.log" || echo "summary: $release_what: 0 passed, 1 failed, 0 skipped (no result, exit $smoke_rc)"
if [[ $test_rc -ne 0 || $conf_rc -ne 0 || $chaos_rc -ne 0 || $smoke_rc -ne 0 ]] || ! grep -qE '^conformance: [0-9]+ passed, 0 failed' "$work/conformance.log"; then
  echo "bindings-node: FAILED"
  exit 1
fi
pass="$(grep -oE '^ℹ pass [0-9]+' "$work/node-test.log" | grep -oE '[0-9]+' | tail -n 1)"
fail="$(grep -oE '^ℹ fail [0-9]+' "$work/node-test.log" | grep -oE '[0-9]+' | tail -n 1)"
skip="$(grep -oE '^ℹ skipped [0-9]+' "$work/node-test.log" | grep -oE '[0-9]+' | tail -n 1)"
echo "summary: node:test (installed package): ${pass:-0} passed, ${fail:-0} failed, ${skip:-0} skipped"
echo "summary: ${conf_line/#conformance:/conformance, Node adapter:}"
echo "bindings-node: OK"
