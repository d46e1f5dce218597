//! Incremental splitting of a JSON-mode response (`[m1,m2,…]`) into its messages.
//!
//! A catch-up response may hold an entire stream; holding it whole to parse it would
//! make memory grow with the stream. The splitter consumes bytes as they arrive,
//! finds the top-level elements, validates each one, and hands back completed
//! elements as cheap slices. A body that is cut off or corrupted is a typed error.
//!
//! Read sessions use [`JsonArraySplitter::feed_array`]: each piece becomes one JSON
//! array of its whole messages (one copy, no per-message allocation), which a binding
//! parses once with its own JSON library. Messages one by one are split on demand
//! ([`items_of`]) from an array that was validated already.

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
    /// Check that every element is valid JSON (off only for arrays checked before).
    validate: bool,
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
            validate: true,
        }
    }

    /// Feed more bytes; completed elements are appended to `out`.
    pub(crate) fn feed(&mut self, data: &[u8], out: &mut Vec<Bytes>) -> Result<()> {
        if let Some((done, ends)) = self.scan(data)? {
            out.extend(ends.into_iter().map(|(s, e)| done.slice(s..e)));
        }
        Ok(())
    }

    /// Feed more bytes; the elements completed by them, as one JSON array (`[]` if none).
    pub(crate) fn feed_array(&mut self, data: &[u8]) -> Result<Bytes> {
        let Some((done, ends)) = self.scan(data)? else { return Ok(Bytes::from_static(b"[]")) };
        // Between the first element's start and the last one's end there are only the
        // elements, commas and whitespace: bracketed, that is the array.
        let span = &done[ends[0].0..ends[ends.len() - 1].1];
        let mut out = BytesMut::with_capacity(span.len() + 2);
        out.extend_from_slice(b"[");
        out.extend_from_slice(span);
        out.extend_from_slice(b"]");
        Ok(out.freeze())
    }

    /// Scan `data`; the buffer up to the last completed element and those elements' spans
    /// in it, or `None` if no element was completed.
    #[allow(clippy::type_complexity)]
    fn scan(&mut self, data: &[u8]) -> Result<Option<(Bytes, Vec<(usize, usize)>)>> {
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
            return Ok(None);
        }
        // Hand out everything up to the last completed element; keep the rest.
        let cut = ends.last().map(|e| e.1).unwrap_or(0);
        let done = self.buf.split_to(cut).freeze();
        if self.validate {
            for &(s, e) in &ends {
                serde_json::from_slice::<serde::de::IgnoredAny>(&done[s..e])
                    .map_err(|err| bad(format!("invalid JSON message in response: {err}")))?;
            }
        }
        self.pos -= cut;
        if self.stage == Stage::InItem {
            self.item_start -= cut;
        }
        Ok(Some((done, ends)))
    }

    /// The body ended: it must have been one complete array.
    pub(crate) fn finish(&self) -> Result<()> {
        match self.stage {
            Stage::Done => Ok(()),
            Stage::Start => Err(bad("empty body where a JSON array was expected".to_string())),
            _ => Err(bad("JSON-mode body ended before the array was closed (truncated?)".to_string())),
        }
    }

    /// Split one complete array (tests and the fuzz targets).
    #[cfg(any(test, feature = "fuzzing"))]
    pub(crate) fn split_all(data: &[u8]) -> Result<Vec<Bytes>> {
        let mut s = JsonArraySplitter::new();
        let mut out = Vec::new();
        s.feed(data, &mut out)?;
        s.finish()?;
        Ok(out)
    }

    /// Validate one complete array; it is returned as compact brackets around its elements.
    pub(crate) fn check_array(data: &[u8]) -> Result<Bytes> {
        let mut s = JsonArraySplitter::new();
        let array = s.feed_array(data)?;
        s.finish()?;
        Ok(array)
    }
}

/// The elements of an array that was validated already (a chunk's data).
pub(crate) fn items_of(array: &[u8]) -> Vec<Bytes> {
    let mut s = JsonArraySplitter::new();
    s.validate = false;
    let mut out = Vec::new();
    // Validated before: a failure here cannot happen; an empty list is the safe answer.
    if s.feed(array, &mut out).is_err() {
        out.clear();
    }
    out
}

/// One array of the given (validated) elements.
pub(crate) fn array_of(items: &[Bytes]) -> Bytes {
    let mut out = BytesMut::with_capacity(items.iter().map(|i| i.len() + 1).sum::<usize>() + 2);
    out.extend_from_slice(b"[");
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.extend_from_slice(b",");
        }
        out.extend_from_slice(item);
    }
    out.extend_from_slice(b"]");
    out.freeze()
}

/// Whether a validated JSON array has no elements.
pub(crate) fn is_empty_array(array: &[u8]) -> bool {
    array.iter().filter(|b| !is_ws(**b)).nth(1).is_none_or(|b| *b == b']')
}

/// One array holding the elements of several validated arrays, in order (no copy when
/// only one of them has elements).
pub(crate) fn join_arrays(arrays: &[Bytes]) -> Bytes {
    let full: Vec<&Bytes> = arrays.iter().filter(|a| !is_empty_array(a)).collect();
    match full.as_slice() {
        [] => Bytes::from_static(b"[]"),
        [one] => (*one).clone(),
        many => {
            let mut out = BytesMut::with_capacity(many.iter().map(|a| a.len()).sum());
            out.extend_from_slice(b"[");
            for (i, a) in many.iter().enumerate() {
                if i > 0 {
                    out.extend_from_slice(b",");
                }
                out.extend_from_slice(inner(a));
            }
            out.extend_from_slice(b"]");
            out.freeze()
        }
    }
}

/// The text between a validated array's brackets.
fn inner(array: &[u8]) -> &[u8] {
    let open = array.iter().position(|b| *b == b'[').map_or(0, |i| i + 1);
    let close = array.iter().rposition(|b| *b == b']').unwrap_or(array.len());
    &array[open..close.max(open)]
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

    #[test]
    fn arrays_join_and_split_back() {
        let a = Bytes::from_static(b"[1, {\"a\":[2]} ]");
        let joined = join_arrays(&[Bytes::from_static(b"[]"), a.clone(), Bytes::new(), Bytes::from_static(b"[\"x\"]")]);
        let v: serde_json::Value = serde_json::from_slice(&joined).unwrap();
        assert_eq!(v, serde_json::json!([1, {"a": [2]}, "x"]));
        assert_eq!(join_arrays(&[Bytes::from_static(b"[]"), a.clone()]), a, "one non-empty array is passed through");
        assert_eq!(&join_arrays(&[])[..], b"[]");
        assert!(is_empty_array(b"") && is_empty_array(b"[]") && is_empty_array(b" [ \n] "));
        assert!(!is_empty_array(b"[0]") && !is_empty_array(b"[[]]"));
        assert_eq!(items_of(&joined), vec![Bytes::from_static(b"1"), Bytes::from_static(b"{\"a\":[2]}"), Bytes::from_static(b"\"x\"")]);
        assert_eq!(JsonArraySplitter::check_array(b"[1,2]").unwrap(), Bytes::from_static(b"[1,2]"));
        assert_eq!(JsonArraySplitter::check_array(b"[1,2").unwrap_err().code(), "PARSE_ERROR");
        assert_eq!(JsonArraySplitter::check_array(b"[1,{]").unwrap_err().code(), "PARSE_ERROR");
    }

    proptest! {
        #[test]
        fn pieces_as_arrays_join_to_the_whole(values in proptest::collection::vec(any::<(i64, String)>(), 0..20), cuts in proptest::collection::vec(0usize..400, 0..8)) {
            let json: Vec<serde_json::Value> = values.iter().map(|(n, s)| serde_json::json!({"n": n, "s": s})).collect();
            let text = serde_json::to_vec_pretty(&json).unwrap();
            let mut cuts = cuts;
            cuts.sort();
            let mut s = JsonArraySplitter::new();
            let mut arrays = Vec::new();
            let mut last = 0;
            for c in cuts.into_iter().chain([text.len()]) {
                let c = c.min(text.len()).max(last);
                let piece = s.feed_array(&text[last..c]).unwrap();
                // Every piece is an array of whole messages on its own.
                prop_assert!(serde_json::from_slice::<Vec<serde_json::Value>>(&piece).is_ok());
                arrays.push(piece);
                last = c;
            }
            s.finish().unwrap();
            let whole: Vec<serde_json::Value> = serde_json::from_slice(&join_arrays(&arrays)).unwrap();
            prop_assert_eq!(&whole, &json);
            prop_assert_eq!(items_of(&join_arrays(&arrays)).len(), json.len());
        }

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
