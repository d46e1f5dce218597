'use strict'
// Loads the native module. The napi-generated loader (native/index.js) looks for a binary
// built next to it, then for the platform package `durable-streams-sdk-<platform>` that npm
// installs from the main package's optionalDependencies. When neither exists its own message
// blames npm; ours names the platform and what to do.
const PLATFORMS = [
  'linux-x64-gnu', 'linux-x64-musl', 'linux-arm64-gnu', 'linux-arm64-musl',
  'darwin-x64', 'darwin-arm64', 'win32-x64-msvc',
]

function platformId() {
  let id = `${process.platform}-${process.arch}`
  if (process.platform === 'linux') {
    const report = process.report && typeof process.report.getReport === 'function' ? process.report.getReport() : null
    const glibc = report && report.header && report.header.glibcVersionRuntime
    id += glibc ? '-gnu' : '-musl'
  } else if (process.platform === 'win32') {
    id += '-msvc'
  }
  return id
}

try {
  module.exports = require('../native/index.js')
} catch (err) {
  const id = platformId()
  const supported = PLATFORMS.includes(id)
  const what = supported
    ? `the package durable-streams-sdk-${id} (an optional dependency of durable-streams-sdk) is not installed ` +
      'or does not load. Reinstall without --no-optional / --omit=optional (delete node_modules and the lock ' +
      'file if they came from another platform), or build from source: see bindings-node/README.md.'
    : `no prebuilt binary exists for this platform (prebuilt: ${PLATFORMS.join(', ')}). ` +
      'Build it from source (Rust toolchain + `npm run build` in bindings-node, see bindings-node/README.md), ' +
      'or set NAPI_RS_NATIVE_LIBRARY_PATH to a .node file built for this platform.'
  const e = new Error(`durable-streams-sdk: cannot load the native module for ${id} (Node ${process.version}): ${what}`)
  e.code = 'DURABLE_STREAMS_NATIVE_MISSING'
  e.cause = err
  throw e
}
