#!/usr/bin/env bash
# Release artifacts, one registry per command (nothing is published):
#
#   bash scripts/release.sh python   # dist/python: sdist + abi3 wheel (release, stripped, manylinux2014 via zig)
#   bash scripts/release.sh node     # dist/node: main package + this platform's package (linux-x64-gnu), npm tarballs
#   bash scripts/release.sh rust     # cargo package + cargo publish --dry-run + cargo doc (-D warnings) of the core
#   bash scripts/release.sh check    # versions agree everywhere (scripts/check-versions.py)
#   bash scripts/release.sh rust-check  # the cheap part of `rust` for CI: cargo doc -D warnings, cargo package --no-verify
#   bash scripts/release.sh node-pack  # only the npm tarballs, from the binary already in bindings-node/native
#
# Builds only for this machine (Linux x86_64). The other targets are built by
# .github/workflows/release.yml, which has never been run (see README "Releases").
# DIST (default: <repo>/dist) is where artifacts go; CARGO_TARGET_DIR is honoured.
# RELEASE_SKIP_NPM_CI=1: `node` uses the bindings-node/node_modules already installed
# (bindings-node/ci.sh, whose later steps still use them while this builds).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
dist="${DIST:-$root/dist}"
target="${CARGO_TARGET_DIR:-$root/target}"
py="${PYTHON:-python3}"
# Release builds are heavy; on a shared machine they should not starve the rest.
nice="nice -n ${RELEASE_NICE:-10}"

step() { printf '\n---- release %s: %s ----\n' "$kind" "$*"; }

# A shared library that still has its symbol table was not stripped (e.g. a profile's
# strip=debuginfo overriding the linker's -s).
assert_stripped() {
  if readelf -S "$1" | grep -q '\.symtab'; then
    echo "$1 is not stripped (it has a .symtab)" >&2; exit 1
  fi
  echo "stripped: $(basename "$1") ($(wc -c < "$1") bytes)"
}

python_release() {
  local venv="$target/release-venv" out="$dist/python"
  step "build tools (maturin 1.16.0, ziglang, auditwheel) in $venv"
  [ -x "$venv/bin/python" ] || "$py" -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check maturin==1.16.0 ziglang auditwheel
  # maturin --zig runs `python -m ziglang`; the zig binary on PATH is what cargo-zigbuild finds.
  local zig_dir
  zig_dir="$("$venv/bin/python" -c 'import os, ziglang; print(os.path.dirname(ziglang.__file__))')"
  export PATH="$venv/bin:$zig_dir:$PATH"
  rm -rf "$out" && mkdir -p "$out"

  step "sdist"
  (cd bindings-python && maturin sdist --out "$out")

  step "abi3 wheel: --release --strip --zig --compatibility manylinux2014"
  (cd bindings-python && $nice maturin build --locked --release --strip --zig --compatibility manylinux2014 \
    --interpreter "$venv/bin/python" --out "$out")
  local wheel
  wheel="$(ls "$out"/durable_streams_sdk-*.whl)"
  ls -l "$out"
  local so_dir
  so_dir="$(mktemp -d)"
  "$venv/bin/python" -m zipfile -e "$wheel" "$so_dir"
  assert_stripped "$(ls "$so_dir"/durable_streams_sdk/_native*.so)"
  rm -rf "$so_dir"

  step "auditwheel show"
  auditwheel show "$wheel" | tee "$out/auditwheel.txt"
  grep -q 'manylinux_2_17_x86_64' "$out/auditwheel.txt" || { echo "wheel is not manylinux2014-compatible" >&2; exit 1; }

  step "sdist without Rust: must fail with a clear message, not download a toolchain"
  local norust log="$out/sdist-without-rust.log"
  norust="$(mktemp -d)"
  "$py" -m venv "$norust/venv"
  # PATH without cargo/rustc; pip still reaches PyPI for maturin (the build requirement).
  if env -u CARGO_HOME -u RUSTUP_HOME PATH="$norust/venv/bin:/usr/bin:/bin" \
      "$norust/venv/bin/python" -m pip install --disable-pip-version-check --no-cache-dir "$(ls "$out"/*.tar.gz)" \
      > "$log" 2>&1; then
    echo "installing the sdist without Rust succeeded?" >&2; exit 1
  fi
  rm -rf "$norust"
  grep -q 'building from source needs a Rust toolchain' "$log" || { cat "$log" >&2; echo "no clear error" >&2; exit 1; }
  echo "ok: $(grep -o 'durable-streams-sdk: building from source needs a Rust toolchain[^.]*' "$log" | head -1)"
  echo "wheel: $wheel"
}

node_release() {
  local here="$root/bindings-node"
  if [ "${RELEASE_SKIP_NPM_CI:-}" = 1 ]; then
    step "npm ci skipped (RELEASE_SKIP_NPM_CI=1: bindings-node/node_modules as installed)"
  else
    step "npm ci (bindings-node)"
    (cd "$here" && npm ci --no-audit --no-fund --silent)
  fi
  step "napi build --release --strip"
  (cd "$here" && $nice npx napi build --platform --release --strip --output-dir native --js index.js --dts index.d.ts)
  assert_stripped "$here/native/durable-streams-sdk.linux-x64-gnu.node"
  node_pack
}

# The two tarballs from what bindings-node/native holds (built by `napi build`, release or not).
node_pack() {
  local here="$root/bindings-node" out="$dist/node" triple=linux-x64-gnu
  rm -rf "$out" && mkdir -p "$out/stage"

  step "platform package durable-streams-sdk-$triple"
  local plat="$out/stage/$triple"
  cp -R "$here/npm/$triple" "$plat"
  cp "$here/native/durable-streams-sdk.$triple.node" "$plat/"
  (cd "$plat" && npm pack --silent --pack-destination "$out" >/dev/null)

  step "main package (optionalDependencies: one package per platform in bindings-node/npm)"
  local main="$out/stage/main"
  mkdir -p "$main/native"
  cp -R "$here/lib" "$here/README.md" "$here/LICENSE" "$main/"
  cp "$here/native/index.js" "$main/native/"
  node -e '
    const fs = require("fs"), path = require("path")
    const [src, npmDir, dst] = process.argv.slice(1)
    const pkg = JSON.parse(fs.readFileSync(src, "utf8"))
    delete pkg.devDependencies; delete pkg.scripts
    pkg.optionalDependencies = {}
    for (const d of fs.readdirSync(npmDir).sort()) {
      const p = JSON.parse(fs.readFileSync(path.join(npmDir, d, "package.json"), "utf8"))
      pkg.optionalDependencies[p.name] = p.version
    }
    fs.writeFileSync(dst, JSON.stringify(pkg, null, 2) + "\n")
  ' "$here/package.json" "$here/npm" "$main/package.json"
  (cd "$main" && npm pack --silent --pack-destination "$out" >/dev/null)
  rm -rf "$out/stage"
  ls -l "$out"
}

rust_release() {
  step "cargo package -p durable-streams-sdk"
  $nice cargo package --locked -p durable-streams-sdk --allow-dirty
  step "cargo publish --dry-run -p durable-streams-sdk"
  $nice cargo publish --locked --dry-run -p durable-streams-sdk --allow-dirty
  step "cargo doc -p durable-streams-sdk --no-deps (RUSTDOCFLAGS=-D warnings)"
  RUSTDOCFLAGS="-D warnings" $nice cargo doc --locked -p durable-streams-sdk --no-deps
  ls -l "$target/package/"durable-streams-sdk-*.crate
}

# For CI (scripts/test.sh): what `rust` checks, minus the verify build of the packaged
# crate (a second full debug build of the dependencies). One summary line.
rust_check() {
  local passed=0 failed=0
  step "cargo doc -p durable-streams-sdk --no-deps (RUSTDOCFLAGS=-D warnings)"
  if RUSTDOCFLAGS="-D warnings" cargo doc --locked -p durable-streams-sdk --no-deps; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
  fi
  step "cargo package --no-verify -p durable-streams-sdk (manifest, file list)"
  if cargo package --locked --no-verify -p durable-streams-sdk --allow-dirty; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
  fi
  echo "summary: rust release check (cargo doc -D warnings, cargo package --no-verify): $passed passed, $failed failed, 1 skipped (the packaged crate's verify build: bash scripts/release.sh rust)"
  [ "$failed" -eq 0 ]
}

kind="${1:-}"
case "$kind" in
  python) python3 scripts/check-versions.py; python_release ;;
  node) python3 scripts/check-versions.py; node_release ;;
  node-pack) node_pack ;;
  rust) python3 scripts/check-versions.py; rust_release ;;
  rust-check) rust_check ;;
  check) python3 scripts/check-versions.py ;;
  *) sed -n '2,14p' "$0" >&2; exit 2 ;;
esac
