#!/usr/bin/env bash
# Build the xcframework and the generated Swift sources on macOS (Xcode + rustup):
#   bash bindings-uniffi/swift/build-xcframework.sh
# then `swift build` / `swift test` in bindings-uniffi/swift (tests need a reference
# server: DS_URL=http://127.0.0.1:PORT). Not runnable on Linux: no Apple SDKs there.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
target="${CARGO_TARGET_DIR:-$repo/target}"
triples=(aarch64-apple-ios aarch64-apple-ios-sim x86_64-apple-ios aarch64-apple-darwin x86_64-apple-darwin)
rustup target add "${triples[@]}"
for t in "${triples[@]}"; do
  cargo build --release -p durable-streams-sdk-uniffi --target "$t"
done
cargo build -p durable-streams-sdk-uniffi --features bindgen --bin uniffi-bindgen
gen="$here/Sources/DurableStreamsFFI"
rm -rf "$gen" && mkdir -p "$gen"
"$target/debug/uniffi-bindgen" generate --library "$target/aarch64-apple-darwin/release/libdurable_streams_uniffi.a" \
  --language swift --out-dir "$gen" --no-format
headers="$here/build/headers"
rm -rf "$here/build" && mkdir -p "$headers"
cp "$gen/DurableStreamsFFIC.h" "$headers/"
cp "$gen/DurableStreamsFFIC.modulemap" "$headers/module.modulemap"
lipo -create "$target/aarch64-apple-ios-sim/release/libdurable_streams_uniffi.a" \
  "$target/x86_64-apple-ios/release/libdurable_streams_uniffi.a" -output "$here/build/libsim.a"
lipo -create "$target/aarch64-apple-darwin/release/libdurable_streams_uniffi.a" \
  "$target/x86_64-apple-darwin/release/libdurable_streams_uniffi.a" -output "$here/build/libmac.a"
xcodebuild -create-xcframework \
  -library "$target/aarch64-apple-ios/release/libdurable_streams_uniffi.a" -headers "$headers" \
  -library "$here/build/libsim.a" -headers "$headers" \
  -library "$here/build/libmac.a" -headers "$headers" \
  -output "$here/build/DurableStreamsFFIC.xcframework"
echo "built $here/build/DurableStreamsFFIC.xcframework"
