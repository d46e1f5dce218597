//! The idempotent producer: synchronous enqueue (order = call order), a waiting
//! variant for back-pressure, acknowledgements as handles to await.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use durable_streams_sdk as core;
use durable_streams_sdk::{Enqueued, RawProducerOptions};

use crate::client::CloseResult;
use crate::error::FfiError;
use crate::{run, sync};

#[derive(uniffi::Record)]
pub struct ProducerOptions {
    pub producer_id: String,
    #[uniffi(default = 0)]
    pub epoch: i64,
    #[uniffi(default = false)]
    pub auto_claim: bool,
    #[uniffi(default)]
    pub max_batch_items: Option<i64>,
    #[uniffi(default)]
    pub max_batch_bytes: Option<i64>,
    #[uniffi(default)]
    pub linger_ms: Option<f64>,
    #[uniffi(default)]
    pub max_in_flight: Option<i64>,
    #[uniffi(default)]
    pub buffer_limit_bytes: Option<i64>,
    #[uniffi(default)]
    pub content_type: Option<String>,
    #[uniffi(default)]
    pub headers: std::collections::HashMap<String, String>,
    /// How long a message may wait for delivery before it is reported lost (ms).
    #[uniffi(default)]
    pub delivery_timeout_ms: Option<f64>,
}

/// Where an acknowledged message landed.
#[derive(uniffi::Record)]
pub struct Acked {
    pub next_offset: Option<String>,
    pub duplicate: bool,
    pub epoch: u64,
    pub seq: u64,
}

#[derive(uniffi::Record)]
pub struct ProducerCounters {
    pub requests: u64,
    pub sequence_gaps: u64,
    pub failures: u64,
}

#[derive(uniffi::Object)]
pub struct Producer {
    inner: core::Producer,
}

/// Resolves when its message is stored (or its batch failed).
#[derive(uniffi::Object)]
pub struct AckHandle {
    wait: Mutex<Option<AckWait>>,
}

enum AckWait {
    Ack(core::AppendAck),
    Queued(core::EnqueueWait),
}

impl Producer {
    pub(crate) fn start(stream: core::Stream, o: ProducerOptions) -> core::Result<Arc<Producer>> {
        let opts = core::ProducerOptions::from_raw(RawProducerOptions {
            producer_id: Some(o.producer_id),
            epoch: Some(o.epoch),
            auto_claim: Some(o.auto_claim),
            max_batch_items: o.max_batch_items,
            max_batch_bytes: o.max_batch_bytes,
            linger_ms: o.linger_ms,
            max_in_flight: o.max_in_flight,
            buffer_limit_bytes: o.buffer_limit_bytes,
            delivery_timeout_ms: o.delivery_timeout_ms,
            content_type: o.content_type,
            headers: o.headers.into_iter().collect(),
        })?;
        Ok(Arc::new(Producer { inner: core::Producer::start_now(stream, opts)? }))
    }
}

fn acked(a: core::Acked) -> Acked {
    Acked { next_offset: a.next_offset.map(|o| o.as_str().to_string()), duplicate: a.duplicate, epoch: a.epoch, seq: a.seq }
}

#[uniffi::export]
impl Producer {
    /// Enqueue without waiting; `BUFFER_FULL` when the buffer limit is reached.
    pub fn try_append(&self, data: Vec<u8>) -> Result<(), FfiError> {
        sync(|| self.inner.try_append(data, false).map(drop))
    }

    /// Enqueue; the message's place is fixed by this call. Returns `false` if it
    /// waits in line for buffer room (it is not withdrawn; await `append` to wait).
    pub fn enqueue(&self, data: Vec<u8>) -> Result<bool, FfiError> {
        sync(|| Ok(!matches!(self.inner.enqueue(data.into(), false)?, Enqueued::Wait(_))))
    }

    /// Enqueue many messages in one crossing, in order.
    pub fn enqueue_many(&self, messages: Vec<Vec<u8>>) -> Result<bool, FfiError> {
        sync(|| {
            let msgs = messages.into_iter().map(Into::into).collect();
            Ok(!matches!(self.inner.enqueue_many(msgs, false)?, Enqueued::Wait(_)))
        })
    }

    /// Enqueue, waiting while the buffer limit is reached (back-pressure).
    pub async fn append(&self, data: Vec<u8>) -> Result<(), FfiError> {
        let p = self.inner.clone();
        run(async move { p.append(data).await }).await
    }

    /// Enqueue now (place fixed by this call) and hand back its acknowledgement.
    pub fn append_with_ack(&self, data: Vec<u8>) -> Result<Arc<AckHandle>, FfiError> {
        sync(|| {
            let wait = match self.inner.enqueue(data.into(), true)? {
                Enqueued::Ack(a) => AckWait::Ack(a),
                Enqueued::Wait(w) => AckWait::Queued(w),
                Enqueued::Accepted => return Err(core::Error::internal("enqueue with ack returned no ack")),
            };
            Ok(Arc::new(AckHandle { wait: Mutex::new(Some(wait)) }))
        })
    }

    /// Wait until everything enqueued so far is stored; fails if any of it was lost.
    pub async fn flush(&self) -> Result<(), FfiError> {
        let p = self.inner.clone();
        run(async move { p.flush().await }).await
    }

    /// Flush, then close the stream (appending `data` atomically as a final message).
    pub async fn close_stream(&self, data: Option<Vec<u8>>) -> Result<CloseResult, FfiError> {
        let p = self.inner.clone();
        let r = run(async move { p.close(data.map(Into::into)).await }).await?;
        Ok(CloseResult { final_offset: r.final_offset.as_str().to_string() })
    }

    /// Flush, then stop without closing the stream.
    pub async fn detach(&self) -> Result<(), FfiError> {
        let p = self.inner.clone();
        run(async move { p.detach().await }).await
    }

    /// `detach` for a caller that cannot suspend (`AutoCloseable.close`), waiting at
    /// most `timeout_ms`.
    pub fn detach_blocking(&self, timeout_ms: u64) -> Result<(), FfiError> {
        let p = self.inner.clone();
        sync(move || {
            core::runtime::block_on(async move {
                tokio::time::timeout(Duration::from_millis(timeout_ms), p.detach())
                    .await
                    .unwrap_or_else(|_| Err(core::Error::new(core::ErrorKind::Timeout, "producer detach timed out")))
            })
        })
    }

    pub fn epoch(&self) -> u64 {
        self.inner.epoch()
    }

    pub fn next_seq(&self) -> u64 {
        self.inner.next_seq()
    }

    pub fn counters(&self) -> ProducerCounters {
        let c = self.inner.counters();
        ProducerCounters { requests: c.requests, sequence_gaps: c.sequence_gaps, failures: c.failures }
    }
}

#[uniffi::export]
impl AckHandle {
    /// Wait for the acknowledgement (only one caller gets it; later calls: `CLOSED`).
    pub async fn wait(&self) -> Result<Acked, FfiError> {
        let wait = self.wait.lock().unwrap_or_else(|p| p.into_inner()).take();
        run(async move {
            let ack = match wait {
                Some(AckWait::Ack(a)) => a,
                Some(AckWait::Queued(w)) => w.await?.ok_or_else(|| core::Error::internal("queued message has no ack"))?,
                None => return Err(core::Error::new(core::ErrorKind::Closed, "acknowledgement already taken")),
            };
            ack.await.map(acked)
        })
        .await
    }
}
