#!/usr/bin/env bash
# W1–W5 (bench/README.md) through the Python binding and through the pure-Python reference
# client (PyPI durable-streams), plus the Rust core (ds-bench) on W4/W5, side by side.
#
#   bash bindings-python/bench/run.sh [--quick] [bench.py options, e.g. --workload w4 --rust all]
#
# Builds what it needs:
#   - a virtualenv in /tmp (DS_PYBENCH_VENV, default /tmp/ds-pybench-venv) with maturin and the
#     reference client, pinned below;
#   - a RELEASE wheel of the binding (maturin build --release, wheel into /tmp/ds-pybench-wheels;
#     the tests and CI keep using debug builds), installed into that venv;
#   - ds-bench (cargo build --release): its server, pre-fill and writer helpers;
#   - the reference server (npm ci in tests/) when missing.
# JSON result lines go to /tmp/ds-pybench-<date>.jsonl (override: --out FILE); nothing is
# committed. --runs N repeats the whole run N times and ends with the median and spread
# (min–max) of every figure (bench.py median).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
pkg="$(cd "$here/.." && pwd)"
repo="$(cd "$pkg/.." && pwd)"
venv="${DS_PYBENCH_VENV:-/tmp/ds-pybench-venv}"
wheels="${DS_PYBENCH_WHEELS:-/tmp/ds-pybench-wheels}"
py="${PYTHON:-python3}"

MATURIN_VERSION=1.16.0
REFERENCE_VERSION=0.1.0   # PyPI durable-streams, the upstream pure-Python client
HTTPX_VERSION=0.28.1      # its HTTP stack, pinned for comparable runs

out=""
runs=1
pass=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --runs) runs="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --out=*) out="${1#--out=}"; shift ;;
    *) pass+=("$1"); shift ;;
  esac
done
out="${out:-/tmp/ds-pybench-$(date -u +%Y%m%dT%H%M%SZ).jsonl}"

step() { printf '\n==> %s\n' "$*" >&2; }

step "virtualenv $venv"
[[ -x "$venv/bin/python" ]] || "$py" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
  "maturin==$MATURIN_VERSION" "durable-streams==$REFERENCE_VERSION" "httpx==$HTTPX_VERSION"

[[ -d "$repo/tests/node_modules/@durable-streams/server" ]] || (cd "$repo/tests" && npm ci --no-audit --no-fund)

step "ds-bench (release): server, pre-fill and writer helpers"
(cd "$repo" && cargo build --release -p ds-bench)

step "binding, release wheel → $wheels"
rm -f "$wheels"/durable_streams_sdk-*.whl
(cd "$pkg" && "$venv/bin/maturin" build --release --locked --interpreter "$venv/bin/python" --out "$wheels")
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --force-reinstall --no-deps \
  "$wheels"/durable_streams_sdk-*.whl

step "W1–W5 → $out"
cd /tmp  # import the installed wheel, never the source tree
for ((i = 1; i <= runs; i++)); do
  [[ $runs -gt 1 ]] && step "run $i of $runs"
  DS_SDK_BUILD=release "$venv/bin/python" "$here/bench.py" --workload all --api both --out "$out" ${pass[@]+"${pass[@]}"}
done
if [[ $runs -gt 1 ]]; then
  step "median of $runs runs (spread: min–max); uname: $(uname -srm), $(nproc) cpus, load: $(cut -d' ' -f1-3 /proc/loadavg)"
  "$venv/bin/python" "$here/bench.py" median "$out"
fi
