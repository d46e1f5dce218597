//! Running core futures for JavaScript: on the core's shared runtime, cancellable through
//! an [`AbortToken`], with panics turned into rejections.
//!
//! napi's own Tokio runtime only settles the Promise: the work itself is spawned on
//! `durable_streams_sdk::runtime`, where the connection pool lives, and napi merely awaits
//! its `JoinHandle`. Aborting drops the core future on its runtime (which cancels the HTTP
//! request in flight).

use std::future::Future;
use std::sync::Arc;

use napi::Env;
use napi::bindgen_prelude::{PromiseRaw, ToNapiValue};
use napi_derive::napi;
use tokio::sync::watch;

use crate::error;

/// The native half of an `AbortSignal`: the JavaScript layer calls `abort()` from the
/// signal's `abort` event.
#[napi]
pub struct AbortToken {
    tx: Arc<watch::Sender<bool>>,
}

impl Default for AbortToken {
    fn default() -> Self {
        AbortToken {
            tx: Arc::new(watch::Sender::new(false)),
        }
    }
}

#[napi]
impl AbortToken {
    #[napi(constructor)]
    pub fn new() -> Self {
        AbortToken::default()
    }

    #[napi]
    pub fn abort(&self) {
        self.tx.send_replace(true);
    }

    #[napi(getter)]
    pub fn aborted(&self) -> bool {
        *self.tx.borrow()
    }
}

/// What a spawned task needs to observe an abort.
#[derive(Clone)]
pub struct Abort(Arc<watch::Sender<bool>>);

impl Abort {
    pub fn from_token(token: Option<&AbortToken>) -> Option<Abort> {
        token.map(|t| Abort(t.tx.clone()))
    }

    async fn triggered(&self) {
        let mut rx = self.0.subscribe();
        // The sender lives as long as `self`, so this only returns once aborted.
        let _ = rx.wait_for(|aborted| *aborted).await;
    }
}

/// Run `fut` on the core runtime, racing it against `abort`, and await it from the caller.
pub async fn on_core<T, F>(abort: Option<Abort>, fut: F) -> napi::Result<T>
where
    T: Send + 'static,
    F: Future<Output = napi::Result<T>> + Send + 'static,
{
    let task = durable_streams_sdk::runtime::spawn(async move {
        match abort {
            None => fut.await,
            Some(abort) => tokio::select! {
                biased;
                _ = abort.triggered() => Err(error::aborted()),
                r = fut => r,
            },
        }
    });
    match task.await {
        Ok(r) => r,
        Err(e) if e.is_panic() => Err(error::panicked(&panic_text(e.into_panic()))),
        Err(_) => Err(error::local("CANCELLED", "the operation was cancelled")),
    }
}

/// A Promise settled by a core future run on the core runtime.
pub fn promise<'env, T, F>(
    env: &'env Env,
    abort: Option<&AbortToken>,
    fut: F,
) -> napi::Result<PromiseRaw<'env, T>>
where
    T: ToNapiValue + Send + 'static,
    F: Future<Output = napi::Result<T>> + Send + 'static,
{
    let abort = Abort::from_token(abort);
    env.spawn_future(on_core(abort, fut))
}

pub fn panic_text(payload: Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic".to_string()
    }
}

/// Run a synchronous core call with the core runtime entered (some constructors spawn or
/// need a reactor) and any panic turned into a JavaScript error.
pub fn sync<T>(f: impl FnOnce() -> napi::Result<T>) -> napi::Result<T> {
    let handle = durable_streams_sdk::runtime::handle();
    let _guard = handle.enter();
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(p) => Err(error::panicked(&panic_text(p))),
    }
}
