//! `NativeProducer`: the core's idempotent, batching producer.
//!
//! Enqueueing is synchronous (`tryAppend`) so that messages keep the order of the
//! JavaScript calls; only when the buffer limit is reached does the JavaScript layer fall
//! back to the waiting `append`, and it serialises those itself.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use durable_streams_sdk::{
    AppendAck, Error as CoreError, ErrorKind, Producer, ProducerOptions, RawProducerOptions,
};
use napi::Env;
use napi::Status;
use napi::bindgen_prelude::{Buffer, PromiseRaw, Unknown};
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi_derive::napi;

use crate::convert::{Data, data, header_list, integer, positive_ms};
use crate::error;
use crate::stream::{NativeCloseResult, NativeStream};
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
pub type ErrorFn = ThreadsafeFunction<
    NativeProducerError,
    Unknown<'static>,
    NativeProducerError,
    Status,
    false,
    true,
>;

#[napi(object)]
pub struct NativeAcked {
    pub next_offset: Option<String>,
    pub duplicate: bool,
    pub epoch: i64,
    pub seq: i64,
}

fn producer_options(
    o: NativeProducerOptions,
    on_error: Option<ErrorFn>,
) -> napi::Result<ProducerOptions> {
    let int = |field: &str, v: Option<f64>| v.map(|n| integer(field, n)).transpose();
    let mut opts = ProducerOptions::from_raw(RawProducerOptions {
        producer_id: Some(o.producer_id),
        epoch: int("epoch", o.epoch)?,
        auto_claim: o.auto_claim,
        max_batch_items: int("maxBatchItems", o.max_batch_items)?,
        max_batch_bytes: int("maxBatchBytes", o.max_batch_bytes)?,
        linger_ms: o.linger_ms,
        max_in_flight: int("maxInFlight", o.max_in_flight)?,
        buffer_limit_bytes: int("bufferLimitBytes", o.buffer_limit_bytes)?,
    })
    .map_err(error::core)?;
    if let Some(ms) = o.delivery_timeout_ms {
        opts.delivery_timeout = positive_ms("deliveryTimeoutMs", ms)?;
    }
    opts.content_type = o.content_type;
    opts.headers = header_list(o.headers);
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
    /// Start a producer (one `HEAD` unless the content type is known or given).
    #[napi]
    pub fn producer<'env>(
        &self,
        env: &'env Env,
        options: NativeProducerOptions,
        on_error: Option<ErrorFn>,
    ) -> napi::Result<PromiseRaw<'env, NativeProducer>> {
        let opts = producer_options(options, on_error)?;
        let stream = self.inner.clone();
        task::promise(env, None, async move {
            let p = Producer::start(stream, opts).await.map_err(error::core)?;
            Ok(NativeProducer { inner: p })
        })
    }
}

/// An acknowledgement to await: resolves once the message is durably stored.
#[napi]
pub struct NativeAck {
    rx: Arc<Mutex<Option<AppendAck>>>,
}

impl NativeAck {
    fn new(ack: AppendAck) -> Self {
        NativeAck {
            rx: Arc::new(Mutex::new(Some(ack))),
        }
    }
}

#[napi]
impl NativeAck {
    #[napi]
    pub fn wait<'env>(
        &self,
        env: &'env Env,
        abort: Option<&AbortToken>,
    ) -> napi::Result<PromiseRaw<'env, NativeAcked>> {
        let ack = self.rx.lock().unwrap_or_else(|p| p.into_inner()).take();
        task::promise(env, abort, async move {
            let ack = ack.ok_or_else(|| {
                error::local("CLOSED", "this acknowledgement was already awaited")
            })?;
            let a = ack.await.map_err(error::core)?;
            Ok(NativeAcked {
                next_offset: a.next_offset.map(|o| o.as_str().to_string()),
                duplicate: a.duplicate,
                epoch: a.epoch as i64,
                seq: a.seq as i64,
            })
        })
    }
}

#[napi]
pub struct NativeProducer {
    inner: Producer,
}

#[napi]
impl NativeProducer {
    /// Enqueue now: `true`, or `false` when the buffer limit is reached (the JavaScript layer
    /// then waits with `append`). Called once per message: no runtime lookup (enqueueing
    /// needs none) and no exception for a full buffer.
    #[napi]
    pub fn try_append(&self, data: Data) -> napi::Result<bool> {
        task::guarded(|| match self.inner.try_append(self::data(data), false) {
            Ok(_) => Ok(true),
            Err(e) if matches!(e.kind(), ErrorKind::BufferFull) => Ok(false),
            Err(e) => Err(error::core(e)),
        })
    }

    /// Like `tryAppend`, returning the acknowledgement (`null`: the buffer limit is reached).
    #[napi]
    pub fn try_append_ack(&self, data: Data) -> napi::Result<Option<NativeAck>> {
        task::guarded(|| match self.inner.try_append(self::data(data), true) {
            Ok(Some(ack)) => Ok(Some(NativeAck::new(ack))),
            Ok(None) => Err(error::panicked(
                "try_append(with_ack) returned no acknowledgement",
            )),
            Err(e) if matches!(e.kind(), ErrorKind::BufferFull) => Ok(None),
            Err(e) => Err(error::core(e)),
        })
    }

    /// Enqueue, waiting while the buffer limit is reached.
    #[napi]
    pub fn append<'env>(
        &self,
        env: &'env Env,
        data: Data,
        abort: Option<&AbortToken>,
    ) -> napi::Result<PromiseRaw<'env, ()>> {
        let data = self::data(data);
        let p = self.inner.clone();
        task::promise(env, abort, async move {
            p.append(data).await.map_err(error::core)
        })
    }

    /// Enqueue (waiting for buffer space), resolving to the acknowledgement handle.
    #[napi]
    pub fn append_ack<'env>(
        &self,
        env: &'env Env,
        data: Data,
        abort: Option<&AbortToken>,
    ) -> napi::Result<PromiseRaw<'env, NativeAck>> {
        let data = self::data(data);
        let p = self.inner.clone();
        task::promise(env, abort, async move {
            let ack = p.append_with_ack(data).await.map_err(error::core)?;
            Ok(NativeAck::new(ack))
        })
    }

    #[napi]
    pub fn flush<'env>(
        &self,
        env: &'env Env,
        abort: Option<&AbortToken>,
    ) -> napi::Result<PromiseRaw<'env, ()>> {
        let p = self.inner.clone();
        task::promise(
            env,
            abort,
            async move { p.flush().await.map_err(error::core) },
        )
    }

    #[napi]
    pub fn close<'env>(
        &self,
        env: &'env Env,
        data: Option<Data>,
    ) -> napi::Result<PromiseRaw<'env, NativeCloseResult>> {
        let data = data.map(self::data);
        let p = self.inner.clone();
        task::promise(env, None, async move {
            let r = p.close(data).await.map_err(error::core)?;
            Ok(NativeCloseResult {
                final_offset: r.final_offset.as_str().to_string(),
            })
        })
    }

    #[napi]
    pub fn detach<'env>(&self, env: &'env Env) -> napi::Result<PromiseRaw<'env, ()>> {
        let p = self.inner.clone();
        task::promise(
            env,
            None,
            async move { p.detach().await.map_err(error::core) },
        )
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
}
