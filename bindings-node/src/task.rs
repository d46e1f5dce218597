//! Core futures as JavaScript Promises: run on the core's shared runtime (panics become
//! `INTERNAL` errors), settled from there through a napi deferred; and the other way, a
//! JavaScript callback's Promise awaited by the core.

use std::future::Future;
use std::sync::Arc;

use durable_streams_sdk::ffi;
use durable_streams_sdk::{Error, ErrorKind, Result};
use napi::Status;
use napi::bindgen_prelude::{FromNapiValue, JsValuesTupleIntoVec, Promise, PromiseRaw, ToNapiValue};
use napi::threadsafe_function::ThreadsafeFunction;
use napi::{Env, JsValue};
use napi_derive::napi;
use tokio::sync::watch;

use crate::error;

/// The native half of an `AbortSignal` for one-shot calls (reads and consumers are
/// cancelled through their own handles): the JavaScript layer calls `abort()` from the
/// signal's `abort` event, which drops the core future (and its request) on the runtime.
#[napi]
pub struct AbortToken(Arc<watch::Sender<bool>>);

#[napi]
impl AbortToken {
    #[napi(constructor)]
    pub fn new() -> Self {
        AbortToken(Arc::new(watch::Sender::new(false)))
    }

    #[napi]
    pub fn abort(&self) {
        self.0.send_replace(true);
    }
}

type Resolver<T> = Box<dyn FnOnce(Env) -> napi::Result<T> + Send>;

/// A Promise settled by `fut`, run on the core runtime; `abort` cancels it (`ABORTED`).
pub fn promise<'env, T, F>(env: &'env Env, abort: Option<&AbortToken>, fut: F) -> napi::Result<PromiseRaw<'env, T>>
where
    T: ToNapiValue + Send + 'static,
    F: Future<Output = Result<T>> + Send + 'static,
{
    let abort = abort.map(|t| t.0.clone());
    let (deferred, promise) = env.create_deferred::<T, Resolver<T>>()?;
    ffi::spawn_detached(async move {
        let work = ffi::guard(fut);
        let r = match abort {
            None => work.await,
            // The sender lives in `tx`, so `wait_for` returns only once aborted.
            Some(tx) => tokio::select! {
                biased;
                _ = async { tx.subscribe().wait_for(|aborted| *aborted).await.map(drop) } => Err(Error::new(ErrorKind::Aborted, "the operation was aborted")),
                r = work => r,
            },
        };
        match r {
            Ok(v) => deferred.resolve(Box::new(move |_| Ok(v))),
            Err(e) => deferred.reject(error::core(e)),
        }
    });
    Ok(PromiseRaw::new(env.raw(), promise.raw()))
}

/// A synchronous call with any panic turned into a JavaScript error.
pub fn sync<T>(f: impl FnOnce() -> napi::Result<T>) -> napi::Result<T> {
    ffi::catch_panic(|| Ok(f())).map_err(error::core)?
}

/// Calls a JavaScript function (on the JavaScript thread) that returns a Promise, and awaits
/// it; a throw or rejection is `CALLBACK_FAILED` naming `what`.
pub async fn call<T, R>(f: &ThreadsafeFunction<T, Promise<R>, T, Status, false, true>, arg: T, what: &str) -> Result<R>
where
    T: JsValuesTupleIntoVec + 'static,
    R: FromNapiValue + 'static,
{
    let p = f.call_async_catch(arg).await.map_err(|e| error::callback(what, &e.reason))?;
    p.await.map_err(|e| error::callback(what, &e.reason))
}
