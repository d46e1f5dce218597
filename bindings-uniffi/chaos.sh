#!/usr/bin/env bash
# Chaos run for the Kotlin binding (kotlin/adapter/.../chaos/Chaos.kt, the counterpart of
# tests/chaos/chaos_python.py) from the prebuilt adapter jar; nothing is compiled here.
# Build it first with: bash bindings-uniffi/ci.sh. Size, seed and rate: DS_CHAOS_MESSAGES
# (default 20000), DS_CHAOS_SEED, DS_CHAOS_RATE.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
kt="$repo/bindings-uniffi/kotlin/adapter/target"
native="${CARGO_TARGET_DIR:-$repo/target}/debug"
jar="$kt/durable-streams-conformance-adapter-0.1.0.jar"
if [[ ! -f "$jar" || ! -f "$native/libdurable_streams_uniffi.so" ]]; then
  echo "chaos (kotlin): $jar or the cdylib in $native is missing; run bash bindings-uniffi/ci.sh" >&2
  exit 127
fi
exec java -Djna.library.path="$native" -cp "$jar:$kt/lib/*" dev.durablestreams.sdk.chaos.ChaosKt \
  "$repo/tests/chaos/proxy.mjs"
