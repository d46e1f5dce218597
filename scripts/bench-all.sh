#!/usr/bin/env bash
# W1-W5 through all six clients -- the core (ds-bench), the Python binding, the pure-Python
# client (PyPI durable-streams), the Node binding, the TS client (@durable-streams/client)
# and the upstream Rust client -- against the same server instance per workload, in one
# run; one side-by-side table per server (bench/README.md, "All clients in one run").
#
#   [DS_UPSTREAM_RUST_CLIENT=<checkout>/packages/client-rust] \
#     nice -n 10 bash scripts/bench-all.sh [--server node|rust|both] [--quick] [--runs N]
#         [--clients core,python,pypi,node,ts,upstream] [--workloads w1,w2,w3,w4,w5]
#         [--py-api default|sync|async|both] [--out FILE] [--w1-messages 100k] [--reads 2] ...
#
# Size flags: `--wN-FLAG V` goes to workload N only (e.g. --w1-messages 100k, --w4-messages 500),
# the flags that mean the same in every workload (--msg-size, --reads, --bytes, ...) to all.
# Builds what it needs first (release builds; tests and CI keep their debug builds): ds-bench,
# a release wheel of the Python binding in its own venv (DS_BENCHALL_VENV, default
# /tmp/ds-benchall-venv, with the pure-Python client at the version bindings-python/bench/run.sh
# pins), the Node binding's release build and the TS client (as bindings-node/bench/run.sh
# does), and the upstream Rust peer when DS_UPSTREAM_RUST_CLIENT is set. JSON result lines go
# to /tmp/ds-bench-all-<date>.jsonl (--out FILE; `python3 scripts/bench-all.py --table FILE` prints
# the tables again); nothing is committed.
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$PWD"

servers=both
pass=()
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  case "${args[i]}" in
    --server) servers="${args[i + 1]}"; pass+=("--server" "${args[i + 1]}"); i=$((i + 1)) ;;
    *) pass+=("${args[i]}") ;;
  esac
done
step() { printf '\n==> %s\n' "$*" >&2; }

command -v node >/dev/null || { echo "bench-all: Node.js >= 20 is required" >&2; exit 1; }
[[ -d tests/node_modules/@durable-streams/server ]] || npm ci --prefix tests --no-audit --no-fund --loglevel=error >&2
if [[ "$servers" != node ]] && ! command -v durable-streams-server >/dev/null && [[ ! -x "$HOME/.cargo/bin/durable-streams-server" ]]; then
  cargo install durable-streams --version 0.1.5 --locked
fi

step "ds-bench (release): the core's workloads and the server, pre-fill and writer helpers"
cargo build --release --quiet -p ds-bench
export DS_BENCH="$repo/target/release/ds-bench"

step "Python: release wheel of the binding and the pure-Python client"
venv="${DS_BENCHALL_VENV:-/tmp/ds-benchall-venv}"
wheels="$venv-wheels"
# The pins of bindings-python/bench/run.sh, so both commands measure the same clients.
eval "$(grep -E '^(MATURIN|REFERENCE|HTTPX)_VERSION=[0-9.]+' bindings-python/bench/run.sh | sed 's/ *#.*//')"
[[ -x "$venv/bin/python" ]] || "${PYTHON:-python3}" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
  "maturin==$MATURIN_VERSION" "durable-streams==$REFERENCE_VERSION" "httpx==$HTTPX_VERSION"
rm -f "$wheels"/durable_streams_sdk-*.whl
(cd bindings-python && "$venv/bin/maturin" build --quiet --release --locked --interpreter "$venv/bin/python" --out "$wheels")
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --force-reinstall --no-deps "$wheels"/durable_streams_sdk-*.whl
export DS_BENCHALL_PYTHON="$venv/bin/python" DS_SDK_BUILD=release

step "Node: release build of the binding (bindings-node/bench/.build/pkg) and the TS client"
[[ -d bindings-node/bench/node_modules/@durable-streams/client ]] || (cd bindings-node/bench && npm ci --no-audit --no-fund --loglevel=error >&2)
[[ -d bindings-node/node_modules/@napi-rs/cli ]] || (cd bindings-node && npm ci --no-audit --no-fund --loglevel=error >&2)
mkdir -p bindings-node/bench/.build/pkg
(cd bindings-node && npx napi build --release --platform --output-dir bench/.build/pkg/native --js index.js --dts index.d.ts >/dev/null)
rm -rf bindings-node/bench/.build/pkg/lib
cp -R bindings-node/lib bindings-node/bench/.build/pkg/lib
cp bindings-node/package.json bindings-node/bench/.build/pkg/package.json

step "upstream Rust client"
if [[ -n "${DS_UPSTREAM_RUST_CLIENT:-}" ]]; then
  eval "$(bash scripts/bench-peer-rust.sh --build-only)"  # DS_PEER_RUST_BENCH=<binary>
  export DS_PEER_RUST_BENCH
else
  export DS_PEER_RUST_SKIP="skipped: DS_UPSTREAM_RUST_CLIENT is not set (the upstream Rust client is not on crates.io; point it at a checkout's packages/client-rust)"
  echo "bench-all: rust-upstream $DS_PEER_RUST_SKIP" >&2
fi

step "W1-W5, every client (load: $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%H:%M:%S) UTC)"
exec python3 scripts/bench-all.py "${pass[@]}"
