//! Closing a client: the core closes it when `Client::shutdown` is called and hands
//! back its producers' flush, which runs on the shared runtime by itself; [`Shutdown`]
//! only waits for it, so a cancelled wait (or none at all) never stops a flush.

use std::sync::Arc;
use std::time::Duration;

use durable_streams_sdk as core;
use durable_streams_sdk::ffi;
use tokio::sync::watch;

use crate::error::FfiError;
use crate::{run, sync};

/// A client's close in progress: resolves when its producers have flushed and detached.
#[derive(uniffi::Object)]
pub struct Shutdown {
    done: watch::Receiver<bool>,
}

impl Shutdown {
    /// Close `client` now and start its producers' flush.
    pub(crate) fn start(client: &core::Client) -> Arc<Shutdown> {
        let flush = client.close();
        let (tx, done) = watch::channel(false);
        ffi::spawn_detached(async move {
            flush.await;
            let _ = tx.send(true);
        });
        Arc::new(Shutdown { done })
    }

    fn finished(&self) -> impl std::future::Future<Output = core::Result<()>> + Send + 'static {
        let mut done = self.done.clone();
        async move {
            // The sender is gone without `true` only if the flush panicked.
            done.wait_for(|d| *d).await.map(drop).map_err(|_| core::Error::internal("closing the client failed"))
        }
    }
}

#[uniffi::export]
impl Shutdown {
    /// Wait until the producers have flushed and detached; cancelling the wait leaves
    /// them flushing.
    pub async fn wait(&self) -> Result<(), FfiError> {
        run(self.finished()).await
    }

    /// `wait` for a caller that cannot suspend (Kotlin's `AutoCloseable.close`), at most
    /// `timeout_ms`; `TIMEOUT` if the producers are still flushing then (they go on).
    pub fn wait_blocking(&self, timeout_ms: u64) -> Result<(), FfiError> {
        let finished = self.finished();
        sync(move || {
            core::runtime::block_on(async move {
                tokio::time::timeout(Duration::from_millis(timeout_ms), finished)
                    .await
                    .unwrap_or_else(|_| Err(core::Error::new(core::ErrorKind::Timeout, "the client's producers are still flushing")))
            })
        })
    }
}
