//! Node.js binding of the Durable Streams SDK (napi-rs).
//!
//! This native module is internal: the public API is the hand-written layer in `lib/`
//! (`Client`, `Stream`, async iterators, AbortSignal, error classes generated from the
//! core's error table). Everything here converts types and calls the core's binding
//! layer (`durable_streams_sdk::ffi`); all I/O runs on the core's shared runtime.

mod client;
mod consumer;
mod convert;
mod error;
mod logging;
mod producer;
mod read;
mod stats;
mod stream;
mod task;

use durable_streams_sdk::ffi;
use napi_derive::napi;

/// Version of the native module (the crate version).
#[napi]
pub fn native_version() -> String {
    env!("CARGO_PKG_VERSION").to_string()
}

/// Prefix of every error message produced by the native module (see lib/errors.js).
#[napi]
pub fn error_marker() -> String {
    error::MARKER.to_string()
}

/// The core's error table (code, class stem, parent, details) as JSON.
#[napi]
pub fn error_table_json() -> String {
    ffi::error_table_json()
}

/// Test hook: panics inside the native module, synchronously (`"sync"`) or inside a task on
/// the core runtime (`"async"`), to prove that a panic becomes a JavaScript error.
#[napi]
pub fn debug_panic<'env>(env: &'env napi::Env, mode: String) -> napi::Result<napi::bindgen_prelude::PromiseRaw<'env, ()>> {
    if mode == "sync" {
        task::sync(|| -> napi::Result<()> { panic!("deliberate panic (sync)") })?;
    }
    task::promise(env, None, async { panic!("deliberate panic (async)") })
}
