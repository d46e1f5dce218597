#!/usr/bin/env bash
# CI for the Python binding: build the abi3 wheel with maturin (debug profile), install
# it into a fresh virtualenv, run the pytest suite against the *installed* wheel (from a
# directory where the source package is not importable), then run the conformance suite
# through the Python adapter (tests/adapters/python) on that same install, then build
# the release artifacts (scripts/release.sh python: sdist, manylinux2014 wheel checked by
# auditwheel) and smoke-test the release wheel in a virtualenv holding nothing else.
# DS_SKIP_RELEASE=1 skips the release part (it says so in its summary line).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
py="${PYTHON:-python3}"
target="${CARGO_TARGET_DIR:-$root/target}"
venv="$target/python-ci-venv"
wheels="$target/wheels"

step() { printf '\n---- python binding: %s ----\n' "$*"; }
workdir="$(mktemp -d)"
release_pid=""
# A release build still running when this script fails is stopped (it is its own session).
trap '[ -n "$release_pid" ] && kill -- "-$release_pid" 2>/dev/null; rm -rf "$workdir"' EXIT

step "fresh virtualenv ($("$py" --version))"
rm -rf "$venv"
"$py" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check maturin==1.16.0 pytest mypy

step "maturin build (debug, abi3)"
rm -f "$wheels"/durable_streams_sdk-*.whl
(cd bindings-python && "$venv/bin/maturin" build --locked --interpreter "$venv/bin/python" --out "$wheels")
wheel="$(ls "$wheels"/durable_streams_sdk-*.whl)"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$wheel"
echo "installed $(basename "$wheel")"

release_log="$workdir/release.log"
if [ -z "${DS_SKIP_RELEASE:-}" ]; then
  # The release build takes minutes of CPU; it runs (niced by release.sh) while the suites
  # below, which mostly wait on the network, run. Its output is shown when it is awaited.
  step "release artifacts (scripts/release.sh python) started in the background"
  release_start=$(date +%s)
  DIST="$workdir/dist" setsid bash scripts/release.sh python > "$release_log" 2>&1 &
  release_pid=$!
fi

if [ ! -d tests/node_modules/@durable-streams/server ]; then
  step "reference server (npm ci in tests/)"
  npm ci --prefix tests --no-audit --no-fund
fi

step "pytest against the installed wheel"
pytest_log="$workdir/pytest.log"
(cd "$workdir" && DS_REPO="$root" "$venv/bin/python" -m pytest -p no:cacheprovider -q "$root/bindings-python/tests") \
  | tee "$pytest_log"
pytest_summary="$(grep -E '^[0-9]+ (passed|failed)' "$pytest_log" | tail -1)"

step "conformance through tests/adapters/python"
conf_log="$workdir/conformance.log"
DS_PYTHON="$venv/bin/python" node tests/runner/conformance.mjs --adapter tests/adapters/python | tee "$conf_log"
conf_summary="$(grep -E 'passed, [0-9]+ failed' "$conf_log" | tail -1)"

step "chaos run (tests/chaos/chaos_python.py: producer and live reader through the chaos proxy)"
chaos_log="$workdir/chaos.log"
set +e
"$venv/bin/python" tests/chaos/chaos_python.py 2>&1 | tee "$chaos_log" | grep -v '^summary: ' # printed once, below
chaos_rc=${PIPESTATUS[0]}
set -e

release_what="release wheel smoke (fresh venv)"
smoke_log="$workdir/smoke.log"
if [ -n "${DS_SKIP_RELEASE:-}" ]; then
  echo "summary: $release_what: 0 passed, 0 failed, 1 skipped (DS_SKIP_RELEASE is set)" > "$smoke_log"
  smoke_rc=0
else
  step "release artifacts (scripts/release.sh python): waiting for the background build"
  release_rc=0
  wait "$release_pid" || release_rc=$?
  release_pid=""
  cat "$release_log"
  echo "release build: $(( $(date +%s) - release_start )) s after its start (exit $release_rc)"
  [ "$release_rc" -eq 0 ] || { echo "scripts/release.sh python failed" >&2; exit 1; }
  step "release wheel in a fresh virtualenv (nothing else installed), smoke test against the reference server"
  "$py" -m venv "$workdir/release-venv"
  # --no-index: the wheel needs nothing from PyPI.
  "$workdir/release-venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-index "$workdir"/dist/python/*.whl
  set +e
  (cd "$workdir" && "$workdir/release-venv/bin/python" "$root/bindings-python/release/smoke.py" "$root/tests/server/ref-server.mjs") \
    2>&1 | tee "$smoke_log" | grep -v '^summary: '
  smoke_rc=${PIPESTATUS[0]}
  set -e
  echo "release build + smoke: $(( $(date +%s) - release_start )) s after the build's start"
fi

step "summary"
echo "summary: pytest (installed wheel): $pytest_summary"
echo "summary: ${conf_summary/#conformance:/conformance, Python adapter:}"
grep -E '^summary: chaos' "$chaos_log" || echo "summary: chaos (python): 0 passed, 1 failed, 0 skipped (no result, exit $chaos_rc)"
grep -E '^summary: ' "$smoke_log" || echo "summary: $release_what: 0 passed, 1 failed, 0 skipped (no result, exit $smoke_rc)"
[ "$chaos_rc" -eq 0 ] && [ "$smoke_rc" -eq 0 ]
