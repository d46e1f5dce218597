//! # durable-streams-sdk
//!
//! One client core for the [Durable Streams] protocol — persistent, resumable,
//! append-only event streams over plain HTTP — shared by the Python, Node.js,
//! Kotlin, Swift and Elixir bindings.
//!
//! ```no_run
//! # async fn demo() -> durable_streams_sdk::Result<()> {
//! use durable_streams_sdk::{Client, CreateOptions, LiveMode, Offset, ReadOptions};
//!
//! let client = Client::new("http://127.0.0.1:4437")?;
//! let stream = client.stream("/events/orders")?;
//! stream.create(CreateOptions { content_type: Some("application/json".into()), ..Default::default() }).await?;
//! stream.append_json(&serde_json::json!({"order": 1}), Default::default()).await?;
//!
//! let mut session = stream.read(ReadOptions { offset: Offset::beginning(), live: LiveMode::Auto, ..Default::default() });
//! while let Some(chunk) = session.next_chunk().await? {
//!     println!("{} bytes, resume at {}", chunk.data.len(), chunk.next_offset);
//!     if chunk.up_to_date { break; }
//! }
//! # Ok(()) }
//! ```
//!
//! The public API, at a glance:
//! - [`Client`] / [`ClientBuilder`]: base URL, default and per-request dynamic headers
//!   and query parameters, [`RetryPolicy`], timeouts, pooled keep-alive connections.
//! - [`Stream`]: `create`, `append` (bytes, text, JSON), `close`, `delete`, `head`,
//!   `read`, `read_all`.
//! - [`ReadSession`]: catch-up, long-poll, SSE and auto reads yielding [`Chunk`]s,
//!   or JSON messages through [`JsonItems`].
//! - [`Error`]: one error type; [`Error::code`] is stable across every binding.
//! - [`Producer`] (exactly-once batching writes) and [`Consumer`] (follow a stream,
//!   pull or pushed to a handler).
//! - [`ffi`]: the layer every language binding is written against (flat errors and
//!   the error table, pull handles, panic-safe spawning on the shared [`runtime`]).
//!
//! [Durable Streams]: https://github.com/durable-streams/durable-streams

mod client;
mod consumer;
mod error;
pub mod ffi;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod headers;
mod offset;
mod owned;
mod producer;
mod read;
mod retry;
pub mod stats;
pub mod runtime;
mod status;
mod stream;
pub mod trace;

pub use client::{Client, ClientBuilder, SentValues};
pub use consumer::{Consumer, ConsumerController, ConsumerEnd, ConsumerEvent, ConsumerHandle, ConsumerHandler, ConsumerOptions, Decision};
pub use error::{Error, ErrorKind, Result};
pub use headers::{BoxFuture, ValueProvider};
pub use offset::Offset;
pub use producer::{
    AppendAck, Acked, DEFAULT_MAX_BATCH_ITEMS, Enqueued, MESSAGE_OVERHEAD_BYTES, EnqueueWait, ErrorCallback, Producer, ProducerCounters, ProducerOptions,
    RawProducerOptions,
};
pub use read::{Chunk, JsonItems, LiveMode, PrefetchedSession, ReadOptions, ReadSession};
pub use retry::{AppendRetry, RetryPolicy};
pub use stream::{
    AppendOptions, AppendResult, CloseOptions, CloseResult, CreateOptions, CreateResult, DEFAULT_CONTENT_TYPE,
    ForkOptions, ProducerHeaders, Stream, StreamMetadata,
};
