//! Read sessions as a pull handle (`ffi::ReadHandle`): `next()` + `cancel()`.

use std::collections::HashMap;
use std::sync::Arc;

use durable_streams_sdk as core;
use durable_streams_sdk::{ffi, Offset};

use crate::client::header_list;
use crate::error::FfiError;
use crate::run;

#[derive(uniffi::Record)]
pub struct ReadOptions {
    /// `-1` (the beginning), `now`, or an offset from an earlier read.
    #[uniffi(default = "-1")]
    pub offset: String,
    /// `off`, `long-poll`, `sse` or `auto`.
    #[uniffi(default = "off")]
    pub live: String,
    #[uniffi(default)]
    pub cursor: Option<String>,
    #[uniffi(default)]
    pub headers: HashMap<String, String>,
    #[uniffi(default)]
    pub max_chunk_bytes: Option<u64>,
}

/// Data from one response (or a piece of one, `partial`).
#[derive(uniffi::Record)]
pub struct Chunk {
    pub data: Vec<u8>,
    /// JSON streams: the messages of this chunk, each the text of one JSON value.
    pub items: Option<Vec<String>>,
    pub next_offset: String,
    pub up_to_date: bool,
    pub stream_closed: bool,
    pub cursor: Option<String>,
    /// More pieces of the same response follow.
    pub partial: bool,
    pub status: u16,
}

#[derive(uniffi::Record)]
pub struct Position {
    pub offset: String,
    pub cursor: Option<String>,
    pub up_to_date: bool,
    pub stream_closed: bool,
}

pub(crate) fn chunk(c: core::Chunk) -> Chunk {
    Chunk {
        items: c.items().map(|items| items.iter().map(|i| String::from_utf8_lossy(i).into_owned()).collect()),
        data: c.data.to_vec(),
        next_offset: c.next_offset.as_str().to_string(),
        up_to_date: c.up_to_date,
        stream_closed: c.stream_closed,
        cursor: c.cursor,
        partial: c.partial,
        status: c.status,
    }
}

#[derive(uniffi::Object)]
pub struct ReadSession {
    handle: Arc<ffi::ReadHandle>,
}

impl ReadSession {
    pub(crate) fn start(stream: &core::Stream, o: ReadOptions) -> core::Result<Arc<ReadSession>> {
        let mut opts = core::ReadOptions {
            offset: Offset::parse(&o.offset)?,
            live: o.live.parse()?,
            cursor: o.cursor,
            headers: header_list(o.headers),
            ..Default::default()
        };
        if let Some(n) = o.max_chunk_bytes {
            opts.max_chunk_bytes = usize::try_from(n).unwrap_or(usize::MAX);
        }
        Ok(Arc::new(ReadSession { handle: Arc::new(ffi::ReadHandle::new(stream.read(opts))) }))
    }
}

#[uniffi::export]
impl ReadSession {
    /// The next chunk; `None` at the end (caught up with `live = off`, stream closed,
    /// or cancelled).
    pub async fn next(&self) -> Result<Option<Chunk>, FfiError> {
        let h = self.handle.clone();
        Ok(run(async move { h.next().await }).await?.map(chunk))
    }

    /// Where the session stands after the chunks taken so far.
    pub fn position(&self) -> Position {
        let p = self.handle.position();
        Position { offset: p.offset.as_str().to_string(), cursor: p.cursor, up_to_date: p.up_to_date, stream_closed: p.stream_closed }
    }

    /// Dynamic header values sent with the request behind the last chunk taken.
    pub fn sent_headers(&self) -> HashMap<String, String> {
        self.handle.sent_values().headers.into_iter().collect()
    }

    pub fn sent_params(&self) -> HashMap<String, String> {
        self.handle.sent_values().params.into_iter().collect()
    }

    /// Stop now: a pending `next` and all later ones return `None`.
    pub fn cancel(&self) {
        self.handle.cancel();
    }

    pub fn is_cancelled(&self) -> bool {
        self.handle.is_cancelled()
    }
}
