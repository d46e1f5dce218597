//! Consumers: pull ([`ConsumerEvents`], for async iteration) and pushed ([`ConsumerRun`],
//! driving JavaScript callbacks from the core's task, with a shared outcome).

use std::collections::HashMap;
use std::sync::Arc;

use durable_streams_sdk::ffi::{ConsumerEvents, ConsumerRun};
use durable_streams_sdk::{
    BoxFuture, Chunk, Consumer, ConsumerEnd, ConsumerEvent, ConsumerHandler, ConsumerOptions, Decision,
    Error as CoreError, Offset, Result as CoreResult,
};
use napi::Env;
use napi::Status;
use napi::bindgen_prelude::{Promise, PromiseRaw};
use napi::threadsafe_function::ThreadsafeFunction;
use napi_derive::napi;

use crate::convert::{header_list, live_mode, offset, positive, positive_ms};
use crate::error;
use crate::read::NativeChunk;
use crate::stream::NativeStream;
use crate::task::{self, call};

#[napi(object, object_to_js = false)]
pub struct NativeConsumerOptions {
    pub offset: Option<String>,
    pub live: Option<String>,
    pub backoff_base_ms: Option<f64>,
    pub backoff_max_ms: Option<f64>,
    pub headers: Option<HashMap<String, String>>,
    pub max_chunk_bytes: Option<f64>,
}

fn consumer(stream: &NativeStream, o: Option<NativeConsumerOptions>) -> napi::Result<Consumer> {
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
            opts.max_chunk_bytes = positive("maxChunkBytes", n)?;
        }
    }
    Consumer::new(stream.inner.clone(), opts).map_err(error::core)
}

/// One event of a pulled consumer, in the shape of the public `ConsumerEvent` (the
/// JavaScript layer wraps `batch` and `error` in their classes).
#[napi(object, object_from_js = false)]
#[derive(Default)]
pub struct NativeConsumerEvent {
    /// `"batch"`, `"upToDate"`, `"closed"` or `"reconnecting"`.
    #[napi(js_name = "type")]
    pub kind: String,
    pub batch: Option<NativeChunk>,
    /// `upToDate`: the tail offset.
    pub offset: Option<String>,
    pub final_offset: Option<String>,
    /// `reconnecting`: the error payload.
    pub error: Option<String>,
    pub retry_in_ms: Option<f64>,
}

fn event(ev: ConsumerEvent) -> NativeConsumerEvent {
    let kind = |kind: &str| NativeConsumerEvent { kind: kind.into(), ..Default::default() };
    match ev {
        ConsumerEvent::Batch(c) => NativeConsumerEvent { batch: Some(c.into()), ..kind("batch") },
        ConsumerEvent::UpToDate { offset } => NativeConsumerEvent { offset: Some(offset.to_string()), ..kind("upToDate") },
        ConsumerEvent::Closed { final_offset } => {
            NativeConsumerEvent { final_offset: Some(final_offset.to_string()), ..kind("closed") }
        }
        ConsumerEvent::Reconnecting { error: e, retry_in } => NativeConsumerEvent {
            error: Some(error::payload(&e)),
            retry_in_ms: Some(retry_in.as_secs_f64() * 1e3),
            ..kind("reconnecting")
        },
    }
}

/// A pull consumer: the public `Consumer` (lib/index.js adds the async iterator).
#[napi(js_name = "Consumer")]
pub struct NativeConsumer {
    events: Arc<ConsumerEvents>,
}

#[napi]
impl NativeConsumer {
    /// The next event, or `null` once the consumer has ended (or was cancelled).
    #[napi]
    pub fn take<'env>(&self, env: &'env Env) -> napi::Result<PromiseRaw<'env, Option<NativeConsumerEvent>>> {
        let events = self.events.clone();
        task::promise(env, None, async move { Ok(events.next().await?.map(event)) })
    }

    /// The offset after the last batch handed out.
    #[napi(getter)]
    pub fn checkpoint(&self) -> String {
        self.events.checkpoint().to_string()
    }

    /// Batches, bytes, reconnects, checkpoint and last error so far.
    #[napi]
    pub fn stats(&self) -> crate::stats::ConsumerStats {
        self.events.stats().into()
    }

    #[napi]
    pub fn cancel(&self) {
        self.events.cancel();
    }
}

/// JavaScript callbacks, each wrapped by the JavaScript layer to return a Promise. Weak:
/// what keeps the process alive while a consumer runs is its pending `done()` Promise.
pub type BatchFn = ThreadsafeFunction<NativeChunk, Promise<bool>, NativeChunk, Status, false, true>;
pub type ErrorDecisionFn = ThreadsafeFunction<String, Promise<Option<bool>>, String, Status, false, true>;
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

impl ConsumerHandler for NativeHandlers {
    fn on_batch(&self, batch: Chunk) -> BoxFuture<'_, CoreResult<Decision>> {
        Box::pin(async move {
            let go = call(&self.on_batch, batch.into(), "onBatch").await?;
            Ok(if go { Decision::Continue } else { Decision::Stop })
        })
    }

    fn on_error(&self, e: &CoreError) -> BoxFuture<'_, Decision> {
        let default = Decision::default_for(e);
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
        Box::pin(notify(self.on_up_to_date.as_ref(), offset.to_string(), "onUpToDate"))
    }

    fn on_closed(&self, final_offset: &Offset) -> BoxFuture<'_, ()> {
        Box::pin(notify(self.on_closed.as_ref(), final_offset.to_string(), "onClosed"))
    }
}

/// Tells an optional callback an offset; it cannot change the run, so its failure is dropped.
async fn notify(f: Option<&OffsetFn>, offset: String, what: &str) {
    if let Some(f) = f {
        let _ = call(f, offset, what).await;
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

impl From<&ConsumerEnd> for NativeConsumerEnd {
    fn from(end: &ConsumerEnd) -> Self {
        let (reason, offset) = match end {
            ConsumerEnd::Closed { final_offset } => ("closed", final_offset),
            ConsumerEnd::Stopped { checkpoint } => ("stopped", checkpoint),
            ConsumerEnd::CaughtUp { checkpoint } => ("caughtUp", checkpoint),
        };
        NativeConsumerEnd { reason: reason.into(), offset: offset.to_string() }
    }
}

/// A pushed consumer: the public `ConsumerHandle` (lib/index.js adds `done` and `stop()`);
/// garbage-collecting it cancels the consumer.
#[napi(js_name = "ConsumerHandle")]
pub struct NativeConsumerHandle {
    run: Arc<ConsumerRun>,
}

#[napi]
impl NativeStream {
    /// A pull consumer.
    #[napi]
    pub fn consumer(&self, options: Option<NativeConsumerOptions>) -> napi::Result<NativeConsumer> {
        let c = consumer(self, options)?;
        task::sync(|| Ok(NativeConsumer { events: Arc::new(ConsumerEvents::new(c)) }))
    }

    /// A pushed consumer: the core drives `handlers` until the stream closes, a handler
    /// stops it, or `stop()` is called.
    #[napi]
    pub fn subscribe(
        &self,
        handlers: NativeHandlers,
        options: Option<NativeConsumerOptions>,
    ) -> napi::Result<NativeConsumerHandle> {
        let c = consumer(self, options)?;
        task::sync(|| Ok(NativeConsumerHandle { run: Arc::new(ConsumerRun::start(c, Arc::new(handlers))) }))
    }
}

#[napi]
impl NativeConsumerHandle {
    /// Stop fetching after the batch in hand.
    #[napi]
    pub fn pause(&self) {
        self.run.controller().pause();
    }

    #[napi]
    pub fn resume(&self) {
        self.run.controller().resume();
    }

    /// The offset after the last batch the handler accepted (once the consumer has
    /// ended: the offset it ended at).
    #[napi(getter)]
    pub fn checkpoint(&self) -> String {
        self.run.checkpoint().to_string()
    }

    /// Batches, bytes, reconnects, checkpoint (as the getter) and last error so far.
    #[napi]
    pub fn stats(&self) -> crate::stats::ConsumerStats {
        self.run.stats().into()
    }

    /// Stop after the batch in hand; `wait()` then resolves `stopped`.
    #[napi]
    pub fn request_stop(&self) {
        self.run.stop();
    }

    /// Resolves when the consumer ends (stream closed, handler stop, error, `stop()`).
    #[napi]
    pub fn wait<'env>(&self, env: &'env Env) -> napi::Result<PromiseRaw<'env, NativeConsumerEnd>> {
        let run = self.run.clone();
        task::promise(env, None, async move { run.wait().await.map(|end| NativeConsumerEnd::from(&end)) })
    }
}
