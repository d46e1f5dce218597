//! Read sessions: catch-up, long-poll, SSE and auto, from any offset.
//!
//! A session yields [`Chunk`]s. It follows `Stream-Next-Offset`, echoes cursors,
//! reconnects with backoff, and ends exactly once: at stream closure, or (in
//! catch-up mode) once it is up to date. Dropping it cancels the request in flight.

mod body;
mod json_split;
mod prefetch;
mod sse;
mod sse_parser;

/// What `crate::fuzzing` drives (feature `fuzzing` only).
#[cfg(feature = "fuzzing")]
pub(crate) mod fuzz_support {
    pub(crate) use super::json_split::JsonArraySplitter;
    pub(crate) use super::sse::{Control as SseControl, decode_base64};
    pub(crate) use super::sse_parser::{SseEvent, SseParser};
}

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::Bytes;
use reqwest::header::HeaderMap;
use reqwest::{Method, Response};

use self::body::{BodyReader, Framing};
use self::sse::{SseConnection, SseNext};
use crate::client::{Repeat, Request, SentValues};
use crate::error::{Error, ErrorKind, Result};
use crate::headers::{self, SSE_DATA_ENCODING, STREAM_CLOSED, STREAM_CURSOR, STREAM_NEXT_OFFSET, STREAM_UP_TO_DATE};
use crate::offset::Offset;
use crate::status::{Op, error_for_response};
use crate::stream::{Stream, extra_headers};

pub(crate) use self::json_split::{JsonArraySplitter, join_arrays};
pub use self::prefetch::PrefetchedSession;

/// How a session follows the stream once it has caught up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LiveMode {
    /// Catch up to the current tail, then end.
    #[default]
    Off,
    /// Catch up, then wait for new data with long-poll requests.
    LongPoll,
    /// Catch up, then receive new data over Server-Sent Events.
    Sse,
    /// Catch up with plain (cacheable) requests, then SSE for text and JSON streams or
    /// long-poll for binary ones; falls back to long-poll if SSE connections keep dying.
    Auto,
}

impl LiveMode {
    /// The name every binding accepts: `off`, `long-poll`, `sse`, `auto`.
    pub fn as_str(self) -> &'static str {
        match self {
            LiveMode::Off => "off",
            LiveMode::LongPoll => "long-poll",
            LiveMode::Sse => "sse",
            LiveMode::Auto => "auto",
        }
    }
}

impl std::str::FromStr for LiveMode {
    type Err = Error;

    /// Also accepts the spellings languages use for the same modes: `false`,
    /// `catchup`, `long_poll`, `longPoll`, `true`.
    fn from_str(s: &str) -> Result<LiveMode> {
        Ok(match s {
            "off" | "false" | "catchup" | "catch-up" => LiveMode::Off,
            "long-poll" | "long_poll" | "longPoll" | "longpoll" => LiveMode::LongPoll,
            "sse" => LiveMode::Sse,
            "auto" | "true" => LiveMode::Auto,
            other => {
                return Err(Error::invalid_argument(
                    "live",
                    format!("unknown live mode {other:?} (expected off, long-poll, sse or auto)"),
                ));
            }
        })
    }
}

/// Options for [`Stream::read`].
#[derive(Debug, Clone)]
pub struct ReadOptions {
    /// Where to start: a saved offset, [`Offset::beginning`] or [`Offset::now`].
    pub offset: Offset,
    pub live: LiveMode,
    /// A cursor saved from an earlier session, echoed on the first live request.
    pub cursor: Option<String>,
    /// Extra headers on every request of this session.
    pub headers: Vec<(String, String)>,
    /// Largest chunk handed out; bigger responses are delivered in pieces (frames
    /// are passed through without copying once they reach 64 KiB).
    pub max_chunk_bytes: usize,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            offset: Offset::beginning(),
            live: LiveMode::Off,
            cursor: None,
            headers: Vec::new(),
            max_chunk_bytes: 1 << 20,
        }
    }
}

/// One batch of stream data and where it leaves the reader.
#[derive(Debug, Clone)]
pub struct Chunk {
    /// The bytes. For JSON streams: one JSON array of the (whole) messages in this
    /// chunk, validated — a binding parses it once with its own JSON library.
    pub data: Bytes,
    /// `data` is a JSON array of messages (a JSON stream's response or SSE batch).
    pub json: bool,
    /// Where to resume after this chunk. When `partial` is set, this is still the
    /// offset the containing response started at.
    pub next_offset: Offset,
    /// The reader has reached the current tail.
    pub up_to_date: bool,
    /// The stream is closed and everything has been delivered: this is the last chunk.
    pub stream_closed: bool,
    /// The latest cursor seen.
    pub cursor: Option<String>,
    /// More bytes of the same response follow (responses larger than
    /// `max_chunk_bytes` are split); checkpoint only on chunks where this is `false`.
    pub partial: bool,
    /// HTTP status of the response this chunk came from (`204` for an empty long-poll).
    pub status: u16,
}

impl Chunk {
    /// Whether this chunk carries any message or byte (JSON chunks may be `[]`).
    pub fn has_data(&self) -> bool {
        if self.json { !json_split::is_empty_array(&self.data) } else { !self.data.is_empty() }
    }

    /// Decode each JSON message of this chunk.
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<Vec<T>> {
        if self.data.is_empty() {
            return Ok(Vec::new());
        }
        if self.json {
            return decode_item(&self.data);
        }
        serde_json::from_slice(&self.data).map_err(|e| Error::malformed(format!("chunk is not a JSON array: {e}")))
    }

    /// JSON streams: each message's JSON text, split from `data` on demand; `None` for
    /// other streams.
    pub fn items(&self) -> Option<Vec<Bytes>> {
        self.json.then(|| json_split::items_of(&self.data))
    }

    /// Append `later`, the next piece of the same response (see [`Chunk::partial`]):
    /// the data is joined (JSON arrays into one array) and the position is `later`'s.
    pub fn merge(&mut self, later: Chunk) {
        let data = if self.json || later.json {
            join_arrays(&[std::mem::take(&mut self.data), later.data])
        } else if self.data.is_empty() {
            later.data
        } else {
            let mut b = bytes::BytesMut::from(std::mem::take(&mut self.data));
            b.extend_from_slice(&later.data);
            b.freeze()
        };
        *self = Chunk { data, json: self.json || later.json, ..later };
    }
}

pub(crate) fn decode_item<T: serde::de::DeserializeOwned>(raw: &[u8]) -> Result<T> {
    serde_json::from_slice(raw).map_err(|e| {
        Error::new(ErrorKind::InvalidArgument { field: "type" }, format!("JSON message does not have the requested shape: {e}"))
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    CatchUp,
    LongPoll,
    Sse,
    Done,
}

/// SSE connections that end sooner than this without delivering anything count as
/// "dying young"; after [`SSE_MAX_YOUNG_DEATHS`] in a row the session switches to
/// long-poll (a proxy is probably buffering or cutting the event stream).
const SSE_YOUNG: Duration = Duration::from_secs(1);
const SSE_MAX_YOUNG_DEATHS: u32 = 3;

/// A live or catch-up read of one stream.
pub struct ReadSession {
    stream: Stream,
    live: LiveMode,
    headers: Vec<(String, String)>,
    max_chunk_bytes: usize,
    offset: Offset,
    cursor: Option<String>,
    phase: Phase,
    body: Option<(BodyReader, ResponseMeta)>,
    sse: Option<SseConnection>,
    /// Consecutive failed attempts of the live loop (reset by any success).
    failures: u32,
    sse_young_deaths: u32,
    sent: SentValues,
    /// Messages (JSON) or bytes of the current catch-up/long-poll response handed out in
    /// partial chunks so far.
    handed: u64,
    /// Messages or bytes to drop from the next responses: handed out from a response that
    /// broke before its end, which the session reads again from the same offset.
    skip: u64,
    /// Made after its client was closed: the first `next_chunk` says so (`CLOSED`).
    made_closed: bool,
}

/// The protocol headers of a response whose body is being streamed.
struct ResponseMeta {
    start: Offset,
    next_offset: Offset,
    up_to_date: bool,
    closed: bool,
    status: u16,
}

impl ReadSession {
    pub(crate) fn new(stream: Stream, opts: ReadOptions) -> ReadSession {
        let start_live = opts.offset.is_now() && opts.live != LiveMode::Off;
        let phase = if start_live { live_phase(opts.live, stream.known_content_type().as_deref()) } else { Phase::CatchUp };
        let made_closed = stream.client.inner.owned.is_closed();
        ReadSession {
            stream,
            live: opts.live,
            headers: opts.headers,
            max_chunk_bytes: opts.max_chunk_bytes.max(1),
            offset: opts.offset,
            cursor: opts.cursor,
            phase,
            body: None,
            sse: None,
            failures: 0,
            sse_young_deaths: 0,
            sent: SentValues::default(),
            handed: 0,
            skip: 0,
            made_closed,
        }
    }

    /// Offset to resume from: after the last complete response delivered.
    pub fn offset(&self) -> &Offset {
        &self.offset
    }

    pub fn cursor(&self) -> Option<&str> {
        self.cursor.as_deref()
    }

    /// `true` once the session has ended (closed stream, or caught up in catch-up mode).
    pub fn is_done(&self) -> bool {
        self.phase == Phase::Done
    }

    /// Dynamic header/param values used on the most recent request.
    pub fn sent_values(&self) -> &SentValues {
        &self.sent
    }

    /// The next chunk, or `None` when the session has ended (its client closed included).
    pub async fn next_chunk(&mut self) -> Result<Option<Chunk>> {
        if std::mem::take(&mut self.made_closed) && self.phase != Phase::Done {
            self.phase = Phase::Done;
            return self.stream.check_open().map(|_| None);
        }
        let closed = self.stream.client.inner.owned.closed();
        let result = tokio::select! {
            biased;
            r = self.next_chunk_open() => Some(r),
            _ = closed => None,
        };
        result.unwrap_or_else(|| {
            self.phase = Phase::Done;
            self.body = None;
            self.sse = None;
            Ok(None)
        })
    }

    async fn next_chunk_open(&mut self) -> Result<Option<Chunk>> {
        loop {
            let result = match self.phase {
                Phase::Done => return Ok(None),
                Phase::CatchUp | Phase::LongPoll => self.next_http().await,
                Phase::Sse => self.next_sse().await,
            };
            match result {
                Ok(Some(chunk)) => {
                    self.failures = 0;
                    return Ok(Some(chunk));
                }
                Ok(None) => continue,
                Err(e) => {
                    // A failed request was already retried by the client and has ended the
                    // session (phase Done). A connection that broke mid-body is retried
                    // here, from the last offset handed out.
                    self.body = None;
                    self.sse = None;
                    let retry = self.stream.client.inner.retry.clone();
                    if self.phase != Phase::Done && e.is_transient() && self.failures < retry.max_retries {
                        let wait = retry.backoff(self.failures, None);
                        self.failures += 1;
                        crate::trace::reconnect(self.stream.url().path(), self.failures, &crate::trace::reason_of_error(&e), wait);
                        tokio::time::sleep(wait).await;
                        continue;
                    }
                    self.phase = Phase::Done;
                    return Err(e);
                }
            }
        }
    }

    /// Adapt into a `futures::Stream` of chunks.
    pub fn into_stream(self) -> impl futures_util::Stream<Item = Result<Chunk>> + Send {
        futures_util::stream::unfold(Some(self), |state| async move {
            let mut session = state?;
            match session.next_chunk().await {
                Ok(Some(c)) => Some((Ok(c), Some(session))),
                Ok(None) => None,
                Err(e) => Some((Err(e), None)),
            }
        })
    }

    /// Iterate JSON messages one by one (JSON streams).
    pub fn json_items(self) -> JsonItems {
        JsonItems { session: self, items: VecDeque::new() }
    }

    async fn next_http(&mut self) -> Result<Option<Chunk>> {
        if self.body.is_none() {
            let live = self.phase == Phase::LongPoll;
            let resp = self.request(live, false).await?;
            let status = resp.status().as_u16();
            if status == 204 && live {
                // Long-poll timeout: nothing new. Normal flow, not an error.
                let meta = self.meta(&resp, status)?;
                let closed = meta.closed;
                self.offset = meta.next_offset.clone();
                if closed {
                    self.phase = Phase::Done;
                }
                return Ok(Some(self.chunk(Bytes::new(), false, &meta, false, true)));
            }
            if status != 200 {
                self.phase = Phase::Done;
                return Err(error_for_response(Op::Read, resp, &self.stream.url, false).await);
            }
            let meta = self.meta(&resp, status)?;
            let ct = headers::get_str(resp.headers(), "content-type").map(str::to_string);
            let framing = match ct.as_deref() {
                Some(ct) if headers::is_json(ct) => Framing::Json(JsonArraySplitter::new()),
                Some(ct) if headers::media_type(ct).starts_with("text/") => Framing::Text { carry: Default::default() },
                _ => Framing::Bytes,
            };
            self.stream.remember_content_type(ct);
            let idle = self.stream.client.inner.live_idle_timeout;
            self.body = Some((BodyReader::new(resp, framing, self.max_chunk_bytes, idle), meta));
        }
        let Some((reader, meta)) = self.body.as_mut() else { return Ok(None) };
        let piece = match reader.next_piece().await {
            Ok(p) => p,
            Err(e) => {
                // Part of this response may have been handed out already. The session
                // retries from the response's start offset (an append-only stream sends
                // the same messages again), so what was handed out is dropped from the
                // responses that follow instead of being handed out twice.
                self.skip += std::mem::take(&mut self.handed);
                if reader.delivered > 0 && e.is_transient() {
                    return Err(Error::new(
                        ErrorKind::Network,
                        format!("{} (after a partial response from offset {})", e.message(), meta.start),
                    ));
                }
                return Err(e);
            }
        };
        let Some(mut piece) = piece else {
            self.body = None;
            return Ok(None);
        };
        let was_empty = piece.data.is_empty();
        if self.skip > 0 {
            piece.data = self.drop_repeated(piece.data, piece.json);
        }
        if piece.last {
            self.handed = 0;
        } else {
            self.handed += if piece.json { json_split::items_of(&piece.data).len() as u64 } else { piece.data.len() as u64 };
        }
        if !piece.last {
            let meta = &self.body.as_ref().map(|b| &b.1).expect("body present");
            let c = Chunk {
                data: piece.data,
                json: piece.json,
                next_offset: meta.start.clone(),
                up_to_date: false,
                stream_closed: false,
                cursor: self.cursor.clone(),
                partial: true,
                status: meta.status,
            };
            return Ok(Some(c));
        }
        let (_, meta) = self.body.take().expect("body present");
        let advanced = meta.next_offset != meta.start;
        self.offset = meta.next_offset.clone();
        if meta.closed {
            self.phase = Phase::Done;
        } else if self.phase == Phase::CatchUp {
            if meta.up_to_date {
                self.phase = match self.live {
                    LiveMode::Off => Phase::Done,
                    live => live_phase(live, self.stream.known_content_type().as_deref()),
                };
            } else if !advanced && was_empty {
                self.phase = Phase::Done;
                return Err(Error::malformed(format!(
                    "{} returned no data, no Stream-Up-To-Date and the same offset {}: refusing to loop",
                    self.stream.url, meta.start
                )));
            }
        }
        Ok(Some(self.chunk(piece.data, piece.json, &meta, false, meta.up_to_date || meta.closed)))
    }

    async fn next_sse(&mut self) -> Result<Option<Chunk>> {
        if self.sse.is_none() {
            let json = match self.stream.known_content_type() {
                Some(ct) => headers::is_json(&ct),
                None => headers::is_json(&self.stream.content_type().await?),
            };
            let resp = self.request(true, true).await?;
            if resp.status().as_u16() != 200 {
                self.phase = Phase::Done;
                return Err(error_for_response(Op::Read, resp, &self.stream.url, false).await);
            }
            let base64 = headers::get_str(resp.headers(), SSE_DATA_ENCODING).is_some_and(|v| v.trim().eq_ignore_ascii_case("base64"));
            let is_sse = headers::get_str(resp.headers(), "content-type").is_some_and(|ct| headers::media_type(ct) == "text/event-stream");
            if !is_sse {
                return Err(Error::malformed(format!("{} answered an SSE request without text/event-stream", self.stream.url)));
            }
            let idle = self.stream.client.inner.live_idle_timeout;
            self.sse = Some(SseConnection::new(resp, base64, json, idle));
        }
        let conn = self.sse.as_mut().expect("connection present");
        match conn.next().await? {
            SseNext::Batch(b) => {
                self.sse_young_deaths = 0;
                self.offset = b.next_offset.clone();
                if b.cursor.is_some() {
                    self.cursor = b.cursor.clone();
                }
                if b.stream_closed {
                    self.phase = Phase::Done;
                    self.sse = None;
                }
                Ok(Some(Chunk {
                    data: b.data,
                    json: b.json,
                    next_offset: b.next_offset,
                    up_to_date: b.up_to_date,
                    stream_closed: b.stream_closed,
                    cursor: self.cursor.clone(),
                    partial: false,
                    status: 200,
                }))
            }
            SseNext::Ended => {
                let young = conn.batches == 0 || conn.opened_at.elapsed() < SSE_YOUNG;
                self.sse = None;
                if young {
                    self.sse_young_deaths += 1;
                    if self.sse_young_deaths >= SSE_MAX_YOUNG_DEATHS {
                        self.phase = Phase::LongPoll;
                        return Ok(None);
                    }
                    // Back off so a server that keeps hanging up is not hammered.
                    let wait = self.stream.client.inner.retry.backoff(self.sse_young_deaths - 1, None);
                    crate::trace::reconnect(self.stream.url().path(), self.sse_young_deaths, "sse_ended_early", wait);
                    tokio::time::sleep(wait).await;
                } else {
                    crate::trace::reconnect(self.stream.url().path(), 1, "sse_ended", Duration::ZERO);
                }
                Ok(None)
            }
        }
    }

    /// One request of the session, retried by the client. Its failure ends the session
    /// (the client's retries are used up), except when the session's own deadline cut
    /// the attempt short in a live session: that session re-opens from its offset after
    /// backoff, as after a dropped connection (bounded by the retry policy's
    /// `max_retries` in a row). A live read whose reconnect met a slow answer (a
    /// `Retry-After` longer than the idle timeout, a run of faults) used to end there.
    /// A catch-up-only read keeps its deadline: it ends with the timeout.
    async fn request(&mut self, live: bool, sse: bool) -> Result<Response> {
        let inner = self.stream.client.inner.clone();
        let mut query: Vec<(&'static str, String)> = vec![("offset", self.offset.as_str().to_string())];
        if live {
            query.push(("live", if sse { "sse" } else { "long-poll" }.to_string()));
            if let Some(c) = &self.cursor {
                query.push(("cursor", c.clone()));
            }
        }
        let headers: HeaderMap = extra_headers(&self.headers)?;
        let req = Request {
            method: Method::GET,
            url: &self.stream.url,
            query,
            headers,
            body: None,
            repeat: Repeat::Safe,
            timeout: None,
        };
        let wait = if live { inner.live_idle_timeout } else { inner.request_timeout };
        let started = Instant::now();
        let result = tokio::time::timeout(wait, inner.send(&req, Some(&mut self.sent))).await;
        match result {
            Ok(Ok(r)) => Ok(r),
            Ok(Err(e)) => {
                self.phase = Phase::Done;
                Err(e)
            }
            Err(_) => {
                if self.live == LiveMode::Off {
                    self.phase = Phase::Done;
                }
                Err(Error::new(
                    ErrorKind::Timeout,
                    format!("no response from {} within {}", self.stream.url, crate::error::human_duration(started.elapsed())),
                ))
            }
        }
    }

    /// `data` without the first `skip` messages (JSON) or bytes, handed out before a
    /// retry (see `skip`).
    fn drop_repeated(&mut self, data: Bytes, json: bool) -> Bytes {
        if json {
            let items = json_split::items_of(&data);
            let k = (self.skip as usize).min(items.len());
            self.skip -= k as u64;
            if k == 0 { data } else { json_split::array_of(&items[k..]) }
        } else {
            let k = (self.skip as usize).min(data.len());
            self.skip -= k as u64;
            data.slice(k..)
        }
    }

    fn meta(&mut self, resp: &Response, status: u16) -> Result<ResponseMeta> {
        let h = resp.headers();
        let next_offset = match headers::get_str(h, STREAM_NEXT_OFFSET).filter(|s| !s.is_empty()) {
            Some(o) => Offset::from_server(o)?,
            None => {
                return Err(Error::malformed(format!("{} sent a {status} read response without Stream-Next-Offset", self.stream.url)));
            }
        };
        if let Some(c) = headers::get_str(h, STREAM_CURSOR).filter(|s| !s.is_empty()) {
            self.cursor = Some(c.to_string());
        }
        Ok(ResponseMeta {
            start: self.offset.clone(),
            next_offset,
            up_to_date: headers::is_true(h.get(STREAM_UP_TO_DATE)),
            closed: headers::is_true(h.get(STREAM_CLOSED)),
            status,
        })
    }

    fn chunk(&self, data: Bytes, json: bool, meta: &ResponseMeta, partial: bool, up_to_date: bool) -> Chunk {
        Chunk {
            data,
            json,
            next_offset: meta.next_offset.clone(),
            up_to_date: up_to_date || meta.closed,
            stream_closed: meta.closed,
            cursor: self.cursor.clone(),
            partial,
            status: meta.status,
        }
    }
}

fn live_phase(live: LiveMode, content_type: Option<&str>) -> Phase {
    match live {
        LiveMode::Off => Phase::Done,
        LiveMode::LongPoll => Phase::LongPoll,
        LiveMode::Sse => Phase::Sse,
        LiveMode::Auto => match content_type {
            // Binary streams would travel base64-encoded over SSE (a third larger).
            Some(ct) if headers::is_json(ct) || headers::media_type(ct).starts_with("text/") => Phase::Sse,
            _ => Phase::LongPoll,
        },
    }
}

/// JSON messages of a session, one at a time.
pub struct JsonItems {
    session: ReadSession,
    items: VecDeque<Bytes>,
}

impl JsonItems {
    /// The next message's JSON text, or `None` at the end of the session.
    pub async fn next_raw(&mut self) -> Result<Option<Bytes>> {
        loop {
            if let Some(i) = self.items.pop_front() {
                return Ok(Some(i));
            }
            match self.session.next_chunk().await? {
                None => return Ok(None),
                Some(c) => match c.items() {
                    Some(items) => self.items.extend(items),
                    None if c.data.is_empty() => {}
                    None => {
                        return Err(Error::new(
                            ErrorKind::InvalidArgument { field: "contentType" },
                            format!("{} is not a JSON stream", self.session.stream.url),
                        ));
                    }
                },
            }
        }
    }

    /// The next message, decoded.
    pub async fn next<T: serde::de::DeserializeOwned>(&mut self) -> Result<Option<T>> {
        match self.next_raw().await? {
            Some(raw) => decode_item(&raw).map(Some),
            None => Ok(None),
        }
    }

    /// The underlying session (for its offset and cursor).
    pub fn session(&self) -> &ReadSession {
        &self.session
    }
}
