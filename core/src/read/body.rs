//! Streaming one catch-up or long-poll response body out as chunks of bounded size.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use reqwest::Response;

use super::json_split::JsonArraySplitter;
use crate::error::{Error, ErrorKind, Result};

/// How the bytes of a body are cut into pieces.
pub(crate) enum Framing {
    /// Any cut is fine.
    Bytes,
    /// Pieces end on UTF-8 character boundaries so that decoding a piece on its own
    /// never corrupts a character split across TCP reads.
    Text { carry: BytesMut },
    /// Pieces hold whole JSON messages.
    Json(JsonArraySplitter),
}

/// Pieces are gathered from network frames up to this size before being handed out.
const COALESCE_BYTES: usize = 64 * 1024;

/// What one piece of a body holds.
pub(crate) struct Piece {
    /// For JSON: one array of whole messages.
    pub data: Bytes,
    pub json: bool,
    /// The body has been read to its end.
    pub last: bool,
}

pub(crate) struct BodyReader {
    resp: Response,
    framing: Framing,
    max_piece: usize,
    idle: Duration,
    /// Bytes of a frame beyond the current piece's size limit.
    leftover: Option<Bytes>,
    /// Pieces already handed out (a failure after the first one cannot be retried
    /// transparently without delivering data twice).
    pub delivered: usize,
    finished: bool,
}

impl BodyReader {
    pub(crate) fn new(resp: Response, framing: Framing, max_piece: usize, idle: Duration) -> Self {
        BodyReader { resp, framing, max_piece, idle, leftover: None, delivered: 0, finished: false }
    }

    pub(crate) async fn next_piece(&mut self) -> Result<Option<Piece>> {
        if self.finished {
            return Ok(None);
        }
        // Frames of at least COALESCE_BYTES pass through as they are (no copy); only
        // smaller ones are gathered, so no piece needs a large fresh allocation.
        let target = self.max_piece.min(COALESCE_BYTES);
        let mut parts: Vec<Bytes> = Vec::new();
        let mut size = 0usize;
        let mut ended = false;
        while size < target {
            let mut frame = match self.leftover.take() {
                Some(b) => b,
                None => match next_bytes(&mut self.resp, self.idle).await? {
                    Some(b) => b,
                    None => {
                        ended = true;
                        break;
                    }
                },
            };
            if size + frame.len() > self.max_piece {
                self.leftover = Some(frame.split_off(self.max_piece - size));
            }
            size += frame.len();
            parts.push(frame);
        }
        let raw = concat(parts, size);
        let piece = match &mut self.framing {
            Framing::Bytes => Piece { data: raw, json: false, last: ended },
            Framing::Text { carry } => {
                let mut all = if carry.is_empty() {
                    raw
                } else {
                    carry.extend_from_slice(&raw);
                    carry.split().freeze()
                };
                if !ended {
                    let cut = utf8_boundary(&all);
                    carry.extend_from_slice(&all[cut..]);
                    all.truncate(cut);
                }
                Piece { data: all, json: false, last: ended }
            }
            Framing::Json(splitter) => {
                let array = splitter.feed_array(&raw)?;
                if ended {
                    splitter.finish()?;
                }
                // A body that arrived whole is already the array text; no copy then.
                let data = if ended && self.delivered == 0 { raw } else { array };
                Piece { data, json: true, last: ended }
            }
        };
        self.finished = ended;
        self.delivered += 1;
        Ok(Some(piece))
    }
}

/// The next bytes of a body; a body silent for longer than `idle` is a dead connection.
pub(crate) async fn next_bytes(resp: &mut Response, idle: Duration) -> Result<Option<Bytes>> {
    tokio::time::timeout(idle, resp.chunk())
        .await
        .map_err(|_| {
            let idle = crate::error::human_duration(idle);
            Error::new(ErrorKind::Timeout, format!("no data from {} for {idle}", resp.url())).with_cause("timeout")
        })?
        .map_err(|e| crate::client::transport_error(e, resp.url()))
}

/// One buffer from several; no copy when there is just one.
pub(crate) fn concat(mut parts: Vec<Bytes>, size: usize) -> Bytes {
    match parts.len() {
        0 => Bytes::new(),
        1 => parts.pop().unwrap_or_default(),
        _ => {
            let mut b = BytesMut::with_capacity(size);
            for p in parts {
                b.extend_from_slice(&p);
            }
            b.freeze()
        }
    }
}

/// Length of the longest prefix of `data` that does not end inside a UTF-8 sequence.
pub(crate) fn utf8_boundary(data: &[u8]) -> usize {
    let n = data.len();
    // Look back at most 3 bytes for the lead byte of a possibly incomplete sequence.
    for back in 1..=n.min(4) {
        let b = data[n - back];
        if b & 0b1100_0000 == 0b1000_0000 {
            continue; // continuation byte
        }
        let need = if b < 0x80 {
            1
        } else if b >> 5 == 0b110 {
            2
        } else if b >> 4 == 0b1110 {
            3
        } else if b >> 3 == 0b11110 {
            4
        } else {
            1 // invalid lead byte: not ours to fix, cut after it
        };
        return if back >= need { n } else { n - back };
    }
    n
}

#[cfg(test)]
mod tests {
    use super::utf8_boundary;
    use proptest::prelude::*;

    #[test]
    fn keeps_incomplete_sequences_back() {
        let s = "aé€😀".as_bytes();
        assert_eq!(utf8_boundary(s), s.len());
        assert_eq!(utf8_boundary(&s[..s.len() - 1]), s.len() - 4);
        assert_eq!(utf8_boundary(&s[..s.len() - 3]), s.len() - 4);
        assert_eq!(utf8_boundary(&s[..2]), 1);
        assert_eq!(utf8_boundary(b""), 0);
    }

    proptest! {
        #[test]
        fn any_cut_of_valid_text_reassembles(s in any::<String>(), cut in 0usize..64) {
            let bytes = s.as_bytes();
            let cut = cut.min(bytes.len());
            let b = utf8_boundary(&bytes[..cut]);
            prop_assert!(b <= cut && cut - b <= 3);
            prop_assert!(std::str::from_utf8(&bytes[..b]).is_ok());
        }
    }
}
