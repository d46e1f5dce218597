//! Running core futures for JavaScript: on the core's shared runtime, cancellable through
//! an [`AbortToken`], with panics turned into rejections.
//!
//! The work is spawned on `durable_streams_sdk::runtime`, where the connection pool lives,
//! and settles its Promise from there through a napi deferred (napi's own Tokio runtime is
//! not involved). Aborting drops the core future on its runtime (which cancels the HTTP
//! request in flight).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use napi::Env;
use napi::JsValue;
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

/// `fut` raced against `abort`.
async fn abortable<T, F>(abort: Option<Abort>, fut: F) -> napi::Result<T>
where
    F: Future<Output = napi::Result<T>>,
{
    match abort {
        None => fut.await,
        Some(abort) => tokio::select! {
            biased;
            _ = abort.triggered() => Err(error::aborted()),
            r = fut => r,
        },
    }
}

/// A future whose panics become errors (the task then settles its Promise instead of
/// leaving it pending forever).
struct CatchUnwind<F>(Pin<Box<F>>);

impl<T, F: Future<Output = napi::Result<T>>> Future for CatchUnwind<F> {
    type Output = napi::Result<T>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let fut = self.0.as_mut();
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || fut.poll(cx))) {
            Ok(p) => p,
            Err(p) => Poll::Ready(Err(error::panicked(&panic_text(p)))),
        }
    }
}

type Resolver<T> = Box<dyn FnOnce(Env) -> napi::Result<T> + Send>;

/// A Promise settled by a core future run on the core runtime.
///
/// The task runs on the core's runtime and settles the Promise from there (napi queues
/// the settlement to the JavaScript thread): no second runtime in between, which matters
/// on per-chunk paths (one thread hop per Promise instead of two).
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
    let (deferred, promise) = env.create_deferred::<T, Resolver<T>>()?;
    durable_streams_sdk::runtime::spawn(async move {
        match CatchUnwind(Box::pin(abortable(abort, fut))).await {
            Ok(v) => deferred.resolve(Box::new(move |_| Ok(v))),
            Err(e) => deferred.reject(e),
        }
    });
    Ok(PromiseRaw::new(env.raw(), promise.raw()))
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

/// Run a synchronous core call that neither spawns nor needs a reactor (e.g. enqueueing
/// into a producer) with any panic turned into a JavaScript error. Cheaper than [`sync`],
/// which looks up and enters the core runtime: that matters on per-message paths.
pub fn guarded<T>(f: impl FnOnce() -> napi::Result<T>) -> napi::Result<T> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(p) => Err(error::panicked(&panic_text(p))),
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
