//! Closing a client: the core closes it when `Client::shutdown` is called and runs its
//! producers' flush on the shared runtime by itself; [`Shutdown`] only waits for that
//! flush, so a cancelled wait (or none at all) never stops it.

use std::sync::Arc;
use std::time::Duration;

use durable_streams_sdk as core;

use crate::error::FfiError;
use crate::{run, sync};

/// A client's close in progress: resolves when its producers have flushed and detached.
/// Holds the core client, not the binding's handle, which Kotlin releases at once.
#[derive(uniffi::Object)]
pub struct Shutdown {
    client: core::Client,
}

impl Shutdown {
    /// Close `client` now; its producers' flush starts in the core.
    pub(crate) fn start(client: &core::Client) -> Arc<Shutdown> {
        drop(client.close());
        Arc::new(Shutdown { client: client.clone() })
    }
}

#[uniffi::export]
impl Shutdown {
    /// Wait until the producers have flushed and detached; cancelling the wait leaves
    /// them flushing.
    pub async fn wait(&self) -> Result<(), FfiError> {
        let flushed = self.client.close();
        run(async move {
            flushed.await;
            Ok(())
        })
        .await
    }

    /// `wait` for a caller that cannot suspend (Kotlin's `AutoCloseable.close`), at most
    /// `timeout_ms`; `TIMEOUT` if the producers are still flushing then (they go on).
    pub fn wait_blocking(&self, timeout_ms: u64) -> Result<(), FfiError> {
        let flushed = self.client.close();
        sync(move || {
            core::runtime::block_on(async move {
                tokio::time::timeout(Duration::from_millis(timeout_ms), flushed)
                    .await
                    .map_err(|_| core::Error::new(core::ErrorKind::Timeout, "the client's producers are still flushing"))
            })
        })
    }
}
