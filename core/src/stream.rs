//! Stream handles and the one-request operations: create, append, close, delete, head.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderValue, RETRY_AFTER};
use reqwest::{Method, Response};
use tokio::sync::oneshot;
use url::Url;

use crate::client::{Client, Outcome, Repeat, Request, SentValues, header_pair};
use crate::error::{Error, ErrorKind, Result};
use crate::headers::{self, *};
use crate::offset::Offset;
use crate::read::{ReadOptions, ReadSession};
use crate::status::{Op, error_for_response};

/// Content type a stream gets when none is given.
pub const DEFAULT_CONTENT_TYPE: &str = "application/octet-stream";

/// A handle on one stream. Cheap to clone (clones share what was learnt about the
/// stream, such as its content type); no I/O happens until an operation is called.
#[derive(Clone)]
pub struct Stream {
    pub(crate) client: Client,
    pub(crate) url: Arc<Url>,
    content_type: Arc<Mutex<Option<String>>>,
}

/// Options for [`Stream::create`].
#[derive(Debug, Clone, Default)]
pub struct CreateOptions {
    /// Content type of the stream; the server defaults to `application/octet-stream`.
    pub content_type: Option<String>,
    /// Sliding time-to-live in seconds (`Stream-TTL`).
    pub ttl_seconds: Option<u64>,
    /// Absolute expiry, RFC 3339 (`Stream-Expires-At`).
    pub expires_at: Option<String>,
    /// Create the stream already closed; `body` becomes its complete content.
    pub closed: bool,
    /// Initial content.
    pub body: Option<Bytes>,
    /// Create as a fork of another stream on the same server.
    pub fork: Option<ForkOptions>,
    /// Extra headers for this request.
    pub headers: Vec<(String, String)>,
}

/// Where a fork diverges from its source.
#[derive(Debug, Clone, Default)]
pub struct ForkOptions {
    /// Path of the source stream on the same server.
    pub source_path: String,
    /// Divergence point (a server-issued offset); default: the source's tail.
    pub offset: Option<Offset>,
    /// Messages (JSON) or bytes past `offset`.
    pub sub_offset: Option<u64>,
}

/// What [`Stream::create`] found.
#[derive(Debug, Clone)]
pub struct CreateResult {
    /// `true` for `201 Created`, `false` when an identical stream already existed.
    pub created: bool,
    pub status: u16,
    pub next_offset: Option<Offset>,
    pub content_type: Option<String>,
    pub closed: bool,
}

/// Options for [`Stream::append`].
#[derive(Debug, Clone, Default)]
pub struct AppendOptions {
    /// Overrides the stream's known content type for this request.
    pub content_type: Option<String>,
    /// `Stream-Seq` writer-coordination token (compared byte-wise by the server).
    pub seq: Option<String>,
    /// Manual idempotent-producer headers (all three together).
    pub producer: Option<ProducerHeaders>,
    /// Append and close atomically.
    pub close: bool,
    /// Extra headers for this request.
    pub headers: Vec<(String, String)>,
}

/// A complete set of idempotent-producer headers for a manual append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducerHeaders {
    pub id: String,
    pub epoch: u64,
    pub seq: u64,
}

impl ProducerHeaders {
    /// The headers from three optional parts given by a caller: all three, or none
    /// (`None`); a partial set is an error rather than an append without them.
    pub fn from_parts(id: Option<String>, epoch: Option<u64>, seq: Option<u64>) -> Result<Option<ProducerHeaders>> {
        match (id, epoch, seq) {
            (Some(id), Some(epoch), Some(seq)) => Ok(Some(ProducerHeaders { id, epoch, seq })),
            (None, None, None) => Ok(None),
            _ => Err(Error::invalid_argument(
                "producerId",
                "producerId, producerEpoch and producerSeq must be given together",
            )),
        }
    }
}

/// What the server said about an append.
#[derive(Debug, Clone, Default)]
pub struct AppendResult {
    pub status: u16,
    /// New tail. (A producer duplicate may not carry one.)
    pub next_offset: Option<Offset>,
    pub stream_closed: bool,
    /// Producer requests only: the server had already stored this (epoch, seq).
    pub duplicate: bool,
    pub producer_epoch: Option<u64>,
    pub producer_seq: Option<u64>,
    /// Dynamic header/param values used on the final attempt.
    pub sent: SentValues,
}

/// Options for [`Stream::close`].
#[derive(Debug, Clone, Default)]
pub struct CloseOptions {
    /// A final message appended atomically with the close.
    pub data: Option<Bytes>,
    pub content_type: Option<String>,
    pub headers: Vec<(String, String)>,
}

/// Result of a close.
#[derive(Debug, Clone)]
pub struct CloseResult {
    pub final_offset: Offset,
}

/// Metadata from `HEAD`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamMetadata {
    pub content_type: Option<String>,
    pub next_offset: Offset,
    pub closed: bool,
    pub ttl_seconds: Option<u64>,
    pub expires_at: Option<String>,
    pub etag: Option<String>,
}

impl Stream {
    pub(crate) fn new(client: Client, url: Url) -> Stream {
        Stream { client, url: Arc::new(url), content_type: Arc::new(Mutex::new(None)) }
    }

    /// A handle that already knows the stream's content type (saves a `HEAD` before
    /// the first append).
    pub fn with_content_type(self, content_type: impl Into<String>) -> Stream {
        self.remember_content_type(Some(content_type.into()));
        self
    }

    pub fn url(&self) -> &Url {
        &self.url
    }

    /// The content type learnt from create/head/reads, if any.
    pub fn known_content_type(&self) -> Option<String> {
        self.content_type.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub(crate) fn remember_content_type(&self, ct: Option<String>) {
        if let Some(ct) = ct {
            *self.content_type.lock().unwrap_or_else(|p| p.into_inner()) = Some(ct);
        }
    }

    /// The stream's content type: known, or learnt with one `HEAD`.
    pub async fn content_type(&self) -> Result<String> {
        if let Some(ct) = self.known_content_type() {
            return Ok(ct);
        }
        let meta = self.head_unchecked(&[]).await?;
        Ok(meta.content_type.unwrap_or_else(|| DEFAULT_CONTENT_TYPE.to_string()))
    }

    /// Create the stream, or confirm that an identical one exists.
    pub async fn create(&self, opts: CreateOptions) -> Result<CreateResult> {
        self.check_open()?;
        let mut h = extra_headers(&opts.headers)?;
        let ct = opts.content_type.clone();
        if let Some(ct) = &ct {
            h.insert(CONTENT_TYPE, header_value("contentType", ct)?);
        }
        if let Some(ttl) = opts.ttl_seconds {
            h.insert(STREAM_TTL, HeaderValue::from(ttl));
        }
        if let Some(exp) = &opts.expires_at {
            h.insert(STREAM_EXPIRES_AT, header_value("expiresAt", exp)?);
        }
        if opts.closed {
            h.insert(STREAM_CLOSED, HeaderValue::from_static("true"));
        }
        if let Some(fork) = &opts.fork {
            if fork.source_path.is_empty() {
                return Err(Error::invalid_argument("forkedFrom", "source path must not be empty"));
            }
            h.insert(STREAM_FORKED_FROM, header_value("forkedFrom", &fork.source_path)?);
            if let Some(o) = &fork.offset {
                h.insert(STREAM_FORK_OFFSET, header_value("forkOffset", o.as_str())?);
            }
            if let Some(s) = fork.sub_offset {
                h.insert(STREAM_FORK_SUB_OFFSET, HeaderValue::from(s));
            }
        }
        let resp = self
            .send(Method::PUT, h, opts.body.clone(), Repeat::Safe, None)
            .await?;
        let status = resp.status().as_u16();
        if !(status == 200 || status == 201) {
            return Err(error_for_response(Op::Create, resp, &self.url, false).await);
        }
        let rh = resp.headers();
        let content_type = headers::get_str(rh, "content-type").map(str::to_string).or(ct);
        self.remember_content_type(content_type.clone());
        Ok(CreateResult {
            created: status == 201,
            status,
            next_offset: optional_offset(rh)?,
            content_type,
            closed: headers::is_true(rh.get(STREAM_CLOSED)),
        })
    }

    /// Append one message. On a JSON stream `data` must be the text of one JSON value;
    /// it is validated and sent wrapped in an array, so it is stored as exactly one
    /// message even if it is itself an array. Other streams get the bytes verbatim.
    pub async fn append(&self, data: impl Into<Bytes>, opts: AppendOptions) -> Result<AppendResult> {
        let data = data.into();
        let ct = match &opts.content_type {
            Some(ct) => ct.clone(),
            None => self.content_type().await?,
        };
        let body = if headers::is_json(&ct) { wrap_json_message(&data)? } else { data };
        self.post(body, &ct, &opts).await
    }

    /// Append one JSON value (the stream must be an `application/json` stream).
    pub async fn append_json<T: serde::Serialize + ?Sized>(&self, value: &T, opts: AppendOptions) -> Result<AppendResult> {
        let batch = json_array_of([serde_json::to_vec(value).map_err(json_arg_error)?])?;
        let ct = opts.content_type.clone().unwrap_or_else(|| "application/json".to_string());
        self.post(batch, &ct, &opts).await
    }

    /// Append several JSON values in one request; each is stored as its own message.
    pub async fn append_json_batch<T: serde::Serialize>(&self, values: &[T], opts: AppendOptions) -> Result<AppendResult> {
        if values.is_empty() {
            // The protocol forbids an empty JSON array on append.
            return Err(Error::invalid_argument("values", "a JSON batch needs at least one value"));
        }
        let items: Vec<Vec<u8>> = values.iter().map(serde_json::to_vec).collect::<Result<_, _>>().map_err(json_arg_error)?;
        let ct = opts.content_type.clone().unwrap_or_else(|| "application/json".to_string());
        self.post(json_array_of(items)?, &ct, &opts).await
    }

    /// The one POST path for appends: `body` is exactly what goes on the wire.
    pub(crate) async fn post(&self, body: Bytes, content_type: &str, opts: &AppendOptions) -> Result<AppendResult> {
        self.check_open()?;
        self.post_with(body, content_type, opts, None).await.result
    }

    /// A single attempt of an append, without the client's retries: the producer
    /// schedules its own, and needs to know what the failure proves.
    ///
    /// `taken` fires when the connection starts sending the body: a request started
    /// after that cannot overtake this one on the way to the server.
    pub(crate) async fn post_once(
        &self,
        body: Bytes,
        content_type: &str,
        opts: &AppendOptions,
        taken: oneshot::Sender<()>,
    ) -> PostAttempt {
        self.post_with(body, content_type, opts, Some(taken)).await
    }

    async fn post_with(
        &self,
        body: Bytes,
        content_type: &str,
        opts: &AppendOptions,
        once: Option<oneshot::Sender<()>>,
    ) -> PostAttempt {
        let failed = |e: Error| PostAttempt { result: Err(e), retry_after: None, unsent: false };
        let mut h = match extra_headers(&opts.headers) {
            Ok(h) => h,
            Err(e) => return failed(e),
        };
        match header_value("contentType", content_type) {
            Ok(v) => drop(h.insert(CONTENT_TYPE, v)),
            Err(e) => return failed(e),
        }
        if let Some(seq) = &opts.seq {
            match header_value("seq", seq) {
                Ok(v) => drop(h.insert(STREAM_SEQ, v)),
                Err(e) => return failed(e),
            }
        }
        if let Some(p) = &opts.producer
            && let Err(e) = producer_headers(&mut h, p)
        {
            return failed(e);
        }
        if opts.close {
            h.insert(STREAM_CLOSED, HeaderValue::from_static("true"));
        }
        // The server deduplicates producer requests, so only they are always safe to repeat.
        let repeat = if opts.producer.is_some() { Repeat::Safe } else { Repeat::PlainAppend };
        // Stream-Seq may also come from default or dynamic headers.
        let inner = &self.client.inner;
        let sent_seq = h.contains_key(STREAM_SEQ)
            || inner.default_headers.contains_key(STREAM_SEQ)
            || inner.dynamic_headers.iter().any(|(_, n, _)| n.as_str() == STREAM_SEQ);
        let mut sent = SentValues::default();
        let (resp, mut retry_after) = if let Some(taken) = once {
            let gated = reqwest::Body::wrap(TakenBody { data: Some(body), taken: Some(taken) });
            let req = Request {
                method: Method::POST,
                url: &self.url,
                query: Vec::new(),
                headers: h,
                body: None,
                repeat,
                timeout: Some(inner.request_timeout),
            };
            match inner.attempt_with(&req, Some(&mut sent), Some(gated)).await {
                Ok(Outcome::Response(r)) => {
                    let ra = r.headers().get(RETRY_AFTER).and_then(|v| v.to_str().ok()).and_then(crate::retry::parse_retry_after);
                    (r, ra)
                }
                Ok(Outcome::Failed { error, connect_failed }) => {
                    return PostAttempt { result: Err(error), retry_after: None, unsent: connect_failed };
                }
                Err(e) => return failed(e),
            }
        } else {
            match self.send(Method::POST, h, Some(body), repeat, Some(&mut sent)).await {
                Ok(r) => (r, None),
                Err(e) => return failed(e),
            }
        };
        let status = resp.status().as_u16();
        if !(200..300).contains(&status) {
            // 429 and 503 say the request was not processed.
            let unsent = status == 429 || status == 503;
            let e = error_for_response(Op::Append, resp, &self.url, sent_seq).await;
            if !unsent {
                retry_after = None;
            }
            return PostAttempt { result: Err(e), retry_after, unsent };
        }
        let rh = resp.headers();
        let result = optional_offset(rh).map(|next_offset| AppendResult {
            status,
            next_offset,
            stream_closed: headers::is_true(rh.get(STREAM_CLOSED)),
            duplicate: opts.producer.is_some() && status == 204,
            producer_epoch: headers::get_u64(rh, PRODUCER_EPOCH),
            producer_seq: headers::get_u64(rh, PRODUCER_SEQ),
            sent,
        });
        PostAttempt { result, retry_after: None, unsent: false }
    }

    /// Close the stream, optionally appending a final message atomically. Closing an
    /// already closed stream without data succeeds.
    pub async fn close(&self, opts: CloseOptions) -> Result<CloseResult> {
        self.check_open()?;
        let mut h = extra_headers(&opts.headers)?;
        h.insert(STREAM_CLOSED, HeaderValue::from_static("true"));
        let (body, repeat) = match &opts.data {
            Some(data) => {
                let ct = match &opts.content_type {
                    Some(ct) => ct.clone(),
                    None => self.content_type().await?,
                };
                let body = if headers::is_json(&ct) { wrap_json_message(data)? } else { data.clone() };
                h.insert(CONTENT_TYPE, header_value("contentType", &ct)?);
                // Append-and-close is not idempotent: a repeat after success would be a 409.
                (Some(body), Repeat::PlainAppend)
            }
            None => (None, Repeat::Safe),
        };
        let resp = self.send(Method::POST, h, body, repeat, None).await?;
        let status = resp.status().as_u16();
        if !(200..300).contains(&status) {
            return Err(error_for_response(Op::Close, resp, &self.url, false).await);
        }
        let final_offset = optional_offset(resp.headers())?
            .ok_or_else(|| Error::malformed(format!("close of {} returned no Stream-Next-Offset", self.url)))?;
        Ok(CloseResult { final_offset })
    }

    /// Delete the stream.
    pub async fn delete(&self) -> Result<()> {
        self.delete_with_headers(&[]).await
    }

    pub async fn delete_with_headers(&self, extra: &[(String, String)]) -> Result<()> {
        self.check_open()?;
        let resp = self.send(Method::DELETE, extra_headers(extra)?, None, Repeat::Safe, None).await?;
        if !resp.status().is_success() {
            return Err(error_for_response(Op::Delete, resp, &self.url, false).await);
        }
        *self.content_type.lock().unwrap_or_else(|p| p.into_inner()) = None;
        Ok(())
    }

    /// Metadata: content type, tail offset, closure, TTL / expiry.
    pub async fn head(&self) -> Result<StreamMetadata> {
        self.head_with_headers(&[]).await
    }

    pub async fn head_with_headers(&self, extra: &[(String, String)]) -> Result<StreamMetadata> {
        self.check_open()?;
        self.head_unchecked(extra).await
    }

    /// `HEAD` even after the client closed: a producer that is flushing because the client
    /// is closing may still need to learn the content type.
    async fn head_unchecked(&self, extra: &[(String, String)]) -> Result<StreamMetadata> {
        let resp = self.send(Method::HEAD, extra_headers(extra)?, None, Repeat::Safe, None).await?;
        if !resp.status().is_success() {
            return Err(error_for_response(Op::Head, resp, &self.url, false).await);
        }
        let h = resp.headers();
        let next_offset = optional_offset(h)?
            .ok_or_else(|| Error::malformed(format!("HEAD {} returned no Stream-Next-Offset", self.url)))?;
        let content_type = headers::get_str(h, "content-type").map(str::to_string);
        self.remember_content_type(content_type.clone());
        Ok(StreamMetadata {
            content_type,
            next_offset,
            closed: headers::is_true(h.get(STREAM_CLOSED)),
            ttl_seconds: headers::get_u64(h, STREAM_TTL),
            expires_at: headers::get_str(h, STREAM_EXPIRES_AT).map(str::to_string),
            etag: headers::get_str(h, "etag").map(str::to_string),
        })
    }

    /// `CLOSED` once the client is closed ([`crate::Client::close`]).
    pub fn check_open(&self) -> Result<()> {
        self.client.inner.owned.check()
    }

    /// Start reading. See [`ReadOptions`] for catch-up, long-poll, SSE and auto modes.
    /// A session made after the client closed fails with `CLOSED`; one in progress when
    /// it closes ends.
    pub fn read(&self, opts: ReadOptions) -> ReadSession {
        ReadSession::new(self.clone(), opts)
    }

    /// Everything from `offset` to the current tail, in one buffer. Memory grows with the
    /// stream: prefer [`Stream::read`] for large streams.
    pub async fn read_all(&self, offset: Offset) -> Result<Bytes> {
        self.check_open()?;
        let mut session = self.read(ReadOptions { offset, ..Default::default() });
        let mut buf = BytesMut::new();
        let mut arrays: Option<Vec<Bytes>> = None;
        while let Some(chunk) = session.next_chunk().await? {
            match chunk.json {
                true => arrays.get_or_insert_with(Vec::new).push(chunk.data),
                false => buf.extend_from_slice(&chunk.data),
            }
        }
        Ok(match arrays {
            Some(arrays) => crate::read::join_arrays(&arrays),
            None => buf.freeze(),
        })
    }

    pub(crate) async fn send(
        &self,
        method: Method,
        headers: HeaderMap,
        body: Option<Bytes>,
        repeat: Repeat,
        sent: Option<&mut SentValues>,
    ) -> Result<Response> {
        let inner = &self.client.inner;
        let req = Request {
            method,
            url: &self.url,
            query: Vec::new(),
            headers,
            body,
            repeat,
            timeout: Some(inner.request_timeout),
        };
        inner.send(&req, sent).await
    }
}

pub(crate) fn extra_headers(extra: &[(String, String)]) -> Result<HeaderMap> {
    let mut h = HeaderMap::with_capacity(extra.len() + 4);
    for (name, value) in extra {
        let (n, v) = header_pair(name, value)?;
        h.insert(n, v);
    }
    Ok(h)
}

fn header_value(field: &'static str, value: &str) -> Result<HeaderValue> {
    HeaderValue::from_str(value).map_err(|_| Error::invalid_argument(field, format!("{value:?} is not a valid header value")))
}

pub(crate) fn producer_headers(h: &mut HeaderMap, p: &ProducerHeaders) -> Result<()> {
    if p.id.is_empty() {
        return Err(Error::invalid_argument("producerId", "must not be empty"));
    }
    h.insert(PRODUCER_ID, header_value("producerId", &p.id)?);
    h.insert(PRODUCER_EPOCH, HeaderValue::from(p.epoch));
    h.insert(PRODUCER_SEQ, HeaderValue::from(p.seq));
    Ok(())
}

fn optional_offset(h: &HeaderMap) -> Result<Option<Offset>> {
    headers::get_str(h, STREAM_NEXT_OFFSET).filter(|s| !s.is_empty()).map(Offset::from_server).transpose()
}

fn json_arg_error(e: serde_json::Error) -> Error {
    Error::new(ErrorKind::InvalidArgument { field: "data" }, format!("value cannot be encoded as JSON: {e}"))
}

/// Validate `data` as one JSON value and wrap it as a one-message batch `[data]`.
pub(crate) fn wrap_json_message(data: &[u8]) -> Result<Bytes> {
    serde_json::from_slice::<serde::de::IgnoredAny>(data).map_err(|e| {
        Error::new(ErrorKind::InvalidArgument { field: "data" }, format!("not valid JSON for a JSON stream: {e}"))
    })?;
    json_array_of([data])
}

/// `[a,b,c]` from already-encoded JSON values.
pub(crate) fn json_array_of<I, T>(items: I) -> Result<Bytes>
where
    I: IntoIterator<Item = T>,
    T: AsRef<[u8]>,
{
    let mut out = BytesMut::new();
    out.put_u8(b'[');
    let mut first = true;
    for item in items {
        if !first {
            out.put_u8(b',');
        }
        first = false;
        out.extend_from_slice(item.as_ref());
    }
    out.put_u8(b']');
    Ok(out.freeze())
}


/// The result of one append attempt, with what a failure proves.
pub(crate) struct PostAttempt {
    pub result: Result<AppendResult>,
    /// The server's `Retry-After` on a `429` / `503`.
    pub retry_after: Option<Duration>,
    /// The request provably was not processed (connection refused, `429`, `503`).
    pub unsent: bool,
}

/// A request body that reports when the connection first asks for it, i.e. once the
/// request is being written.
struct TakenBody {
    data: Option<Bytes>,
    taken: Option<oneshot::Sender<()>>,
}

impl http_body::Body for TakenBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        if let Some(t) = self.taken.take() {
            let _ = t.send(());
        }
        std::task::Poll::Ready(self.data.take().map(|d| Ok(http_body::Frame::data(d))))
    }

    fn is_end_stream(&self) -> bool {
        self.data.is_none()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        // Exact, so the request carries a Content-Length rather than chunked framing.
        http_body::SizeHint::with_exact(self.data.as_ref().map_or(0, |d| d.len() as u64))
    }
}
