//! Client and Stream: option records in, result records out.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use durable_streams_sdk as core;
use durable_streams_sdk::{BoxFuture, Offset, ValueProvider};

use crate::consumer::{self, ConsumerCallback, ConsumerEvents, ConsumerOptions, ConsumerRun};
use crate::error::{into_core, FfiError};
use crate::producer::{Producer, ProducerOptions};
use crate::read::{ReadOptions, ReadSession};
use crate::shutdown::Shutdown;
use crate::{run, sync};

/// A header or query value computed afresh for every request (refreshed tokens,
/// correlation ids). Implemented in Kotlin / Swift.
#[uniffi::export(with_foreign)]
#[async_trait::async_trait]
pub trait ValueSource: Send + Sync {
    async fn value(&self) -> Result<String, FfiError>;
}

struct Foreign(Arc<dyn ValueSource>);

impl ValueProvider for Foreign {
    fn value(&self) -> BoxFuture<'_, core::Result<String>> {
        Box::pin(async move { self.0.value().await.map_err(into_core) })
    }
}

#[derive(uniffi::Record)]
pub struct ClientOptions {
    #[uniffi(default)]
    pub headers: HashMap<String, String>,
    #[uniffi(default)]
    pub dynamic_headers: HashMap<String, Arc<dyn ValueSource>>,
    #[uniffi(default)]
    pub dynamic_params: HashMap<String, Arc<dyn ValueSource>>,
    #[uniffi(default)]
    pub max_retries: Option<i64>,
    #[uniffi(default)]
    pub initial_delay_ms: Option<f64>,
    #[uniffi(default)]
    pub max_delay_ms: Option<f64>,
    #[uniffi(default)]
    pub multiplier: Option<f64>,
    /// `when-unprocessed` (default) or `at-least-once`.
    #[uniffi(default)]
    pub append_retry: Option<String>,
    #[uniffi(default)]
    pub connect_timeout_ms: Option<u64>,
    #[uniffi(default)]
    pub request_timeout_ms: Option<u64>,
    #[uniffi(default)]
    pub live_idle_timeout_ms: Option<u64>,
    /// Ask for gzip/deflate-compressed read responses (the core's default: yes).
    #[uniffi(default)]
    pub compression: Option<bool>,
}

#[derive(uniffi::Object)]
pub struct Client {
    inner: core::Client,
}

#[uniffi::export]
impl Client {
    #[uniffi::constructor]
    pub fn new(base_url: String, options: ClientOptions) -> Result<Arc<Client>, FfiError> {
        sync(|| {
            let mut retry = core::RetryPolicy::from_parts(
                options.max_retries,
                options.initial_delay_ms,
                options.max_delay_ms,
                options.multiplier,
            )?;
            if let Some(a) = &options.append_retry {
                retry.append_retry = a.parse()?;
            }
            let mut b = core::Client::builder(base_url).retry_policy(retry);
            for (name, value) in options.headers {
                b = b.header(name, value);
            }
            for (name, src) in options.dynamic_headers {
                b = b.dynamic_header_arc(name, Arc::new(Foreign(src)));
            }
            for (name, src) in options.dynamic_params {
                b = b.dynamic_param_arc(name, Arc::new(Foreign(src)));
            }
            if let Some(ms) = options.connect_timeout_ms {
                b = b.connect_timeout(Duration::from_millis(ms));
            }
            if let Some(ms) = options.request_timeout_ms {
                b = b.request_timeout(Duration::from_millis(ms));
            }
            if let Some(ms) = options.live_idle_timeout_ms {
                b = b.live_idle_timeout(Duration::from_millis(ms));
            }
            if let Some(c) = options.compression {
                b = b.compression(c);
            }
            Ok(Arc::new(Client { inner: b.build()? }))
        })
    }

    /// A handle on the stream at `path` (relative to the base URL), optionally primed
    /// with its content type (saves a HEAD before appends).
    pub fn stream(&self, path: String, content_type: Option<String>) -> Result<Arc<Stream>, FfiError> {
        sync(|| {
            let s = self.inner.stream(&path)?;
            let inner = match content_type {
                Some(ct) => s.with_content_type(ct),
                None => s,
            };
            Ok(Arc::new(Stream { inner }))
        })
    }

    pub fn base_url(&self) -> String {
        self.inner.base_url().to_string()
    }

    /// Close the client (the core's `Client::close`), for every stream made from it: from
    /// this call on, their operations fail with `CLOSED`, live reads end, pushed
    /// consumers stop, producers flush and detach; the returned [`Shutdown`] waits for
    /// them; a later call waits for the same flush. Not named `close`: UniFFI's Kotlin objects are
    /// `AutoCloseable`, whose `close()` frees the handle.
    pub fn shutdown(&self) -> Arc<Shutdown> {
        Shutdown::start(&self.inner)
    }

    /// Whether [`Client::shutdown`] was called.
    pub fn is_closed(&self) -> bool {
        self.inner.is_closed()
    }
}

#[derive(uniffi::Record)]
pub struct CreateOptions {
    #[uniffi(default)]
    pub content_type: Option<String>,
    #[uniffi(default)]
    pub ttl_seconds: Option<u64>,
    #[uniffi(default)]
    pub expires_at: Option<String>,
    #[uniffi(default = false)]
    pub closed: bool,
    #[uniffi(default)]
    pub body: Option<Vec<u8>>,
    #[uniffi(default)]
    pub headers: HashMap<String, String>,
}

#[derive(uniffi::Record)]
pub struct CreateResult {
    pub created: bool,
    pub status: u16,
    pub next_offset: Option<String>,
    pub content_type: Option<String>,
    pub closed: bool,
}

#[derive(uniffi::Record)]
pub struct AppendOptions {
    #[uniffi(default)]
    pub content_type: Option<String>,
    /// `Stream-Seq`: a writer's own ordering token.
    #[uniffi(default)]
    pub seq: Option<String>,
    /// Manual producer headers (all three or none).
    #[uniffi(default)]
    pub producer_id: Option<String>,
    #[uniffi(default)]
    pub producer_epoch: Option<u64>,
    #[uniffi(default)]
    pub producer_seq: Option<u64>,
    #[uniffi(default)]
    pub headers: HashMap<String, String>,
}

#[derive(uniffi::Record)]
pub struct AppendResult {
    pub status: u16,
    pub next_offset: Option<String>,
    pub stream_closed: bool,
    pub duplicate: bool,
    pub producer_epoch: Option<u64>,
    pub producer_seq: Option<u64>,
    /// Dynamic header / parameter values sent with the request.
    pub sent_headers: HashMap<String, String>,
    pub sent_params: HashMap<String, String>,
}

#[derive(uniffi::Record)]
pub struct CloseOptions {
    #[uniffi(default)]
    pub data: Option<Vec<u8>>,
    #[uniffi(default)]
    pub content_type: Option<String>,
    #[uniffi(default)]
    pub headers: HashMap<String, String>,
}

#[derive(uniffi::Record)]
pub struct CloseResult {
    pub final_offset: String,
}

#[derive(uniffi::Record)]
pub struct StreamMetadata {
    pub content_type: Option<String>,
    pub next_offset: String,
    pub closed: bool,
    pub ttl_seconds: Option<u64>,
    pub expires_at: Option<String>,
    pub etag: Option<String>,
}

#[derive(uniffi::Object)]
pub struct Stream {
    pub(crate) inner: core::Stream,
}

pub(crate) fn header_list(h: HashMap<String, String>) -> Vec<(String, String)> {
    h.into_iter().collect()
}

#[uniffi::export]
impl Stream {
    pub fn url(&self) -> String {
        self.inner.url().to_string()
    }

    pub async fn create(&self, options: CreateOptions) -> Result<CreateResult, FfiError> {
        let s = self.inner.clone();
        let opts = core::CreateOptions {
            content_type: options.content_type,
            ttl_seconds: options.ttl_seconds,
            expires_at: options.expires_at,
            closed: options.closed,
            body: options.body.map(Into::into),
            headers: header_list(options.headers),
            ..Default::default()
        };
        let r = run(async move { s.create(opts).await }).await?;
        Ok(CreateResult {
            created: r.created,
            status: r.status,
            next_offset: r.next_offset.map(|o| o.as_str().to_string()),
            content_type: r.content_type,
            closed: r.closed,
        })
    }

    /// Append one message of bytes (on a JSON stream: the text of one JSON value).
    pub async fn append(&self, data: Vec<u8>, options: AppendOptions) -> Result<AppendResult, FfiError> {
        let s = self.inner.clone();
        let producer = core::ProducerHeaders::from_parts(options.producer_id, options.producer_epoch, options.producer_seq)?;
        let opts = core::AppendOptions {
            content_type: options.content_type,
            seq: options.seq,
            producer,
            headers: header_list(options.headers),
            ..Default::default()
        };
        let r = run(async move { s.append(data, opts).await }).await?;
        let (sent_headers, sent_params) = r.sent.into_maps();
        Ok(AppendResult {
            status: r.status,
            next_offset: r.next_offset.map(|o| o.as_str().to_string()),
            stream_closed: r.stream_closed,
            duplicate: r.duplicate,
            producer_epoch: r.producer_epoch,
            producer_seq: r.producer_seq,
            sent_headers,
            sent_params,
        })
    }

    pub async fn append_text(&self, text: String, options: AppendOptions) -> Result<AppendResult, FfiError> {
        self.append(text.into_bytes(), options).await
    }

    /// Append the text of one JSON value as one message of a JSON stream.
    pub async fn append_json(&self, json: String, mut options: AppendOptions) -> Result<AppendResult, FfiError> {
        options.content_type.get_or_insert_with(|| "application/json".into());
        self.append(json.into_bytes(), options).await
    }

    pub async fn close(&self, options: CloseOptions) -> Result<CloseResult, FfiError> {
        let s = self.inner.clone();
        let opts = core::CloseOptions {
            data: options.data.map(Into::into),
            content_type: options.content_type,
            headers: header_list(options.headers),
        };
        let r = run(async move { s.close(opts).await }).await?;
        Ok(CloseResult { final_offset: r.final_offset.as_str().to_string() })
    }

    pub async fn delete(&self, headers: HashMap<String, String>) -> Result<(), FfiError> {
        let s = self.inner.clone();
        run(async move { s.delete_with_headers(&header_list(headers)).await }).await
    }

    pub async fn head(&self, headers: HashMap<String, String>) -> Result<StreamMetadata, FfiError> {
        let s = self.inner.clone();
        let m = run(async move { s.head_with_headers(&header_list(headers)).await }).await?;
        Ok(StreamMetadata {
            content_type: m.content_type,
            next_offset: m.next_offset.as_str().to_string(),
            closed: m.closed,
            ttl_seconds: m.ttl_seconds,
            expires_at: m.expires_at,
            etag: m.etag,
        })
    }

    /// Start a read session (nothing is sent until the first `next`).
    pub fn read(&self, options: ReadOptions) -> Result<Arc<ReadSession>, FfiError> {
        let s = self.inner.clone();
        sync(move || ReadSession::start(&s, options))
    }

    /// Everything from `offset` to the current tail, as one byte array.
    pub async fn read_all(&self, offset: String) -> Result<Vec<u8>, FfiError> {
        let s = self.inner.clone();
        run(async move { s.read_all(Offset::parse(&offset)?).await.map(|b| b.to_vec()) }).await
    }

    /// An idempotent (exactly-once) producer on this stream; starts lazily.
    pub fn producer(&self, options: ProducerOptions) -> Result<Arc<Producer>, FfiError> {
        let s = self.inner.clone();
        sync(move || Producer::start(s, options))
    }

    /// A consumer handed out as a pull handle over its events.
    pub fn consumer_events(&self, options: ConsumerOptions) -> Result<Arc<ConsumerEvents>, FfiError> {
        let s = self.inner.clone();
        sync(move || consumer::events(s, options))
    }

    /// A consumer pushing batches to `callback` on the shared runtime.
    pub fn consume(&self, options: ConsumerOptions, callback: Arc<dyn ConsumerCallback>) -> Result<Arc<ConsumerRun>, FfiError> {
        let s = self.inner.clone();
        sync(move || consumer::run_consumer(s, options, callback))
    }
}
