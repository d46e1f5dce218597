// swift-tools-version:5.9
// The Swift package of durable-streams-sdk. `Sources/DurableStreamsFFI` holds the
// UniFFI-generated Swift (made by bindings-uniffi/ci.sh or build-xcframework.sh, never
// committed); the native library comes from the xcframework that build-xcframework.sh
// builds on macOS.
import PackageDescription

let package = Package(
    name: "DurableStreams",
    platforms: [.iOS(.v15), .macOS(.v12)],
    products: [.library(name: "DurableStreams", targets: ["DurableStreams"])],
    targets: [
        .binaryTarget(name: "DurableStreamsFFIC", path: "build/DurableStreamsFFIC.xcframework"),
        .target(name: "DurableStreamsFFI", dependencies: ["DurableStreamsFFIC"], path: "Sources/DurableStreamsFFI",
                exclude: ["DurableStreamsFFIC.h", "DurableStreamsFFIC.modulemap"]),
        .target(name: "DurableStreams", dependencies: ["DurableStreamsFFI"]),
        .testTarget(name: "DurableStreamsTests", dependencies: ["DurableStreams"]),
    ]
)
