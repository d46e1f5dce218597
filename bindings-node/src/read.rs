//! `NativeReadSession`: one core `ReadSession`, pulled chunk by chunk by the JavaScript
//! async iterator.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use durable_streams_sdk::{Chunk, ReadOptions, ReadSession, SentValues};
use napi::Env;
use napi::bindgen_prelude::PromiseRaw;
use napi_derive::napi;

use crate::convert::{JsBytes, Sent, header_list, integer, live_mode, offset};
use crate::error;
use crate::stream::NativeStream;
use crate::task::{self, AbortToken};

#[napi(object, object_to_js = false)]
pub struct NativeReadOptions {
    pub offset: Option<String>,
    /// `"false"`, `"auto"`, `"long-poll"`, `"sse"` (the JavaScript layer maps booleans).
    pub live: Option<String>,
    pub cursor: Option<String>,
    pub headers: Option<HashMap<String, String>>,
    pub max_chunk_bytes: Option<f64>,
}

#[napi(object, object_from_js = false)]
pub struct NativeChunk {
    /// The bytes; for JSON streams a JSON array of this chunk's messages.
    pub data: JsBytes,
    /// `true` on JSON streams (`data` is then a JSON array).
    pub json: bool,
    pub next_offset: String,
    pub up_to_date: bool,
    pub stream_closed: bool,
    pub cursor: Option<String>,
    pub partial: bool,
    pub status: u32,
}

impl From<Chunk> for NativeChunk {
    fn from(c: Chunk) -> Self {
        NativeChunk {
            data: JsBytes(c.data),
            json: c.items.is_some(),
            next_offset: c.next_offset.as_str().to_string(),
            up_to_date: c.up_to_date,
            stream_closed: c.stream_closed,
            cursor: c.cursor,
            partial: c.partial,
            status: c.status as u32,
        }
    }
}

pub fn read_options(o: Option<NativeReadOptions>) -> napi::Result<ReadOptions> {
    let mut opts = ReadOptions::default();
    if let Some(o) = o {
        opts.offset = offset(o.offset)?;
        opts.live = live_mode(o.live)?;
        opts.cursor = o.cursor;
        opts.headers = header_list(o.headers);
        if let Some(n) = o.max_chunk_bytes {
            let n = integer("maxChunkBytes", n)?;
            if n <= 0 {
                return Err(error::invalid_argument("maxChunkBytes", "must be > 0"));
            }
            opts.max_chunk_bytes = n as usize;
        }
    }
    Ok(opts)
}

/// Where the session stands, readable without waiting for a `next()` in progress.
#[derive(Default)]
struct Snapshot {
    offset: String,
    cursor: Option<String>,
    sent: SentValues,
    done: bool,
}

#[napi]
pub struct NativeReadSession {
    session: Arc<tokio::sync::Mutex<Option<ReadSession>>>,
    snapshot: Arc<Mutex<Snapshot>>,
}

#[napi]
impl NativeStream {
    /// Start a read session (no I/O until the first `next()`).
    #[napi]
    pub fn read(&self, options: Option<NativeReadOptions>) -> napi::Result<NativeReadSession> {
        let opts = task::sync(|| read_options(options))?;
        let snapshot = Snapshot {
            offset: opts.offset.as_str().to_string(),
            cursor: opts.cursor.clone(),
            ..Default::default()
        };
        let session = self.inner.read(opts);
        Ok(NativeReadSession {
            session: Arc::new(tokio::sync::Mutex::new(Some(session))),
            snapshot: Arc::new(Mutex::new(snapshot)),
        })
    }
}

#[napi]
impl NativeReadSession {
    /// The next chunk, or `null` once the session has ended. Aborting drops the request in
    /// flight and ends the session.
    #[napi]
    pub fn next<'env>(
        &self,
        env: &'env Env,
        abort: Option<&AbortToken>,
    ) -> napi::Result<PromiseRaw<'env, Option<NativeChunk>>> {
        let session = self.session.clone();
        let snapshot = self.snapshot.clone();
        task::promise(env, abort, async move {
            let mut guard = session.lock().await;
            let Some(s) = guard.as_mut() else {
                return Ok(None);
            };
            let result = s.next_chunk().await;
            {
                let mut snap = snapshot.lock().unwrap_or_else(|p| p.into_inner());
                snap.offset = s.offset().as_str().to_string();
                snap.cursor = s.cursor().map(str::to_string);
                snap.sent = s.sent_values().clone();
                snap.done = s.is_done() || !matches!(result, Ok(Some(_)));
            }
            match result {
                Ok(Some(c)) => Ok(Some(NativeChunk::from(c))),
                Ok(None) => {
                    *guard = None;
                    Ok(None)
                }
                Err(e) => {
                    *guard = None;
                    Err(error::core(e))
                }
            }
        })
    }

    /// End the session now (drops any connection it holds).
    #[napi]
    pub fn close(&self) {
        if let Ok(mut g) = self.session.try_lock()
            && let Some(s) = g.take()
        {
            // Connections are dropped on the runtime that owns them.
            durable_streams_sdk::runtime::spawn(async move { drop(s) });
        }
        self.snapshot.lock().unwrap_or_else(|p| p.into_inner()).done = true;
    }

    /// Offset to resume from: after the last complete response delivered.
    #[napi(getter)]
    pub fn offset(&self) -> String {
        self.snapshot
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .offset
            .clone()
    }

    #[napi(getter)]
    pub fn cursor(&self) -> Option<String> {
        self.snapshot
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .cursor
            .clone()
    }

    #[napi(getter)]
    pub fn done(&self) -> bool {
        self.snapshot.lock().unwrap_or_else(|p| p.into_inner()).done
    }

    /// Dynamic header/parameter values sent on the most recent request.
    #[napi(getter)]
    pub fn sent(&self) -> Sent {
        Sent::from(&self.snapshot.lock().unwrap_or_else(|p| p.into_inner()).sent)
    }
}
