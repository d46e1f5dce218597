//! Node.js binding of the Durable Streams SDK (napi-rs).
//!
//! The public API is `lib/`: `Client`, `Stream`, `Producer`, `Chunk` and the error classes
//! (generated from the core's error table) are JavaScript; `ReadSession`, `Consumer` and
//! `ConsumerHandle` are the native classes, to which lib/ adds the async iterator and
//! Promises. Everything here converts types and calls the core's binding layer
//! (`durable_streams_sdk::ffi`); all I/O runs on the core's shared runtime.

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
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Prefix of every error message produced by the native module (see lib/errors.js).
#[napi]
pub const ERROR_MARKER: &str = error::MARKER;

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
