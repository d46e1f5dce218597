//! One SSE connection: bytes → events → chunks.
//!
//! Data events are buffered until the control event that follows them, because
//! only a control event says at which offset the batch ends. Data seen after the
//! last control event of a connection is dropped on disconnect and read again
//! after reconnecting from that control event's offset.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use base64::Engine;
use bytes::Bytes;
use reqwest::Response;
use serde::Deserialize;

use super::body::{concat, next_bytes};
use super::json_split::{JsonArraySplitter, join_arrays};
use super::sse_parser::{SseEvent, SseParser};
use crate::error::{Error, Result};
use crate::offset::Offset;

/// A batch closed by a control event.
pub(crate) struct SseBatch {
    pub data: Bytes,
    pub json: bool,
    pub next_offset: Offset,
    pub cursor: Option<String>,
    pub up_to_date: bool,
    pub stream_closed: bool,
}

pub(crate) enum SseNext {
    Batch(SseBatch),
    /// The server ended the response without closing the stream.
    Ended,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Control {
    pub(crate) stream_next_offset: String,
    #[serde(default)]
    stream_cursor: Option<String>,
    #[serde(default)]
    up_to_date: bool,
    #[serde(default)]
    stream_closed: bool,
}

pub(crate) struct SseConnection {
    resp: Response,
    parser: SseParser,
    events: VecDeque<SseEvent>,
    scratch: Vec<SseEvent>,
    base64: bool,
    json: bool,
    idle: Duration,
    pending: Vec<Bytes>,
    /// JSON streams: the data events' arrays, validated.
    pending_arrays: Vec<Bytes>,
    pub opened_at: Instant,
    pub batches: u64,
}

impl SseConnection {
    pub(crate) fn new(resp: Response, base64: bool, json: bool, idle: Duration) -> Self {
        SseConnection {
            resp,
            parser: SseParser::new(),
            events: VecDeque::new(),
            scratch: Vec::new(),
            base64,
            json,
            idle,
            pending: Vec::new(),
            pending_arrays: Vec::new(),
            opened_at: Instant::now(),
            batches: 0,
        }
    }

    pub(crate) async fn next(&mut self) -> Result<SseNext> {
        loop {
            while let Some(ev) = self.events.pop_front() {
                if let Some(batch) = self.handle(ev)? {
                    self.batches += 1;
                    return Ok(SseNext::Batch(batch));
                }
            }
            match next_bytes(&mut self.resp, self.idle).await? {
                Some(bytes) => {
                    self.parser.feed(&bytes, &mut self.scratch).map_err(|e| {
                        Error::malformed(format!("SSE stream from {}: {e}", self.resp.url()))
                    })?;
                    self.events.extend(self.scratch.drain(..));
                }
                None => {
                    self.parser.finish();
                    return Ok(SseNext::Ended);
                }
            }
        }
    }

    fn handle(&mut self, ev: SseEvent) -> Result<Option<SseBatch>> {
        match ev.event.as_str() {
            "data" => {
                let payload = if self.base64 { decode_base64(&ev.data)? } else { ev.data };
                if self.json {
                    self.pending_arrays.push(JsonArraySplitter::check_array(&payload)?);
                } else if !payload.is_empty() {
                    self.pending.push(payload);
                }
                Ok(None)
            }
            "control" => {
                let c: Control = serde_json::from_slice(&ev.data).map_err(|e| {
                    Error::malformed(format!(
                        "invalid SSE control event from {}: {e} (data: {:?})",
                        self.resp.url(),
                        String::from_utf8_lossy(&ev.data[..ev.data.len().min(200)])
                    ))
                })?;
                let next_offset = Offset::from_server(&c.stream_next_offset)?;
                let data = if self.json {
                    join_arrays(&std::mem::take(&mut self.pending_arrays))
                } else {
                    let parts = std::mem::take(&mut self.pending);
                    let size = parts.iter().map(Bytes::len).sum();
                    concat(parts, size)
                };
                Ok(Some(SseBatch {
                    data,
                    json: self.json,
                    next_offset,
                    cursor: c.stream_cursor,
                    up_to_date: c.up_to_date || c.stream_closed,
                    stream_closed: c.stream_closed,
                }))
            }
            // Unknown event types are ignored for forward compatibility.
            _ => Ok(None),
        }
    }
}

/// Each base64 data event is decoded on its own, after removing line breaks.
pub(crate) fn decode_base64(data: &[u8]) -> Result<Bytes> {
    let cleaned: Vec<u8>;
    let text = if data.iter().any(|b| *b == b'\n' || *b == b'\r') {
        cleaned = data.iter().copied().filter(|b| *b != b'\n' && *b != b'\r').collect();
        &cleaned[..]
    } else {
        data
    };
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .map(Bytes::from)
        .map_err(|e| Error::malformed(format!("invalid base64 in SSE data event: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn base64_per_event_ignores_line_breaks() {
        assert_eq!(&decode_base64(b"aGVs\nbG8=").unwrap()[..], b"hello");
        assert_eq!(&decode_base64(b"aGVs\r\nbG8=").unwrap()[..], b"hello");
        assert!(decode_base64(b"").unwrap().is_empty());
        assert_eq!(decode_base64(b"a===").unwrap_err().code(), "PARSE_ERROR");
    }

    proptest! {
        #[test]
        fn base64_never_panics(data in proptest::collection::vec(any::<u8>(), 0..100)) {
            let _ = decode_base64(&data);
        }
    }
}
