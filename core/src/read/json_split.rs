//! Incremental splitting of a JSON-mode response (`[m1,m2,…]`) into its messages.
//!
//! A catch-up response may hold an entire stream; holding it whole to parse it would
//! make memory grow with the stream. The splitter consumes bytes as they arrive,
//! finds the top-level elements, validates each one, and hands back completed
//! elements as cheap slices. A body that is cut off or corrupted is a typed error.

use bytes::{Bytes, BytesMut};

use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Before the opening `[`.
    Start,
    /// After `[`: an element or `]`.
    FirstItem,
    /// After `,`: an element.
    NextItem,
    /// Inside an element.
    InItem,
    /// After an element: `,` or `]`.
    AfterItem,
    /// After the closing `]`: only whitespace.
    Done,
}

/// Splits a JSON array arriving in pieces into validated element slices.
pub(crate) struct JsonArraySplitter {
    buf: BytesMut,
    /// Bytes of `buf` already scanned.
    pos: usize,
    stage: Stage,
    item_start: usize,
    depth: u32,
    in_string: bool,
    escaped: bool,
    /// The current element is a scalar (number, literal), ended by a delimiter.
    scalar: bool,
}

fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

impl JsonArraySplitter {
    pub(crate) fn new() -> Self {
        JsonArraySplitter {
            buf: BytesMut::new(),
            pos: 0,
            stage: Stage::Start,
            item_start: 0,
            depth: 0,
            in_string: false,
            escaped: false,
            scalar: false,
        }
    }

    /// Feed more bytes; completed elements are appended to `out`.
    pub(crate) fn feed(&mut self, data: &[u8], out: &mut Vec<Bytes>) -> Result<()> {
        self.buf.extend_from_slice(data);
        let mut ends: Vec<(usize, usize)> = Vec::new();
        let bytes = &self.buf[..];
        let mut i = self.pos;
        while i < bytes.len() {
            let b = bytes[i];
            match self.stage {
                Stage::Start => {
                    if b == b'[' {
                        self.stage = Stage::FirstItem;
                    } else if !is_ws(b) {
                        return Err(bad(format!("expected '[' at the start of a JSON-mode body, found {:?}", b as char)));
                    }
                }
                Stage::FirstItem | Stage::NextItem => {
                    if is_ws(b) {
                    } else if b == b']' && self.stage == Stage::FirstItem {
                        self.stage = Stage::Done;
                    } else if b == b']' || b == b',' {
                        return Err(bad(format!("unexpected {:?} where a JSON value should start", b as char)));
                    } else {
                        self.stage = Stage::InItem;
                        self.item_start = i;
                        self.depth = 0;
                        self.in_string = false;
                        self.escaped = false;
                        self.scalar = false;
                        match b {
                            b'"' => self.in_string = true,
                            b'{' | b'[' => self.depth = 1,
                            _ => self.scalar = true,
                        }
                    }
                }
                Stage::InItem => {
                    if self.in_string && !self.escaped {
                        // Skip the plain run of a string in one go.
                        match memchr::memchr2(b'"', b'\\', &bytes[i..]) {
                            Some(0) => {}
                            Some(off) => {
                                i += off;
                                continue;
                            }
                            None => {
                                i = bytes.len();
                                continue;
                            }
                        }
                    }
                    if self.in_string {
                        if self.escaped {
                            self.escaped = false;
                        } else if b == b'\\' {
                            self.escaped = true;
                        } else if b == b'"' {
                            self.in_string = false;
                            if self.depth == 0 {
                                ends.push((self.item_start, i + 1));
                                self.stage = Stage::AfterItem;
                            }
                        }
                    } else if self.scalar {
                        if is_ws(b) || b == b',' || b == b']' {
                            ends.push((self.item_start, i));
                            self.stage = Stage::AfterItem;
                            continue; // re-examine the delimiter in AfterItem
                        }
                    } else {
                        match b {
                            b'"' => self.in_string = true,
                            b'{' | b'[' => self.depth += 1,
                            b'}' | b']' => {
                                self.depth -= 1;
                                if self.depth == 0 {
                                    ends.push((self.item_start, i + 1));
                                    self.stage = Stage::AfterItem;
                                }
                            }
                            _ => {}
                        }
                    }
                }
                Stage::AfterItem => {
                    if b == b',' {
                        self.stage = Stage::NextItem;
                    } else if b == b']' {
                        self.stage = Stage::Done;
                    } else if !is_ws(b) {
                        return Err(bad(format!("expected ',' or ']' after a JSON value, found {:?}", b as char)));
                    }
                }
                Stage::Done => {
                    if !is_ws(b) {
                        return Err(bad("unexpected data after the end of the JSON array".to_string()));
                    }
                }
            }
            i += 1;
        }
        self.pos = i;
        if ends.is_empty() {
            return Ok(());
        }
        // Hand out everything up to the last completed element; keep the rest.
        let cut = ends.last().map(|e| e.1).unwrap_or(0);
        let done = self.buf.split_to(cut).freeze();
        for (s, e) in ends {
            let item = done.slice(s..e);
            serde_json::from_slice::<serde::de::IgnoredAny>(&item)
                .map_err(|err| bad(format!("invalid JSON message in response: {err}")))?;
            out.push(item);
        }
        self.pos -= cut;
        if self.stage == Stage::InItem {
            self.item_start -= cut;
        }
        Ok(())
    }

    /// The body ended: it must have been one complete array.
    pub(crate) fn finish(&self) -> Result<()> {
        match self.stage {
            Stage::Done => Ok(()),
            Stage::Start => Err(bad("empty body where a JSON array was expected".to_string())),
            _ => Err(bad("JSON-mode body ended before the array was closed (truncated?)".to_string())),
        }
    }

    /// Split one complete array (an SSE data event, a small response).
    pub(crate) fn split_all(data: &[u8]) -> Result<Vec<Bytes>> {
        let mut s = JsonArraySplitter::new();
        let mut out = Vec::new();
        s.feed(data, &mut out)?;
        s.finish()?;
        Ok(out)
    }
}

fn bad(message: String) -> Error {
    Error::malformed(message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn split_in_pieces(data: &[u8], cuts: &[usize]) -> Result<Vec<Bytes>> {
        let mut s = JsonArraySplitter::new();
        let mut out = Vec::new();
        let mut last = 0;
        for &c in cuts {
            let c = c.min(data.len()).max(last);
            s.feed(&data[last..c], &mut out)?;
            last = c;
        }
        s.feed(&data[last..], &mut out)?;
        s.finish()?;
        Ok(out)
    }

    #[test]
    fn splits_compact_and_spaced_arrays() {
        let items = JsonArraySplitter::split_all(br#"[{"a":1},[1,[2]],"x,]\"y",3.5e2,true,null]"#).unwrap();
        let texts: Vec<&[u8]> = items.iter().map(|b| &b[..]).collect();
        assert_eq!(texts, vec![&br#"{"a":1}"#[..], b"[1,[2]]", br#""x,]\"y""#, b"3.5e2", b"true", b"null"]);
        let spaced = JsonArraySplitter::split_all(b" [ 1 ,\n 2 ] \n").unwrap();
        assert_eq!(spaced, vec![Bytes::from_static(b"1"), Bytes::from_static(b"2")]);
        assert!(JsonArraySplitter::split_all(b"[]").unwrap().is_empty());
    }

    #[test]
    fn rejects_truncated_and_corrupted_bodies() {
        for bad in [&b""[..], b"[", b"[{\"a\":1}", b"[{\"a\":1},", b"[1,]", b"[,1]", b"{\"a\":1}", b"XY\"a\":1}]", b"[1]x", b"[{\"key\": \"some", b"[tru]", b"[1 2]"] {
            let err = JsonArraySplitter::split_all(bad).unwrap_err();
            assert_eq!(err.code(), "PARSE_ERROR", "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn hands_out_items_before_the_body_ends() {
        let mut s = JsonArraySplitter::new();
        let mut out = Vec::new();
        s.feed(b"[{\"a\":1},{\"b\"", &mut out).unwrap();
        assert_eq!(out, vec![Bytes::from_static(b"{\"a\":1}")]);
        s.feed(b":2}]", &mut out).unwrap();
        s.finish().unwrap();
        assert_eq!(out.len(), 2);
        assert_eq!(&out[1][..], b"{\"b\":2}");
    }

    proptest! {
        #[test]
        fn any_split_gives_the_same_items(values in proptest::collection::vec(any::<(i64, String, bool)>(), 0..20), cuts in proptest::collection::vec(0usize..400, 0..8)) {
            let json: Vec<serde_json::Value> = values.iter().map(|(n, s, b)| serde_json::json!({"n": n, "s": s, "b": [b, null]})).collect();
            let text = serde_json::to_vec(&json).unwrap();
            let mut cuts = cuts;
            cuts.sort();
            let items = split_in_pieces(&text, &cuts).unwrap();
            prop_assert_eq!(items.len(), json.len());
            for (item, v) in items.iter().zip(&json) {
                let parsed: serde_json::Value = serde_json::from_slice(item).unwrap();
                prop_assert_eq!(&parsed, v);
            }
        }

        #[test]
        fn never_panics(data in proptest::collection::vec(any::<u8>(), 0..200), cuts in proptest::collection::vec(0usize..200, 0..5)) {
            let mut cuts = cuts;
            cuts.sort();
            let _ = split_in_pieces(&data, &cuts);
        }
    }
}
