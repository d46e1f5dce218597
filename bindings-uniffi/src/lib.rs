//! UniFFI binding of the durable-streams-sdk core, for Kotlin and Swift.
//!
//! Conversion only: every function converts its arguments, calls the core (or its
//! `ffi` layer) and converts the result. Every async function is spawned onto the
//! core's shared runtime through [`durable_streams_sdk::ffi::spawn`] and awaited, so a
//! foreign executor (a Kotlin dispatcher, Swift's cooperative pool) never needs a tokio
//! reactor, and dropping the foreign future (a cancelled coroutine or Task) aborts the
//! Rust work. No panic crosses the boundary: spawned work runs under the core's panic
//! guard, synchronous entry points under `ffi::catch_panic`.

mod client;
mod consumer;
mod error;
mod producer;
mod read;
mod shutdown;

pub use client::{Client, Stream, ValueSource};
pub use consumer::{ConsumerCallback, ConsumerEvents, ConsumerRun};
pub use error::{ErrorDetails, FfiError};
pub use producer::{AckHandle, Producer};
pub use read::ReadSession;
pub use shutdown::Shutdown;

uniffi::setup_scaffolding!("durable_streams");

use std::sync::atomic::{AtomicUsize, Ordering};

use durable_streams_sdk::ffi;

/// The core's error table as JSON (rows: code, name, parent, details, doc).
#[uniffi::export]
pub fn error_table_json() -> String {
    ffi::error_table_json()
}

/// The SDK's version.
#[uniffi::export]
pub fn sdk_version() -> String {
    env!("CARGO_PKG_VERSION").to_string()
}

/// How many of this binding's async calls have work on the shared runtime right now.
/// Diagnostics: the tests watch it fall when a cancelled coroutine's Rust task is
/// aborted (not merely abandoned and left running).
#[uniffi::export]
pub fn live_operations() -> u64 {
    LIVE.load(Ordering::SeqCst) as u64
}

static LIVE: AtomicUsize = AtomicUsize::new(0);

/// Counted in [`LIVE`] from spawn until the spawned future is dropped (done or aborted).
struct Live;

impl Live {
    fn start() -> Live {
        LIVE.fetch_add(1, Ordering::SeqCst);
        Live
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        LIVE.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Run `fut` on the shared runtime; a dropped caller aborts it.
async fn run<T, F>(fut: F) -> Result<T, FfiError>
where
    F: std::future::Future<Output = durable_streams_sdk::Result<T>> + Send + 'static,
    T: Send + 'static,
{
    let live = Live::start();
    ffi::spawn(async move {
        let _live = live;
        fut.await
    })
    .await
    .map_err(FfiError::from)
}

/// Run a synchronous entry point with panics turned into `INTERNAL` errors.
fn sync<T>(f: impl FnOnce() -> durable_streams_sdk::Result<T>) -> Result<T, FfiError> {
    ffi::catch_panic(f).map_err(FfiError::from)
}
