'use strict'
// Loads the native module produced by `napi build` (the generated loader picks the
// binary for this platform).
module.exports = require('../native/index.js')
