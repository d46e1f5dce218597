//! Consumers: a pull handle over events, or batches pushed to a foreign callback.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use durable_streams_sdk as core;
use durable_streams_sdk::{ffi, BoxFuture, Offset};

use crate::client::header_list;
use crate::error::{into_core, ErrorDetails, FfiError};
use crate::read::{chunk, Chunk};
use crate::run as spawn_run;

#[derive(uniffi::Record)]
pub struct ConsumerOptions {
    #[uniffi(default = "-1")]
    pub offset: String,
    #[uniffi(default = "auto")]
    pub live: String,
    #[uniffi(default)]
    pub backoff_base_ms: Option<u64>,
    #[uniffi(default)]
    pub backoff_max_ms: Option<u64>,
    #[uniffi(default)]
    pub headers: HashMap<String, String>,
    #[uniffi(default)]
    pub max_chunk_bytes: Option<u64>,
}

#[derive(uniffi::Enum)]
pub enum ConsumerEvent {
    Batch { chunk: Chunk },
    UpToDate { offset: String },
    Closed { final_offset: String },
    Reconnecting { error: ErrorDetails, retry_in_ms: u64 },
}

#[derive(uniffi::Enum)]
pub enum ConsumerEnd {
    Closed { final_offset: String },
    Stopped { checkpoint: String },
    CaughtUp { checkpoint: String },
}

#[derive(uniffi::Enum, Clone, Copy)]
pub enum Decision {
    Continue,
    Stop,
}

/// A pushed consumer's handler, implemented in Kotlin / Swift.
#[uniffi::export(with_foreign)]
#[async_trait::async_trait]
pub trait ConsumerCallback: Send + Sync {
    /// New data. An error is passed to `handle_error` and the batch is not accepted.
    async fn handle_batch(&self, batch: Chunk) -> Result<Decision, FfiError>;
    /// A failure: `Continue` reconnects from the checkpoint after backoff.
    async fn handle_error(&self, error: ErrorDetails) -> Result<Decision, FfiError>;
}

fn core_consumer(stream: core::Stream, o: ConsumerOptions) -> core::Result<core::Consumer> {
    let d = core::ConsumerOptions::default();
    let opts = core::ConsumerOptions {
        offset: Offset::parse(&o.offset)?,
        live: o.live.parse()?,
        backoff_base: o.backoff_base_ms.map(Duration::from_millis).unwrap_or(d.backoff_base),
        backoff_max: o.backoff_max_ms.map(Duration::from_millis).unwrap_or(d.backoff_max),
        headers: header_list(o.headers),
        max_chunk_bytes: o.max_chunk_bytes.map(|n| usize::try_from(n).unwrap_or(usize::MAX)).unwrap_or(d.max_chunk_bytes),
    };
    core::Consumer::new(stream, opts)
}

fn decision(d: Decision) -> core::Decision {
    match d {
        Decision::Continue => core::Decision::Continue,
        Decision::Stop => core::Decision::Stop,
    }
}

fn end(e: core::ConsumerEnd) -> ConsumerEnd {
    match e {
        core::ConsumerEnd::Closed { final_offset } => ConsumerEnd::Closed { final_offset: final_offset.as_str().into() },
        core::ConsumerEnd::Stopped { checkpoint } => ConsumerEnd::Stopped { checkpoint: checkpoint.as_str().into() },
        core::ConsumerEnd::CaughtUp { checkpoint } => ConsumerEnd::CaughtUp { checkpoint: checkpoint.as_str().into() },
    }
}

fn event(e: core::ConsumerEvent) -> ConsumerEvent {
    match e {
        core::ConsumerEvent::Batch(c) => ConsumerEvent::Batch { chunk: chunk(c) },
        core::ConsumerEvent::UpToDate { offset } => ConsumerEvent::UpToDate { offset: offset.as_str().into() },
        core::ConsumerEvent::Closed { final_offset } => ConsumerEvent::Closed { final_offset: final_offset.as_str().into() },
        core::ConsumerEvent::Reconnecting { error, retry_in } => {
            ConsumerEvent::Reconnecting { error: (&error).into(), retry_in_ms: retry_in.as_millis() as u64 }
        }
    }
}

struct Handler(Arc<dyn ConsumerCallback>);

impl core::ConsumerHandler for Handler {
    fn on_batch(&self, batch: core::Chunk) -> BoxFuture<'_, core::Result<core::Decision>> {
        Box::pin(async move { self.0.handle_batch(chunk(batch)).await.map(decision).map_err(into_core) })
    }

    fn on_error(&self, error: &core::Error) -> BoxFuture<'_, core::Decision> {
        let details = ErrorDetails::from(error);
        Box::pin(async move { self.0.handle_error(details).await.map(decision).unwrap_or(core::Decision::Stop) })
    }
}

#[derive(uniffi::Object)]
pub struct ConsumerEvents {
    inner: Arc<ffi::ConsumerEvents>,
}

pub(crate) fn events(stream: core::Stream, o: ConsumerOptions) -> core::Result<Arc<ConsumerEvents>> {
    let consumer = core_consumer(stream, o)?;
    Ok(Arc::new(ConsumerEvents { inner: Arc::new(ffi::ConsumerEvents::new(consumer)) }))
}

#[uniffi::export]
impl ConsumerEvents {
    /// The next event; `None` once the consumer has ended or was cancelled.
    pub async fn next(&self) -> Result<Option<ConsumerEvent>, FfiError> {
        let h = self.inner.clone();
        Ok(spawn_run(async move { h.next().await }).await?.map(event))
    }

    /// The offset after the last batch taken: persist it to resume later.
    pub fn checkpoint(&self) -> String {
        self.inner.checkpoint().as_str().into()
    }

    pub fn cancel(&self) {
        self.inner.cancel();
    }
}

#[derive(uniffi::Object)]
pub struct ConsumerRun {
    inner: Arc<ffi::ConsumerRun>,
}

pub(crate) fn run_consumer(stream: core::Stream, o: ConsumerOptions, cb: Arc<dyn ConsumerCallback>) -> core::Result<Arc<ConsumerRun>> {
    let consumer = core_consumer(stream, o)?;
    Ok(Arc::new(ConsumerRun { inner: Arc::new(ffi::ConsumerRun::start(consumer, Arc::new(Handler(cb)))) }))
}


#[uniffi::export]
impl ConsumerRun {
    /// Wait for the end; every waiter gets the same outcome.
    pub async fn wait(&self) -> Result<ConsumerEnd, FfiError> {
        let h = self.inner.clone();
        spawn_run(async move { h.wait().await }).await.map(end)
    }

    pub fn checkpoint(&self) -> String {
        self.inner.checkpoint().as_str().into()
    }

    pub fn pause(&self) {
        self.inner.controller().pause();
    }

    pub fn resume(&self) {
        self.inner.controller().resume();
    }

    /// Stop after the batch in hand; `wait` then reports `Stopped`.
    pub fn stop(&self) {
        self.inner.stop();
    }

    /// Abort at once (waiters get `CANCELLED`).
    pub fn cancel(&self) {
        self.inner.cancel();
    }
}
