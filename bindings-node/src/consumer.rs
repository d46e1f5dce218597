//! Consumers: pull (`NativeConsumer.next()`, for async iteration) and push
//! (`NativeConsumerHandle`, driving JavaScript callbacks from the core's supervised task).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use durable_streams_sdk::{
    BoxFuture, Chunk, Consumer, ConsumerController, ConsumerEnd, ConsumerEvent, ConsumerHandler,
    ConsumerOptions, Decision, Error as CoreError, Offset, Result as CoreResult,
};
use napi::Env;
use napi::Status;
use napi::bindgen_prelude::{Promise, PromiseRaw};
use napi::threadsafe_function::ThreadsafeFunction;
use napi_derive::napi;
use tokio::sync::watch;

use crate::convert::{header_list, integer, live_mode, offset, positive_ms};
use crate::error;
use crate::read::NativeChunk;
use crate::stream::NativeStream;
use crate::task::{self, AbortToken};

#[napi(object, object_to_js = false)]
pub struct NativeConsumerOptions {
    pub offset: Option<String>,
    pub live: Option<String>,
    pub backoff_base_ms: Option<f64>,
    pub backoff_max_ms: Option<f64>,
    pub headers: Option<HashMap<String, String>>,
    pub max_chunk_bytes: Option<f64>,
}

fn consumer_options(o: Option<NativeConsumerOptions>) -> napi::Result<ConsumerOptions> {
    let mut opts = ConsumerOptions::default();
    if let Some(o) = o {
        opts.offset = offset(o.offset)?;
        if o.live.is_some() {
            opts.live = live_mode(o.live)?;
        }
        if let Some(ms) = o.backoff_base_ms {
            opts.backoff_base = positive_ms("backoffBaseMs", ms)?;
        }
        if let Some(ms) = o.backoff_max_ms {
            opts.backoff_max = positive_ms("backoffMaxMs", ms)?;
        }
        opts.headers = header_list(o.headers);
        if let Some(n) = o.max_chunk_bytes {
            let n = integer("maxChunkBytes", n)?;
            if n <= 0 {
                return Err(error::invalid_argument("maxChunkBytes", "must be > 0"));
            }
            opts.max_chunk_bytes = n as usize;
        }
    }
    Ok(opts)
}

/// One event of a pulled consumer.
#[napi(object, object_from_js = false)]
pub struct NativeConsumerEvent {
    /// `"batch"`, `"upToDate"`, `"closed"` or `"reconnecting"`.
    pub kind: String,
    pub batch: Option<NativeChunk>,
    /// `upToDate`: the tail offset; `closed`: the final offset.
    pub offset: Option<String>,
    /// `reconnecting`: the error payload.
    pub error: Option<String>,
    pub retry_in_ms: Option<f64>,
}

fn event(ev: ConsumerEvent) -> NativeConsumerEvent {
    let mut out = NativeConsumerEvent {
        kind: String::new(),
        batch: None,
        offset: None,
        error: None,
        retry_in_ms: None,
    };
    match ev {
        ConsumerEvent::Batch(c) => {
            out.kind = "batch".into();
            out.batch = Some(NativeChunk::from(c));
        }
        ConsumerEvent::UpToDate { offset } => {
            out.kind = "upToDate".into();
            out.offset = Some(offset.as_str().to_string());
        }
        ConsumerEvent::Closed { final_offset } => {
            out.kind = "closed".into();
            out.offset = Some(final_offset.as_str().to_string());
        }
        ConsumerEvent::Reconnecting { error: e, retry_in } => {
            out.kind = "reconnecting".into();
            out.error = Some(error::payload(&e));
            out.retry_in_ms = Some(retry_in.as_secs_f64() * 1e3);
        }
    }
    out
}

#[napi]
pub struct NativeConsumer {
    inner: Arc<tokio::sync::Mutex<Option<Consumer>>>,
    checkpoint: Arc<Mutex<String>>,
}

#[napi]
impl NativeConsumer {
    /// The next event, or `null` once the consumer has ended.
    #[napi]
    pub fn next<'env>(
        &self,
        env: &'env Env,
        abort: Option<&AbortToken>,
    ) -> napi::Result<PromiseRaw<'env, Option<NativeConsumerEvent>>> {
        let inner = self.inner.clone();
        let checkpoint = self.checkpoint.clone();
        task::promise(env, abort, async move {
            let mut guard = inner.lock().await;
            let Some(c) = guard.as_mut() else {
                return Ok(None);
            };
            let r = c.next().await;
            *checkpoint.lock().unwrap_or_else(|p| p.into_inner()) =
                c.checkpoint().as_str().to_string();
            match r {
                Ok(Some(ev)) => Ok(Some(event(ev))),
                Ok(None) => {
                    *guard = None;
                    Ok(None)
                }
                Err(e) => {
                    *guard = None;
                    Err(error::core(e))
                }
            }
        })
    }

    /// The offset after the last batch handed out (handing out the next event accepts the
    /// previous batch).
    #[napi(getter)]
    pub fn checkpoint(&self) -> String {
        self.checkpoint
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    #[napi]
    pub fn close(&self) {
        if let Ok(mut g) = self.inner.try_lock()
            && let Some(c) = g.take()
        {
            durable_streams_sdk::runtime::spawn(async move { drop(c) });
        }
    }
}

/// JavaScript callbacks, each wrapped by the JavaScript layer to return a Promise. Weak:
/// what keeps the process alive while a consumer runs is its pending `done()` Promise.
pub type BatchFn = ThreadsafeFunction<NativeChunk, Promise<bool>, NativeChunk, Status, false, true>;
pub type ErrorDecisionFn =
    ThreadsafeFunction<String, Promise<Option<bool>>, String, Status, false, true>;
pub type OffsetFn = ThreadsafeFunction<String, Promise<()>, String, Status, false, true>;

#[napi(object, object_to_js = false)]
pub struct NativeHandlers {
    /// Resolves `true` to continue, `false` to stop after this batch; rejecting refuses it.
    pub on_batch: BatchFn,
    /// Resolves `true` to reconnect, `false` to stop, `null` for the default
    /// (reconnect on transient failures only).
    pub on_error: Option<ErrorDecisionFn>,
    pub on_up_to_date: Option<OffsetFn>,
    pub on_closed: Option<OffsetFn>,
}

struct JsHandler {
    on_batch: BatchFn,
    on_error: Option<ErrorDecisionFn>,
    on_up_to_date: Option<OffsetFn>,
    on_closed: Option<OffsetFn>,
}

async fn call<T, R>(
    f: &ThreadsafeFunction<T, Promise<R>, T, Status, false, true>,
    arg: T,
    what: &str,
) -> CoreResult<R>
where
    T: napi::bindgen_prelude::JsValuesTupleIntoVec + 'static,
    R: napi::bindgen_prelude::FromNapiValue + 'static,
{
    let p = f
        .call_async_catch(arg)
        .await
        .map_err(|e| error::callback(what, &e.reason))?;
    p.await.map_err(|e| error::callback(what, &e.reason))
}

impl ConsumerHandler for JsHandler {
    fn on_batch(&self, batch: Chunk) -> BoxFuture<'_, CoreResult<Decision>> {
        Box::pin(async move {
            let go = call(&self.on_batch, NativeChunk::from(batch), "onBatch").await?;
            Ok(if go {
                Decision::Continue
            } else {
                Decision::Stop
            })
        })
    }

    fn on_error(&self, e: &CoreError) -> BoxFuture<'_, Decision> {
        let default = if e.is_transient() {
            Decision::Continue
        } else {
            Decision::Stop
        };
        let payload = error::payload(e);
        Box::pin(async move {
            let Some(f) = &self.on_error else {
                return default;
            };
            match call(f, payload, "onError").await {
                Ok(Some(true)) => Decision::Continue,
                Ok(Some(false)) => Decision::Stop,
                Ok(None) => default,
                // A throwing error handler cannot be asked again: stop.
                Err(_) => Decision::Stop,
            }
        })
    }

    fn on_up_to_date(&self, offset: &Offset) -> BoxFuture<'_, ()> {
        let o = offset.as_str().to_string();
        Box::pin(async move {
            if let Some(f) = &self.on_up_to_date {
                let _ = call(f, o, "onUpToDate").await;
            }
        })
    }

    fn on_closed(&self, final_offset: &Offset) -> BoxFuture<'_, ()> {
        let o = final_offset.as_str().to_string();
        Box::pin(async move {
            if let Some(f) = &self.on_closed {
                let _ = call(f, o, "onClosed").await;
            }
        })
    }
}

/// How a pushed consumer ended.
#[napi(object)]
pub struct NativeConsumerEnd {
    /// `"closed"`, `"stopped"` or `"caughtUp"`.
    pub reason: String,
    /// `closed`: the final offset; otherwise the checkpoint.
    pub offset: String,
}

type Outcome = Option<Result<ConsumerEnd, CoreError>>;

#[napi]
pub struct NativeConsumerHandle {
    controller: ConsumerController,
    /// How the consumer ended, once it has (set by the task awaiting the core's handle).
    outcome: Arc<watch::Sender<Outcome>>,
}

impl Drop for NativeConsumerHandle {
    /// The JavaScript handle was garbage-collected: nobody can stop the consumer any more.
    fn drop(&mut self) {
        self.controller.request_stop();
    }
}

#[napi]
impl NativeStream {
    /// A pull consumer (no I/O until the first `next()`).
    #[napi]
    pub fn consumer(&self, options: Option<NativeConsumerOptions>) -> napi::Result<NativeConsumer> {
        let opts = consumer_options(options)?;
        let start = opts.offset.as_str().to_string();
        let c = Consumer::new(self.inner.clone(), opts).map_err(error::core)?;
        Ok(NativeConsumer {
            inner: Arc::new(tokio::sync::Mutex::new(Some(c))),
            checkpoint: Arc::new(Mutex::new(start)),
        })
    }

    /// A pushed consumer: the core drives `handlers` until the stream closes, a handler
    /// stops it, or `stop()` is called.
    #[napi]
    pub fn subscribe(
        &self,
        handlers: NativeHandlers,
        options: Option<NativeConsumerOptions>,
    ) -> napi::Result<NativeConsumerHandle> {
        let opts = consumer_options(options)?;
        let consumer = Consumer::new(self.inner.clone(), opts).map_err(error::core)?;
        let handler = JsHandler {
            on_batch: handlers.on_batch,
            on_error: handlers.on_error,
            on_up_to_date: handlers.on_up_to_date,
            on_closed: handlers.on_closed,
        };
        let handle = task::sync(|| Ok(consumer.spawn(Arc::new(handler))))?;
        let controller = handle.controller();
        let outcome = Arc::new(watch::Sender::new(None));
        let tx = outcome.clone();
        durable_streams_sdk::runtime::spawn(async move {
            let result = handle.wait().await;
            tx.send_replace(Some(result));
        });
        Ok(NativeConsumerHandle {
            controller,
            outcome,
        })
    }
}

fn end_offset(end: &ConsumerEnd) -> &Offset {
    match end {
        ConsumerEnd::Closed { final_offset } => final_offset,
        ConsumerEnd::Stopped { checkpoint } | ConsumerEnd::CaughtUp { checkpoint } => checkpoint,
    }
}

fn end_value(r: Result<ConsumerEnd, CoreError>) -> napi::Result<NativeConsumerEnd> {
    match r.map_err(error::core)? {
        ConsumerEnd::Closed { final_offset } => Ok(NativeConsumerEnd {
            reason: "closed".into(),
            offset: final_offset.as_str().to_string(),
        }),
        ConsumerEnd::Stopped { checkpoint } => Ok(NativeConsumerEnd {
            reason: "stopped".into(),
            offset: checkpoint.as_str().to_string(),
        }),
        ConsumerEnd::CaughtUp { checkpoint } => Ok(NativeConsumerEnd {
            reason: "caughtUp".into(),
            offset: checkpoint.as_str().to_string(),
        }),
    }
}

async fn outcome_of(outcome: Arc<watch::Sender<Outcome>>) -> napi::Result<NativeConsumerEnd> {
    let mut rx = outcome.subscribe();
    let r = rx
        .wait_for(Option::is_some)
        .await
        .map_err(|_| error::local("CANCELLED", "consumer vanished"))?;
    end_value(r.clone().expect("checked by wait_for"))
}

#[napi]
impl NativeConsumerHandle {
    /// Stop fetching after the batch in hand.
    #[napi]
    pub fn pause(&self) {
        self.controller.pause();
    }

    #[napi]
    pub fn resume(&self) {
        self.controller.resume();
    }

    /// The offset after the last batch the handler accepted (once the consumer has
    /// ended: the offset it ended at).
    #[napi(getter)]
    pub fn checkpoint(&self) -> String {
        match &*self.outcome.borrow() {
            Some(Ok(end)) => end_offset(end).as_str().to_string(),
            _ => self.controller.checkpoint().as_str().to_string(),
        }
    }

    /// Stop and resolve with how the consumer ended.
    #[napi]
    pub fn stop<'env>(&self, env: &'env Env) -> napi::Result<PromiseRaw<'env, NativeConsumerEnd>> {
        self.controller.request_stop();
        task::promise(env, None, outcome_of(self.outcome.clone()))
    }

    /// Resolves when the consumer ends (stream closed, handler stop, error, `stop()`).
    #[napi]
    pub fn done<'env>(&self, env: &'env Env) -> napi::Result<PromiseRaw<'env, NativeConsumerEnd>> {
        task::promise(env, None, outcome_of(self.outcome.clone()))
    }
}
