//! `NativeProducer`: the core's idempotent, batching producer and its ordered enqueue.
//!
//! Every append reserves the message's place synchronously (order = call order); a
//! Promise is made only when there is something to wait for: buffer room or an ack.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use durable_streams_sdk::{Acked, Enqueued, Error as CoreError, Producer, ProducerOptions, RawProducerOptions};
use napi::Env;
use napi::Status;
use napi::bindgen_prelude::{Buffer, Either, PromiseRaw, Uint32ArraySlice, Unknown};
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi_derive::napi;

use crate::convert::{Data, data, header_list, integer, split_utf16};
use crate::error;
use crate::stream::{NativeCloseResult, NativeStream, close_result};
use crate::task::{self, AbortToken};

#[napi(object, object_to_js = false)]
pub struct NativeProducerOptions {
    pub producer_id: String,
    pub epoch: Option<f64>,
    pub auto_claim: Option<bool>,
    pub max_batch_items: Option<f64>,
    pub max_batch_bytes: Option<f64>,
    pub linger_ms: Option<f64>,
    pub max_in_flight: Option<f64>,
    pub buffer_limit_bytes: Option<f64>,
    pub delivery_timeout_ms: Option<f64>,
    pub content_type: Option<String>,
    pub headers: Option<HashMap<String, String>>,
}

/// Passed to the JavaScript `onError` callback: the error payload and the lost messages.
#[napi(object)]
pub struct NativeProducerError {
    pub error: String,
    pub messages: Vec<Buffer>,
}

/// Weak: a producer never keeps the event loop alive by itself.
pub type ErrorFn = ThreadsafeFunction<NativeProducerError, Unknown<'static>, NativeProducerError, Status, false, true>;

#[napi(object)]
pub struct NativeAcked {
    pub next_offset: Option<String>,
    pub duplicate: bool,
    pub epoch: i64,
    pub seq: i64,
}

impl From<Acked> for NativeAcked {
    fn from(a: Acked) -> Self {
        NativeAcked {
            next_offset: a.next_offset.map(|o| o.as_str().to_string()),
            duplicate: a.duplicate,
            epoch: a.epoch as i64,
            seq: a.seq as i64,
        }
    }
}

fn producer_options(o: NativeProducerOptions, on_error: Option<ErrorFn>) -> napi::Result<ProducerOptions> {
    let int = |field: &'static str, v: Option<f64>| v.map(|n| integer(field, n)).transpose();
    let mut opts = ProducerOptions::from_raw(RawProducerOptions {
        producer_id: Some(o.producer_id),
        epoch: int("epoch", o.epoch)?,
        auto_claim: o.auto_claim,
        max_batch_items: int("maxBatchItems", o.max_batch_items)?,
        max_batch_bytes: int("maxBatchBytes", o.max_batch_bytes)?,
        linger_ms: o.linger_ms,
        max_in_flight: int("maxInFlight", o.max_in_flight)?,
        buffer_limit_bytes: int("bufferLimitBytes", o.buffer_limit_bytes)?,
        delivery_timeout_ms: o.delivery_timeout_ms,
        content_type: o.content_type,
        headers: header_list(o.headers),
    })
    .map_err(error::core)?;
    if let Some(f) = on_error {
        let f = Arc::new(f);
        opts.on_error = Some(Arc::new(move |e: &CoreError, msgs: &[Bytes]| {
            let event = NativeProducerError {
                error: error::payload(e),
                messages: msgs.iter().map(|m| Buffer::from(m.to_vec())).collect(),
            };
            let _ = f.call(event, ThreadsafeFunctionCallMode::NonBlocking);
        }));
    }
    Ok(opts)
}

#[napi]
impl NativeStream {
    /// Start a producer (no I/O until the first batch; one `HEAD` then unless the content
    /// type is known or given).
    #[napi]
    pub fn producer(&self, options: NativeProducerOptions, on_error: Option<ErrorFn>) -> napi::Result<NativeProducer> {
        let opts = producer_options(options, on_error)?;
        let stream = self.inner.clone();
        task::sync(|| Ok(NativeProducer { inner: Producer::start_now(stream, opts).map_err(error::core)? }))
    }
}

#[napi]
pub struct NativeProducer {
    inner: Producer,
}

/// Message cost the core charges beyond the bytes (see `Producer::buffer_room`).
#[napi]
pub const MESSAGE_OVERHEAD_BYTES: u32 = durable_streams_sdk::MESSAGE_OVERHEAD_BYTES as u32;

/// What an enqueue gives JavaScript: the buffer room left (a number) when the messages
/// were buffered at once, else a Promise of buffer room (and, with `ack`, of the
/// acknowledgement).
type Settled<'env> = Either<f64, PromiseRaw<'env, Option<NativeAcked>>>;

impl NativeProducer {
    fn settle<'env>(
        &self,
        env: &'env Env,
        r: durable_streams_sdk::Result<Enqueued>,
        abort: Option<&AbortToken>,
    ) -> napi::Result<Settled<'env>> {
        let fut = match r.map_err(error::core)? {
            Enqueued::Accepted => return Ok(Either::A(self.inner.buffer_room() as f64)),
            Enqueued::Ack(a) => task::promise(env, abort, async move { Ok(Some(a.await?.into())) })?,
            Enqueued::Wait(w) => task::promise(env, abort, async move {
                match w.await? {
                    Some(a) => Ok(Some(a.await?.into())),
                    None => Ok(None),
                }
            })?,
        };
        Ok(Either::B(fut))
    }
}

#[napi]
impl NativeProducer {
    /// Enqueue one message, in call order (see [`Settled`] for the result).
    #[napi]
    pub fn append<'env>(
        &self,
        env: &'env Env,
        data: Data,
        ack: bool,
        abort: Option<&AbortToken>,
    ) -> napi::Result<Settled<'env>> {
        let r = task::sync(|| Ok(self.inner.enqueue(self::data(data), ack)))?;
        self.settle(env, r, abort)
    }

    /// Enqueue many messages in one crossing, in order; `ack` is the last message's.
    #[napi]
    pub fn append_many<'env>(
        &self,
        env: &'env Env,
        items: Vec<Data>,
        ack: bool,
        abort: Option<&AbortToken>,
    ) -> napi::Result<Settled<'env>> {
        let msgs = items.into_iter().map(data).collect();
        let r = task::sync(|| Ok(self.inner.enqueue_many(msgs, ack)))?;
        self.settle(env, r, abort)
    }

    /// Enqueue many strings in one crossing, in order: `text` is their concatenation and
    /// `lens` their JavaScript lengths. One string conversion and one allocation for all
    /// of them instead of one each (most of a message's cost in a batch); every message
    /// is a slice of the one buffer.
    #[napi]
    pub fn append_joined<'env>(&self, env: &'env Env, text: String, lens: Uint32ArraySlice<'env>) -> napi::Result<Settled<'env>> {
        let r = task::sync(|| Ok(self.inner.enqueue_many(split_utf16(text, &lens)?, false)))?;
        self.settle(env, r, None)
    }

    #[napi]
    pub fn flush<'env>(&self, env: &'env Env, abort: Option<&AbortToken>) -> napi::Result<PromiseRaw<'env, ()>> {
        let p = self.inner.clone();
        task::promise(env, abort, async move { p.flush().await })
    }

    #[napi]
    pub fn close<'env>(&self, env: &'env Env, data: Option<Data>) -> napi::Result<PromiseRaw<'env, NativeCloseResult>> {
        let (data, p) = (data.map(self::data), self.inner.clone());
        task::promise(env, None, async move { p.close(data).await.map(close_result) })
    }

    #[napi]
    pub fn detach<'env>(&self, env: &'env Env) -> napi::Result<PromiseRaw<'env, ()>> {
        let p = self.inner.clone();
        task::promise(env, None, async move { p.detach().await })
    }

    /// The epoch in use (changes after an auto-claim).
    #[napi(getter)]
    pub fn epoch(&self) -> i64 {
        self.inner.epoch() as i64
    }

    /// The sequence number the next batch will get.
    #[napi(getter)]
    pub fn next_seq(&self) -> i64 {
        self.inner.next_seq() as i64
    }

    /// Messages/bytes enqueued, sent, acknowledged; batches, requests, retries, in flight,
    /// buffered bytes, last error.
    #[napi]
    pub fn stats(&self) -> crate::stats::ProducerStats {
        self.inner.stats().into()
    }
}
