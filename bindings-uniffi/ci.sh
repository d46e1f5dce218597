#!/usr/bin/env bash
# CI for the UniFFI binding (Kotlin + Swift): build the cdylib (debug, workspace target
# dir) together with the crate's uniffi-bindgen, generate the Kotlin and Swift sources
# (built, never committed), run the JUnit suite against the reference server, the
# conformance runner through tests/adapters/kotlin, the chaos run (chaos.sh: producer and
# live reader through tests/chaos/proxy.mjs), and the Swift syntax/name checks.
#
#   bash bindings-uniffi/ci.sh
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
target="${CARGO_TARGET_DIR:-$repo/target}"
lib="$target/debug/libdurable_streams_uniffi.so"
logs="$here/kotlin/target"  # the runners' logs (ignored by git, like every target dir)
step() { printf '\n==> %s\n' "$*"; }
status=0

if [[ ! -d "$repo/tests/node_modules/@durable-streams/server" ]]; then
  step "npm ci (tests: reference server and conformance runner)"
  (cd "$repo/tests" && npm ci --no-audit --no-fund)
fi

step "cargo build -p durable-streams-sdk-uniffi --features bindgen (cdylib + staticlib + uniffi-bindgen, debug)"
cargo build --locked -p durable-streams-sdk-uniffi --features bindgen

step "generate Kotlin and Swift from the built library"
gen_kt="$here/kotlin/sdk/target/generated-sources/uniffi"
gen_swift="$here/swift/Sources/DurableStreamsFFI"
rm -rf "$gen_kt" "$gen_swift"
"$target/debug/uniffi-bindgen" generate --library "$lib" --language kotlin --out-dir "$gen_kt" --no-format
"$target/debug/uniffi-bindgen" generate --library "$lib" --language swift --out-dir "$gen_swift" --no-format
find "$gen_kt" "$gen_swift" -type f | sed "s|$here/||"

mkdir -p "$logs"
python3 "$here/kotlin/sdk/src/readme/extract.py" "$here/README.md" \
  "$here/kotlin/sdk/target/generated-test-sources/readme/ReadmeQuickStart.kt"
step "Kotlin: mvn package (library jar + JUnit 5 against the reference server, adapter jar)"
cd "$here/kotlin"
set +e
mvn -q -B -Dnative.dir="$target/debug" package 2>&1 | tail -n 80
mvn_rc=${PIPESTATUS[0]}
set -e
# The published jar is the library alone: the adapter (and the benchmark) are modules of their own.
lib_jar="$here/kotlin/sdk/target/durable-streams-sdk-0.1.0.jar"
if [[ $mvn_rc -eq 0 ]] && jar tf "$lib_jar" | grep -E 'conformance/|bench/'; then
  echo "library jar $lib_jar contains adapter or benchmark classes" >&2
  status=1
fi
read -r jt jf je js < <(python3 - "$here/kotlin/sdk/target/surefire-reports" <<'PY'
import glob, sys, xml.etree.ElementTree as ET
t = f = e = s = 0
for p in glob.glob(sys.argv[1] + "/TEST-*.xml"):
    r = ET.parse(p).getroot()
    t += int(r.get("tests", 0)); f += int(r.get("failures", 0)); e += int(r.get("errors", 0)); s += int(r.get("skipped", 0))
print(t, f, e, s)
PY
)
junit_line="JUnit (Kotlin): $((jt - jf - je - js)) passed, $((jf + je)) failed, $js skipped"
[[ $mvn_rc -ne 0 || $((jf + je)) -ne 0 || $jt -eq 0 ]] && status=1

conf_line=""
if [[ -x "$repo/tests/adapters/kotlin" ]]; then
  step "conformance runner through tests/adapters/kotlin (prebuilt jar)"
  set +e
  node "$repo/tests/runner/conformance.mjs" --adapter "$repo/tests/adapters/kotlin" > "$logs/conformance.log" 2>&1
  conf_rc=$?
  set -e
  grep -E '^(FAIL|conformance:)' "$logs/conformance.log" || true
  conf_line="$(grep -E '^conformance:' "$logs/conformance.log" | tail -n 1)"
  if [[ $conf_rc -ne 0 ]] || ! grep -qE '^conformance: [0-9]+ passed, 0 failed' <<<"$conf_line"; then status=1; fi
fi

step "chaos run (bindings-uniffi/chaos.sh: producer and live reader through the chaos proxy)"
set +e
bash "$here/chaos.sh" > "$logs/chaos.log" 2>&1
chaos_rc=$?
set -e
{ grep -v '^summary: ' "$logs/chaos.log" || true; } | tail -n 20 # the summary line is printed once, below
chaos_line="$(grep -E '^summary: chaos' "$logs/chaos.log" | tail -n 1)"
[[ $chaos_rc -ne 0 || -z "$chaos_line" ]] && status=1

step "Swift: parse every .swift file with tree-sitter-swift; check the README's names"
venv="${DS_SWIFT_VENV:-$repo/target/swift-check-venv}"
if [[ ! -x "$venv/bin/python" ]]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q tree-sitter tree-sitter-swift
fi
set +e
"$venv/bin/python" "$here/swift/check_swift.py" "$here/swift" "$here/README.md" | tee "$logs/swift-check.log"
swift_rc=${PIPESTATUS[0]}
set -e
swift_line="$(grep -E '^Swift checks:' "$logs/swift-check.log" | tail -n 1)"
[[ $swift_rc -ne 0 || -z "$swift_line" ]] && status=1

step "summary (bindings-uniffi)"
echo "summary: $junit_line"
if [[ -n "$conf_line" ]]; then
  echo "summary: ${conf_line/#conformance:/conformance, Kotlin adapter:}"
fi
echo "${chaos_line:-summary: chaos (kotlin): 0 passed, 1 failed, 0 skipped (no result, exit $chaos_rc)}"
echo "summary: ${swift_line:-Swift checks: 0 passed, 1 failed}"
exit $status
