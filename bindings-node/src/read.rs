//! `NativeReadSession`: the core's pull handle ([`ReadHandle`]) over a read session,
//! pulled chunk by chunk by the JavaScript async iterator.

use std::collections::HashMap;
use std::sync::Arc;

use durable_streams_sdk::ffi::ReadHandle;
use durable_streams_sdk::{Chunk, ReadOptions};
use napi::Env;
use napi::bindgen_prelude::{Either, PromiseRaw, Undefined};
use napi_derive::napi;

use crate::convert::{JsBytes, header_list, live_mode, offset, positive};
use crate::error;
use crate::stream::NativeStream;
use crate::task;

#[napi(object, object_to_js = false)]
pub struct NativeReadOptions {
    pub offset: Option<String>,
    /// `"off"`, `"auto"`, `"long-poll"`, `"sse"` (the JavaScript layer maps booleans).
    pub live: Option<String>,
    pub cursor: Option<String>,
    pub headers: Option<HashMap<String, String>>,
    pub max_chunk_bytes: Option<f64>,
}

#[napi(object, object_from_js = false)]
pub struct NativeChunk {
    /// The bytes; for JSON streams a JSON array of this chunk's messages.
    pub data: JsBytes,
    pub next_offset: String,
    pub up_to_date: bool,
    pub stream_closed: bool,
    pub cursor: Option<String>,
    pub partial: bool,
    pub status: u32,
    /// `true` on JSON streams (`data` is then a JSON array).
    pub is_json: bool,
}

impl From<Chunk> for NativeChunk {
    fn from(c: Chunk) -> Self {
        NativeChunk {
            data: JsBytes(c.data),
            next_offset: c.next_offset.as_str().to_string(),
            up_to_date: c.up_to_date,
            stream_closed: c.stream_closed,
            cursor: c.cursor,
            partial: c.partial,
            status: c.status as u32,
            is_json: c.json,
        }
    }
}

/// A read session: the public `ReadSession` (lib/index.js adds the async iterator).
#[napi(js_name = "ReadSession")]
pub struct NativeReadSession {
    handle: Arc<ReadHandle>,
}

#[napi]
impl NativeStream {
    /// Start a read session (reading ahead on the core runtime right away).
    #[napi]
    pub fn read(&self, options: Option<NativeReadOptions>) -> napi::Result<NativeReadSession> {
        let mut opts = ReadOptions::default();
        if let Some(o) = options {
            opts.offset = offset(o.offset)?;
            opts.live = live_mode(o.live)?;
            opts.cursor = o.cursor;
            opts.headers = header_list(o.headers);
            if let Some(n) = o.max_chunk_bytes {
                opts.max_chunk_bytes = positive("maxChunkBytes", n)?;
            }
        }
        let stream = &self.inner;
        // Refused at once, like every other handle made after the client closed (the
        // core's session would say so only at its first chunk).
        stream.check_open().map_err(error::core)?;
        task::sync(|| Ok(NativeReadSession { handle: Arc::new(ReadHandle::new(stream.read(opts))) }))
    }
}

#[napi]
impl NativeReadSession {
    /// A chunk if one is ready now, `true` at the end, `false` if none is ready yet.
    #[napi]
    pub fn try_next(&self) -> napi::Result<Either<NativeChunk, bool>> {
        match self.handle.try_next() {
            None => Ok(Either::B(false)),
            Some(Ok(None)) => Ok(Either::B(true)),
            Some(Ok(Some(c))) => Ok(Either::A(c.into())),
            Some(Err(e)) => Err(error::core(e)),
        }
    }

    /// The next chunk, or `null` once the session has ended (or was cancelled).
    /// Concurrent calls are served in call order, each chunk to exactly one caller.
    #[napi]
    pub fn take<'env>(&self, env: &'env Env) -> napi::Result<PromiseRaw<'env, Option<NativeChunk>>> {
        let handle = self.handle.clone();
        task::promise(env, None, async move { Ok(handle.next().await?.map(NativeChunk::from)) })
    }

    /// Stop reading now: a pending `take()` and every later one resolve `null`.
    #[napi]
    pub fn cancel(&self) {
        self.handle.cancel();
    }

    /// Offset to resume from: after the last complete response taken.
    #[napi(getter)]
    pub fn offset(&self) -> String {
        self.handle.position().offset.to_string()
    }

    /// The latest cursor taken, if any.
    #[napi(getter)]
    pub fn cursor(&self) -> Either<String, Undefined> {
        self.handle.position().cursor.map_or(Either::B(()), Either::A)
    }

    /// The last chunk taken reached the tail.
    #[napi(getter)]
    pub fn up_to_date(&self) -> bool {
        self.handle.position().up_to_date
    }

    /// The stream is closed and everything was taken.
    #[napi(getter)]
    pub fn stream_closed(&self) -> bool {
        self.handle.position().stream_closed
    }

    /// Dynamic header values sent with the request behind the last chunk taken.
    #[napi(getter)]
    pub fn sent_headers(&self) -> HashMap<String, String> {
        self.handle.sent_values().headers.into_iter().collect()
    }

    /// Dynamic query parameter values sent with the request behind the last chunk taken.
    #[napi(getter)]
    pub fn sent_params(&self) -> HashMap<String, String> {
        self.handle.sent_values().params.into_iter().collect()
    }
}
