//! Incremental `text/event-stream` (Server-Sent Events) parser.
//!
//! Implements the standard EventSource parsing rules (WHATWG HTML §9.2.6) on
//! raw bytes, fed in arbitrary chunks as they arrive from the network:
//!
//! * lines end at CRLF, LF or CR — also when the CR and the LF of a CRLF arrive
//!   in different chunks; U+0085, U+2028 and U+2029 are ordinary data (we work
//!   on bytes, never on decoded text);
//! * one UTF-8 BOM at the very start of the stream is skipped;
//! * `field:value` with exactly one optional space stripped after the colon; a
//!   line without a colon is a field name with an empty value;
//! * lines starting with `:` are comments; unknown fields (including `retry`)
//!   are ignored; field names compare as bytes (case-sensitive);
//! * several `data:` lines of one event are joined with `\n`;
//! * a blank line dispatches the event if it had at least one `data:` line
//!   **or** an `event:` line (deviation from EventSource, which needs data: we
//!   want control events with empty data so the caller can reject them);
//! * an event not terminated by a blank line when the body ends is discarded.
//!
//! Memory is bounded: comment lines and lines of unknown fields are skipped
//! without being buffered, the data of one event may not exceed
//! `max_event_bytes`, and an `event:`/`id:` value may not exceed it either.

use bytes::Bytes;

/// Default bound on the data of one event (and on an `event:`/`id:` value).
pub(crate) const DEFAULT_MAX_EVENT_BYTES: usize = 64 * 1024 * 1024;

/// A line buffer larger than this is released instead of kept for reuse.
const RETAIN_LINE_CAPACITY: usize = 64 * 1024;

const BOM: [u8; 3] = [0xEF, 0xBB, 0xBF];

/// Longest field name we act upon ("event"); a colon-less prefix longer than
/// this can only be an ignored field.
const MAX_KNOWN_NAME: usize = 5;

/// One dispatched SSE event. `data` is raw bytes (the data: lines joined with
/// b'\n'); UTF-8 validation is the caller's business.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SseEvent {
    /// The `event:` value (decoded lossily); `"message"` when absent or empty.
    pub event: String,
    /// The `data:` lines joined with `\n`; empty when there were none.
    pub data: Bytes,
    /// The last-event-ID buffer at dispatch time (EventSource semantics: it
    /// persists across events until the next `id:` line; `id:` values
    /// containing NUL are ignored). `None` until the first `id:` line.
    pub id: Option<String>,
    /// At least one `data:` line was seen.
    pub has_data: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SseParseError {
    /// An `event:` or `id:` value is longer than `limit` bytes.
    LineTooLong { limit: usize },
    /// The joined data of one event is longer than `limit` bytes.
    EventTooLarge { limit: usize },
}

impl std::fmt::Display for SseParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SseParseError::LineTooLong { limit } => {
                write!(f, "SSE field line longer than {limit} bytes")
            }
            SseParseError::EventTooLarge { limit } => {
                write!(f, "SSE event data larger than {limit} bytes")
            }
        }
    }
}

impl std::error::Error for SseParseError {}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Data,
    Event,
    Id,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LineClass {
    /// Empty line: dispatch.
    Blank,
    /// Comment or unknown field: nothing to do (for a partial line: skip the rest).
    Ignore,
    /// Partial line whose field name is not known yet (a short prefix of a known name).
    Undetermined,
    /// A known field; the value starts at the given offset.
    Field(Field, usize),
}

/// Classify a line (complete or a prefix of one). Only looks at the first
/// `MAX_KNOWN_NAME + 1` bytes, so calling it repeatedly on a growing partial
/// line costs O(1) each time.
fn classify(line: &[u8], complete: bool) -> LineClass {
    if line.is_empty() {
        return if complete { LineClass::Blank } else { LineClass::Undetermined };
    }
    let head = &line[..line.len().min(MAX_KNOWN_NAME + 1)];
    let (name, value_start) = match head.iter().position(|&b| b == b':') {
        Some(0) => return LineClass::Ignore,
        Some(c) => {
            let vs = if line.get(c + 1) == Some(&b' ') { c + 2 } else { c + 1 };
            (&line[..c], vs)
        }
        None if line.len() > MAX_KNOWN_NAME => return LineClass::Ignore,
        None if complete => (line, line.len()),
        None => {
            let could_be_known = [&b"data"[..], b"event", b"id"]
                .iter()
                .any(|k| k.starts_with(line));
            return if could_be_known { LineClass::Undetermined } else { LineClass::Ignore };
        }
    };
    match name {
        b"data" => LineClass::Field(Field::Data, value_start),
        b"event" => LineClass::Field(Field::Event, value_start),
        b"id" => LineClass::Field(Field::Id, value_start),
        _ => LineClass::Ignore,
    }
}

/// Incremental SSE parser; see the module documentation for the rules.
///
/// After `feed` returns an error the parser is poisoned: every later `feed`
/// returns the same error (events pushed onto `out` before the error are
/// valid). `finish` resets it to a fresh parser with the same limit.
#[derive(Debug)]
pub(crate) struct SseParser {
    max_event_bytes: usize,
    /// Number of BOM bytes matched so far at the start of the stream.
    bom_matched: usize,
    /// BOM detection is over (stripped or absent).
    bom_done: bool,
    /// The previous chunk ended with CR: an LF starting the next chunk belongs to it.
    pending_cr: bool,
    /// Bytes of the current line received so far (only for lines not fully
    /// inside one chunk, and only while they may matter).
    line: Vec<u8>,
    /// The current partial line is a comment / unknown field: drop bytes up to
    /// the next line terminator.
    skip_line: bool,
    event_type: Vec<u8>,
    event_seen: bool,
    /// Joined data of the current event is `data[data_start..]`.
    data: Vec<u8>,
    data_start: usize,
    has_data: bool,
    last_id: Option<String>,
    error: Option<SseParseError>,
}

impl Default for SseParser {
    fn default() -> Self {
        Self::new()
    }
}

impl SseParser {
    /// A parser with the default limit (`max_event_bytes` = 64 MiB).
    pub fn new() -> Self {
        Self::with_max_event_bytes(DEFAULT_MAX_EVENT_BYTES)
    }

    /// A parser whose events may carry at most `limit` bytes of data and whose
    /// `event:`/`id:` values may be at most `limit` bytes long.
    pub fn with_max_event_bytes(limit: usize) -> Self {
        SseParser {
            max_event_bytes: limit,
            bom_matched: 0,
            bom_done: false,
            pending_cr: false,
            line: Vec::new(),
            skip_line: false,
            event_type: Vec::new(),
            event_seen: false,
            data: Vec::new(),
            data_start: 0,
            has_data: false,
            last_id: None,
            error: None,
        }
    }

    /// Feed the next bytes of the response body; push every event completed by
    /// them onto `out`.
    pub fn feed(&mut self, chunk: &[u8], out: &mut Vec<SseEvent>) -> Result<(), SseParseError> {
        if let Some(e) = &self.error {
            return Err(e.clone());
        }
        let r = self.feed_inner(chunk, out);
        if let Err(e) = &r {
            self.error = Some(e.clone());
        }
        r
    }

    /// The body ended. Returns true if an incomplete event / partial line was
    /// pending (it is discarded), and also after `feed` failed. The parser is
    /// reset to its initial state.
    pub fn finish(&mut self) -> bool {
        let pending = self.error.is_some()
            || !self.line.is_empty()
            || self.skip_line
            || self.has_data
            || self.event_seen
            || (!self.bom_done && self.bom_matched > 0);
        *self = Self::with_max_event_bytes(self.max_event_bytes);
        pending
    }

    fn feed_inner(&mut self, chunk: &[u8], out: &mut Vec<SseEvent>) -> Result<(), SseParseError> {
        let mut pos = 0;

        if !self.bom_done {
            while pos < chunk.len() {
                if chunk[pos] == BOM[self.bom_matched] {
                    pos += 1;
                    self.bom_matched += 1;
                    if self.bom_matched == BOM.len() {
                        self.bom_done = true;
                        break;
                    }
                } else {
                    // Not a BOM: the bytes matched so far are ordinary line content.
                    self.bom_done = true;
                    self.line.extend_from_slice(&BOM[..self.bom_matched]);
                    break;
                }
            }
            if !self.bom_done {
                return Ok(()); // chunk exhausted inside a possible BOM
            }
        }

        if self.pending_cr && pos < chunk.len() {
            self.pending_cr = false;
            if chunk[pos] == b'\n' {
                pos += 1;
            }
        }

        while pos < chunk.len() {
            let rest = &chunk[pos..];
            match rest.iter().position(|&b| b == b'\n' || b == b'\r') {
                Some(i) => {
                    let end = pos + i;
                    if self.skip_line {
                        self.skip_line = false;
                    } else if self.line.is_empty() {
                        self.process_line(&chunk[pos..end], out)?;
                    } else {
                        self.line.extend_from_slice(&chunk[pos..end]);
                        self.process_buffered_line(out)?;
                    }
                    pos = end + 1;
                    if chunk[end] == b'\r' {
                        if pos < chunk.len() {
                            if chunk[pos] == b'\n' {
                                pos += 1;
                            }
                        } else {
                            self.pending_cr = true;
                        }
                    }
                }
                None => {
                    if !self.skip_line {
                        self.line.extend_from_slice(rest);
                        self.check_partial_line()?;
                    }
                    break;
                }
            }
        }
        Ok(())
    }

    /// Called after the partial line grew: start skipping it if it cannot
    /// matter, and enforce the limits so the buffer stays bounded.
    fn check_partial_line(&mut self) -> Result<(), SseParseError> {
        match classify(&self.line, false) {
            LineClass::Blank | LineClass::Undetermined => Ok(()),
            LineClass::Ignore => {
                self.skip_line = true;
                self.reset_line_buffer();
                Ok(())
            }
            LineClass::Field(field, vs) => {
                let value_len = self.line.len().saturating_sub(vs);
                self.check_value_len(field, value_len)
            }
        }
    }

    fn check_value_len(&self, field: Field, value_len: usize) -> Result<(), SseParseError> {
        let limit = self.max_event_bytes;
        match field {
            Field::Data => {
                let current = self.data.len() - self.data_start;
                let total = current
                    .saturating_add(usize::from(self.has_data))
                    .saturating_add(value_len);
                if total > limit {
                    return Err(SseParseError::EventTooLarge { limit });
                }
            }
            Field::Event | Field::Id => {
                if value_len > limit {
                    return Err(SseParseError::LineTooLong { limit });
                }
            }
        }
        Ok(())
    }

    fn reset_line_buffer(&mut self) {
        if self.line.capacity() > RETAIN_LINE_CAPACITY {
            self.line = Vec::new();
        } else {
            self.line.clear();
        }
    }

    /// Process the complete line accumulated in `self.line`.
    fn process_buffered_line(&mut self, out: &mut Vec<SseEvent>) -> Result<(), SseParseError> {
        let buf = std::mem::take(&mut self.line);
        if let LineClass::Field(Field::Data, vs) = classify(&buf, true) {
            // First data line of the event: adopt the buffer instead of copying
            // the value (unless that would pin a mostly empty allocation).
            if !self.has_data && buf.capacity() / 2 <= buf.len() {
                self.check_value_len(Field::Data, buf.len() - vs)?;
                self.data = buf;
                self.data_start = vs;
                self.has_data = true;
                return Ok(());
            }
        }
        let r = self.process_line(&buf, out);
        self.line = buf;
        self.reset_line_buffer();
        r
    }

    /// Process one complete line (without its terminator).
    fn process_line(&mut self, line: &[u8], out: &mut Vec<SseEvent>) -> Result<(), SseParseError> {
        match classify(line, true) {
            LineClass::Blank => self.dispatch(out),
            LineClass::Ignore | LineClass::Undetermined => {}
            LineClass::Field(field, vs) => {
                let value = &line[vs..];
                self.check_value_len(field, value.len())?;
                match field {
                    Field::Data => {
                        if self.has_data {
                            self.data.push(b'\n');
                        }
                        self.data.extend_from_slice(value);
                        self.has_data = true;
                    }
                    Field::Event => {
                        self.event_type.clear();
                        self.event_type.extend_from_slice(value);
                        self.event_seen = true;
                    }
                    Field::Id => {
                        if !value.contains(&0) {
                            self.last_id = Some(String::from_utf8_lossy(value).into_owned());
                        }
                    }
                }
            }
        }
        Ok(())
    }

    fn dispatch(&mut self, out: &mut Vec<SseEvent>) {
        if self.has_data || self.event_seen {
            let data = if self.has_data {
                let bytes = Bytes::from(std::mem::take(&mut self.data));
                if self.data_start > 0 { bytes.slice(self.data_start..) } else { bytes }
            } else {
                Bytes::new()
            };
            let event = if self.event_type.is_empty() {
                "message".to_owned()
            } else {
                String::from_utf8_lossy(&self.event_type).into_owned()
            };
            out.push(SseEvent { event, data, id: self.last_id.clone(), has_data: self.has_data });
        }
        self.event_type.clear();
        self.event_seen = false;
        self.data.clear();
        self.data_start = 0;
        self.has_data = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ev(event: &str, data: &[u8]) -> SseEvent {
        SseEvent { event: event.to_owned(), data: Bytes::copy_from_slice(data), id: None, has_data: true }
    }

    fn ev_nodata(event: &str) -> SseEvent {
        SseEvent { event: event.to_owned(), data: Bytes::new(), id: None, has_data: false }
    }

    fn with_id(mut e: SseEvent, id: &str) -> SseEvent {
        e.id = Some(id.to_owned());
        e
    }

    /// Feed all chunks, then finish; returns (events, finish()).
    fn parse_chunks(chunks: &[&[u8]]) -> (Vec<SseEvent>, bool) {
        let mut p = SseParser::new();
        let mut out = Vec::new();
        for c in chunks {
            p.feed(c, &mut out).unwrap();
        }
        let pending = p.finish();
        (out, pending)
    }

    fn parse(input: &[u8]) -> Vec<SseEvent> {
        let (evs, pending) = parse_chunks(&[input]);
        assert!(!pending, "unexpected pending data at EOF");
        evs
    }

    /// Parse `input` whole, byte by byte, and split at every single position and
    /// every pair of positions; all must agree. Returns the events.
    fn parse_all_splits(input: &[u8]) -> (Vec<SseEvent>, bool) {
        let whole = parse_chunks(&[input]);
        let bytewise: Vec<&[u8]> = input.chunks(1).collect();
        assert_eq!(parse_chunks(&bytewise), whole, "byte-by-byte differs");
        for i in 0..=input.len() {
            let (a, b) = input.split_at(i);
            assert_eq!(parse_chunks(&[a, b]), whole, "split at {i} differs");
            for j in i..=input.len() {
                let (b1, b2) = b.split_at(j - i);
                assert_eq!(parse_chunks(&[a, b1, &[], b2]), whole, "split at {i},{j} differs");
            }
        }
        whole
    }

    #[test]
    fn basic_message_defaults() {
        assert_eq!(parse(b"data: hello\n\n"), vec![ev("message", b"hello")]);
        assert_eq!(parse(b"data:hello\n\n"), vec![ev("message", b"hello")]);
    }

    #[test]
    fn event_type_and_data() {
        assert_eq!(
            parse(b"event: data\ndata: [1,2]\n\nevent: control\ndata: {\"a\":1}\n\n"),
            vec![ev("data", b"[1,2]"), ev("control", b"{\"a\":1}")]
        );
        // Field order within an event does not matter; the last event: wins.
        assert_eq!(parse(b"data: x\nevent: a\nevent: b\n\n"), vec![ev("b", b"x")]);
        // Empty event: value means "message".
        assert_eq!(parse(b"event:\ndata: x\n\n"), vec![ev("message", b"x")]);
        // Event type does not leak into the next event.
        assert_eq!(parse(b"event: c\ndata: 1\n\ndata: 2\n\n"), vec![ev("c", b"1"), ev("message", b"2")]);
    }

    #[test]
    fn multiple_data_lines_joined_with_lf() {
        assert_eq!(parse(b"data: a\ndata: b\ndata: c\n\n"), vec![ev("message", b"a\nb\nc")]);
        assert_eq!(parse(b"data:\ndata:\n\n"), vec![ev("message", b"\n")]);
        assert_eq!(parse(b"data: a\ndata:\n\n"), vec![ev("message", b"a\n")]);
        assert_eq!(parse(b"data:\ndata: a\n\n"), vec![ev("message", b"\na")]);
    }

    #[test]
    fn base64_payload_over_multiple_lines() {
        let input = b"event: data\ndata:aGVsbG8g\ndata:d29ybGQh\r\ndata:IQ==\r\n\r\n";
        let (evs, pending) = parse_all_splits(input);
        assert!(!pending);
        assert_eq!(evs, vec![ev("data", b"aGVsbG8g\nd29ybGQh\nIQ==")]);
    }

    #[test]
    fn leading_space_rules() {
        assert_eq!(parse(b"data:\n\n"), vec![ev("message", b"")]);
        assert_eq!(parse(b"data: \n\n"), vec![ev("message", b"")]);
        assert_eq!(parse(b"data:  x\n\n"), vec![ev("message", b" x")]);
        assert_eq!(parse(b"data:x \n\n"), vec![ev("message", b"x ")]);
        assert_eq!(parse(b"data:\tx\n\n"), vec![ev("message", b"\tx")]);
        // No colon: field name is the whole line, value empty.
        assert_eq!(parse(b"data\n\n"), vec![ev("message", b"")]);
        assert_eq!(parse(b"event\ndata: x\n\n"), vec![ev("message", b"x")]);
        // Colons after the first belong to the value.
        assert_eq!(parse(b"data: a:b: c\n\n"), vec![ev("message", b"a:b: c")]);
        assert_eq!(parse(b"event:  sp\ndata\n\n"), vec![ev(" sp", b"")]);
        // Space before the colon makes a different (unknown) field name.
        assert_eq!(parse(b"data : x\n\n"), vec![]);
    }

    #[test]
    fn comments_are_ignored() {
        assert_eq!(parse(b": keep-alive\n\n"), vec![]);
        assert_eq!(parse(b":\n\n:\n\n"), vec![]);
        assert_eq!(
            parse(b": c1\nevent: control\n:data: no\ndata: {}\n: c2\n\n"),
            vec![ev("control", b"{}")]
        );
        let (evs, pending) = parse_all_splits(b":comment\r\ndata: x\r\n:: more\r\n\r\n");
        assert!(!pending);
        assert_eq!(evs, vec![ev("message", b"x")]);
    }

    #[test]
    fn unknown_fields_ignored() {
        assert_eq!(
            parse(b"retry: 1000\nfoo: bar\nData: X\nDATA: Y\ndatas: z\ndat: w\nevents: e\ndata: ok\n\n"),
            vec![ev("message", b"ok")]
        );
        assert_eq!(parse(b"retry: 10\n\n"), vec![]);
        assert_eq!(parse(b"x\n\n"), vec![]);
    }

    #[test]
    fn blank_lines_without_data_dispatch_nothing() {
        assert_eq!(parse(b"\n\n\n"), vec![]);
        assert_eq!(parse(b"\r\n\r\n\r\r"), vec![]);
        assert_eq!(parse(b"id: 1\n\n"), vec![]);
        assert_eq!(parse(b"data: a\n\n\n\n\ndata: b\n\n"), vec![ev("message", b"a"), ev("message", b"b")]);
    }

    #[test]
    fn event_line_with_empty_data_dispatches() {
        // No data line at all: dispatched, has_data false.
        assert_eq!(parse(b"event: control\n\n"), vec![ev_nodata("control")]);
        // Empty data line: has_data true, data empty.
        assert_eq!(parse(b"event: control\ndata:\n\n"), vec![ev("control", b"")]);
        assert_eq!(parse(b"event: control\ndata: \n\n"), vec![ev("control", b"")]);
        // Empty event: line alone still dispatches, as "message".
        assert_eq!(parse(b"event:\n\n"), vec![ev_nodata("message")]);
    }

    #[test]
    fn line_endings_lf_cr_crlf() {
        let expected = vec![ev("e", b"1\n2"), ev("message", b"3")];
        for input in [
            &b"event: e\ndata: 1\ndata: 2\n\ndata: 3\n\n"[..],
            b"event: e\rdata: 1\rdata: 2\r\rdata: 3\r\r",
            b"event: e\r\ndata: 1\r\ndata: 2\r\n\r\ndata: 3\r\n\r\n",
            b"event: e\r\ndata: 1\rdata: 2\n\r\ndata: 3\r\r\n",
        ] {
            let (evs, pending) = parse_all_splits(input);
            assert!(!pending);
            assert_eq!(evs, expected, "input {:?}", String::from_utf8_lossy(input));
        }
    }

    #[test]
    fn lone_cr_line_endings() {
        assert_eq!(parse(b"data: a\rdata: b\r\r"), vec![ev("message", b"a\nb")]);
        // CR CR is two line breaks (blank line), LF CR too.
        assert_eq!(parse(b"data: a\r\rdata: b\n\r"), vec![ev("message", b"a"), ev("message", b"b")]);
        // CR LF CR LF: two breaks, not four.
        assert_eq!(parse(b"data: a\r\n\r\n"), vec![ev("message", b"a")]);
        // LF CR is two breaks, so a blank line.
        assert_eq!(parse(b"data: a\n\rdata: b\n\n"), vec![ev("message", b"a"), ev("message", b"b")]);
    }

    #[test]
    fn crlf_split_across_feeds_is_one_break() {
        // If the split CRLF were two breaks, "a" and "b" would be separate events.
        let input = b"data: a\r\ndata: b\r\n\r\n";
        for i in 0..=input.len() {
            let (a, b) = input.split_at(i);
            let (evs, pending) = parse_chunks(&[a, b]);
            assert!(!pending);
            assert_eq!(evs, vec![ev("message", b"a\nb")], "split at {i}");
        }
        // CR at the end of a chunk, empty chunks, then LF.
        let (evs, _) = parse_chunks(&[b"data: a\r", b"", b"", b"\ndata: b\r", b"\n\r", b"\n"]);
        assert_eq!(evs, vec![ev("message", b"a\nb")]);
        // CR at the end of a chunk, then something else: CR alone was the break.
        let (evs, _) = parse_chunks(&[b"data: a\r", b"\r", b"data: b\r", b"\r"]);
        assert_eq!(evs, vec![ev("message", b"a"), ev("message", b"b")]);
        // Trailing CR with a comment continuing.
        let (evs, _) = parse_chunks(&[b"data: a\r", b":x\n\n"]);
        assert_eq!(evs, vec![ev("message", b"a")]);
    }

    #[test]
    fn utf8_split_at_every_position() {
        // 2-, 3- and 4-byte sequences in event name and data, plus the
        // characters that are line terminators elsewhere but not in SSE.
        let input = "event: ÿé€😀\ndata: é€😀\u{85}\u{2028}\u{2029}x\ndata:😀\n\n".as_bytes();
        let (evs, pending) = parse_all_splits(input);
        assert!(!pending);
        assert_eq!(evs, vec![ev("ÿé€😀", "é€😀\u{85}\u{2028}\u{2029}x\n😀".as_bytes())]);
    }

    #[test]
    fn unicode_newlines_are_not_terminators() {
        let input = "data: a\u{85}b\u{2028}c\u{2029}d\n\n".as_bytes();
        assert_eq!(parse(input), vec![ev("message", "a\u{85}b\u{2028}c\u{2029}d".as_bytes())]);
    }

    #[test]
    fn bom_at_start_is_skipped() {
        let input = b"\xEF\xBB\xBFdata: x\n\n";
        let (evs, pending) = parse_all_splits(input);
        assert!(!pending);
        assert_eq!(evs, vec![ev("message", b"x")]);
        // Only one BOM is stripped: the second one is part of the field name.
        assert_eq!(parse(b"\xEF\xBB\xBF\xEF\xBB\xBFdata: x\n\n"), vec![]);
        // A BOM later in the stream is not stripped.
        assert_eq!(parse(b"data: a\n\n\xEF\xBB\xBFdata: b\n\n"), vec![ev("message", b"a")]);
        // BOM inside data is kept.
        assert_eq!(parse(b"data: \xEF\xBB\xBF\n\n"), vec![ev("message", b"\xEF\xBB\xBF")]);
        // A partial BOM followed by something else is ordinary content.
        let (evs, pending) = parse_all_splits(b"\xEF\xBBdata: x\n\ndata: y\n\n");
        assert!(!pending);
        assert_eq!(evs, vec![ev("message", b"y")]);
        // BOM then blank line and a CR-split.
        let (evs, _) = parse_chunks(&[b"\xEF", b"\xBB", b"\xBF", b"data: z\r", b"\n\r\n"]);
        assert_eq!(evs, vec![ev("message", b"z")]);
        // Stream is only part of a BOM.
        assert_eq!(parse_chunks(&[b"\xEF\xBB"]), (vec![], true));
        assert_eq!(parse_chunks(&[b"\xEF\xBB\xBF"]), (vec![], false));
    }

    #[test]
    fn trailing_event_without_blank_line_is_discarded() {
        assert_eq!(parse_chunks(&[b"data: a\n\ndata: b\n"]), (vec![ev("message", b"a")], true));
        assert_eq!(parse_chunks(&[b"data: a\n\ndata: b"]), (vec![ev("message", b"a")], true));
        assert_eq!(parse_chunks(&[b"data: a\n\nevent: control\n"]), (vec![ev("message", b"a")], true));
        assert_eq!(parse_chunks(&[b"data: a\n\ndata: b\r"]), (vec![ev("message", b"a")], true));
        assert_eq!(parse_chunks(&[b"data: a\n\n: partial comment"]), (vec![ev("message", b"a")], true));
        assert_eq!(parse_chunks(&[b"data: a\n\nda"]), (vec![ev("message", b"a")], true));
        assert_eq!(parse_chunks(&[b"data: a\n\n"]), (vec![ev("message", b"a")], false));
        assert_eq!(parse_chunks(&[b"data: a\r\r"]), (vec![ev("message", b"a")], false));
        assert_eq!(parse_chunks(&[b": c\n"]), (vec![], false));
        assert_eq!(parse_chunks(&[b""]), (vec![], false));
    }

    #[test]
    fn finish_resets_parser() {
        let mut p = SseParser::new();
        let mut out = Vec::new();
        p.feed(b"id: 7\ndata: partial", &mut out).unwrap();
        assert!(p.finish());
        assert!(!p.finish());
        p.feed(b"\xEF\xBB\xBFdata: fresh\n\n", &mut out).unwrap();
        assert_eq!(out, vec![ev("message", b"fresh")]);
    }

    #[test]
    fn id_semantics() {
        assert_eq!(
            parse(b"id: 1\ndata: a\n\ndata: b\n\nid: 2\ndata: c\n\nid\ndata: d\n\nid: x\0y\ndata: e\n\n"),
            vec![
                with_id(ev("message", b"a"), "1"),
                with_id(ev("message", b"b"), "1"),
                with_id(ev("message", b"c"), "2"),
                with_id(ev("message", b"d"), ""),
                with_id(ev("message", b"e"), ""),
            ]
        );
        // id: without a dispatch still updates the buffer.
        assert_eq!(parse(b"id: 5\n\ndata: a\n\n"), vec![with_id(ev("message", b"a"), "5")]);
    }

    #[test]
    fn non_utf8_fields() {
        assert_eq!(
            parse(b"event: a\xFFb\nid: \xC3\ndata: \xFF\xFE\x00\n\n"),
            vec![with_id(ev("a\u{FFFD}b", b"\xFF\xFE\x00"), "\u{FFFD}")]
        );
    }

    #[test]
    fn event_too_large() {
        // Exactly at the limit is fine: "abc\nde" is 6 bytes.
        let mut p = SseParser::with_max_event_bytes(6);
        let mut out = Vec::new();
        p.feed(b"data: abc\ndata: de\n\n", &mut out).unwrap();
        assert_eq!(out, vec![ev("message", b"abc\nde")]);
        // One more byte (whole line in one chunk).
        p.feed(b"data: abc\ndata: def\n\n", &mut out).unwrap_err();
        // Poisoned afterwards.
        assert_eq!(p.feed(b"data: x\n\n", &mut out), Err(SseParseError::EventTooLarge { limit: 6 }));
        assert_eq!(out.len(), 1);

        // Many lines, each within the limit.
        let mut p = SseParser::with_max_event_bytes(10);
        let mut out = Vec::new();
        assert_eq!(
            p.feed(b"data: a\ndata: b\ndata: c\ndata: d\ndata: e\ndata: f\n", &mut out),
            Err(SseParseError::EventTooLarge { limit: 10 })
        );
        assert!(out.is_empty());
    }

    #[test]
    fn huge_line_is_bounded_while_streaming() {
        let limit = 1000;
        let mut p = SseParser::with_max_event_bytes(limit);
        let mut out = Vec::new();
        p.feed(b"data: ", &mut out).unwrap();
        let block = [b'x'; 100];
        let mut err = None;
        for _ in 0..100 {
            if let Err(e) = p.feed(&block, &mut out) {
                err = Some(e);
                break;
            }
            assert!(p.line.len() <= limit + 6 + block.len());
        }
        assert_eq!(err, Some(SseParseError::EventTooLarge { limit }));

        // event: value too long.
        let mut p = SseParser::with_max_event_bytes(4);
        assert_eq!(p.feed(b"event: abcd\n\n", &mut out), Ok(()));
        assert_eq!(p.feed(b"event: abcde", &mut out), Err(SseParseError::LineTooLong { limit: 4 }));
        let mut p = SseParser::with_max_event_bytes(4);
        assert_eq!(p.feed(b"id: abcde\n", &mut out), Err(SseParseError::LineTooLong { limit: 4 }));
    }

    #[test]
    fn ignored_lines_are_not_buffered() {
        let mut p = SseParser::with_max_event_bytes(8);
        let mut out = Vec::new();
        p.feed(b": a long comment", &mut out).unwrap();
        for _ in 0..1000 {
            p.feed(&[b'c'; 1000], &mut out).unwrap();
            assert!(p.line.is_empty());
        }
        p.feed(b"\nretry: 1", &mut out).unwrap();
        p.feed(&[b'9'; 1000], &mut out).unwrap();
        p.feed(b"\nunknownfield", &mut out).unwrap();
        p.feed(&[b'u'; 1000], &mut out).unwrap();
        assert!(p.line.is_empty());
        p.feed(b"\rdata: ok\r\n\r\n", &mut out).unwrap();
        assert_eq!(out, vec![ev("message", b"ok")]);
        assert!(!p.finish());
    }

    #[test]
    fn large_body_in_big_chunks() {
        // ~8 MiB: one 4 MiB single-line event and many small events, fed in
        // 64 KiB chunks and also in 7-byte chunks for the big one.
        let big = vec![b'A'; 4 << 20];
        let mut body = Vec::new();
        body.extend_from_slice(b"event: data\ndata:");
        body.extend_from_slice(&big);
        body.extend_from_slice(b"\n\nevent: control\ndata: {}\n\n");
        for i in 0..40_000 {
            body.extend_from_slice(format!("event: data\ndata: {i}\n\n").as_bytes());
        }
        let mut p = SseParser::new();
        let mut out = Vec::new();
        for c in body.chunks(64 * 1024) {
            p.feed(c, &mut out).unwrap();
        }
        assert!(!p.finish());
        assert_eq!(out.len(), 40_002);
        assert_eq!(out[0].data.len(), big.len());
        assert!(out[0].data.iter().all(|&b| b == b'A'));
        assert_eq!(out[1], ev("control", b"{}"));
        assert_eq!(out[40_001], ev("data", b"39999"));

        let mut p = SseParser::new();
        let mut out = Vec::new();
        for c in body[..big.len() + 100].chunks(7) {
            p.feed(c, &mut out).unwrap();
        }
        assert_eq!(out.len(), 4);
        assert_eq!(out[0].data, Bytes::from(big));
        assert_eq!(out[1], ev("control", b"{}"));
    }

    // ---------------------------------------------------------------- proptest

    /// Byte strings made of SSE-relevant tokens (plus arbitrary bytes).
    fn sse_ish_bytes() -> impl Strategy<Value = Vec<u8>> {
        let token = prop_oneof![
            Just(b"data".to_vec()),
            Just(b"data:".to_vec()),
            Just(b"data: ".to_vec()),
            Just(b"event".to_vec()),
            Just(b"event: ".to_vec()),
            Just(b"id:".to_vec()),
            Just(b"retry: 5".to_vec()),
            Just(b":".to_vec()),
            Just(b" ".to_vec()),
            Just(b"\r".to_vec()),
            Just(b"\n".to_vec()),
            Just(b"\r\n".to_vec()),
            Just(b"\n\n".to_vec()),
            Just(BOM.to_vec()),
            Just("é€😀\u{2028}".as_bytes().to_vec()),
            prop::collection::vec(any::<u8>(), 0..6),
        ];
        (any::<bool>(), prop::collection::vec(token, 0..48)).prop_map(|(bom, toks)| {
            let mut v = if bom { BOM.to_vec() } else { Vec::new() };
            for t in toks {
                v.extend_from_slice(&t);
            }
            v
        })
    }

    fn split_points(len: usize, idx: &[prop::sample::Index]) -> Vec<usize> {
        let mut pts: Vec<usize> = idx.iter().map(|i| i.index(len + 1)).collect();
        pts.sort_unstable();
        pts
    }

    fn chunks_at<'a>(input: &'a [u8], pts: &[usize]) -> Vec<&'a [u8]> {
        let mut out = Vec::new();
        let mut prev = 0;
        for &p in pts {
            out.push(&input[prev..p]);
            prev = p;
        }
        out.push(&input[prev..]);
        out
    }

    /// Feed chunks until the first error; returns (events, error, finish()).
    fn run(limit: usize, chunks: &[&[u8]]) -> (Vec<SseEvent>, Option<SseParseError>, bool) {
        let mut p = SseParser::with_max_event_bytes(limit);
        let mut out = Vec::new();
        for c in chunks {
            if let Err(e) = p.feed(c, &mut out) {
                return (out, Some(e), p.finish());
            }
        }
        let pending = p.finish();
        (out, None, pending)
    }

    fn limit_strategy() -> impl Strategy<Value = usize> {
        prop_oneof![Just(DEFAULT_MAX_EVENT_BYTES), 0usize..24]
    }

    #[derive(Debug, Clone)]
    struct GenEvent {
        name: Option<String>,
        lines: Vec<Vec<u8>>,
        id: Option<String>,
    }

    fn gen_line() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            prop::collection::vec(
                any::<u8>().prop_map(|b| if b == b'\r' || b == b'\n' { b'x' } else { b }),
                0..12
            ),
            "[^\r\n]{0,8}".prop_map(String::into_bytes),
            Just(b" leading space".to_vec()),
            Just(b"  two".to_vec()),
            Just(b"aGVsbG8=".to_vec()),
        ]
    }

    fn gen_event() -> impl Strategy<Value = GenEvent> {
        (
            prop::option::of("[^\r\n]{0,8}"),
            prop::collection::vec(gen_line(), 0..4),
            prop::option::of("[^\r\n\x00]{0,6}"),
        )
            .prop_map(|(name, lines, id)| GenEvent { name, lines, id })
    }

    /// Serializer with randomized (but valid) formatting.
    struct Writer {
        out: Vec<u8>,
        rng: fastrand::Rng,
        prev_cr: bool,
    }

    impl Writer {
        fn line(&mut self, content: &[u8]) {
            self.out.extend_from_slice(content);
            let mut ending: &[u8] = match self.rng.u8(0..3) {
                0 => b"\n",
                1 => b"\r",
                _ => b"\r\n",
            };
            // CR followed by an empty line ending in LF would read as one CRLF.
            if self.prev_cr && content.is_empty() && ending == b"\n" {
                ending = b"\r\n";
            }
            self.out.extend_from_slice(ending);
            self.prev_cr = ending == b"\r";
        }

        fn field(&mut self, name: &[u8], value: &[u8]) {
            let mut l = name.to_vec();
            let style = self.rng.u8(0..3);
            if value.is_empty() && style == 0 {
                // bare field name
            } else if value.first() == Some(&b' ') || style == 1 {
                l.extend_from_slice(b": ");
                l.extend_from_slice(value);
            } else {
                l.push(b':');
                l.extend_from_slice(value);
            }
            self.line(&l);
        }

        fn noise(&mut self) {
            match self.rng.u8(0..8) {
                0 => self.line(b": comment"),
                1 => self.line(b":"),
                2 => self.line(b"retry: 1000"),
                3 => self.line(b"unknown: field"),
                _ => {}
            }
        }
    }

    fn serialize(events: &[GenEvent], seed: u64, bom: bool, trailing: bool) -> Vec<u8> {
        let mut w = Writer { out: Vec::new(), rng: fastrand::Rng::with_seed(seed), prev_cr: false };
        if bom {
            w.out.extend_from_slice(&BOM);
        }
        for e in events {
            w.noise();
            let mut fields: Vec<(&[u8], &[u8])> = Vec::new();
            if let Some(n) = &e.name {
                fields.push((b"event", n.as_bytes()));
            }
            if let Some(id) = &e.id {
                fields.push((b"id", id.as_bytes()));
            }
            // The event/id lines may come anywhere among the data lines.
            let mut data_fields: Vec<(&[u8], &[u8])> =
                e.lines.iter().map(|l| (&b"data"[..], l.as_slice())).collect();
            for f in fields {
                let at = w.rng.usize(0..=data_fields.len());
                data_fields.insert(at, f);
            }
            for (n, v) in data_fields {
                w.field(n, v);
                w.noise();
            }
            w.line(b"");
            if w.rng.u8(0..4) == 0 {
                w.line(b"");
            }
        }
        if trailing {
            w.field(b"data", b"never dispatched");
        }
        w.out
    }

    fn expected(events: &[GenEvent]) -> Vec<SseEvent> {
        let mut last_id: Option<String> = None;
        let mut out = Vec::new();
        for e in events {
            if let Some(id) = &e.id {
                last_id = Some(id.clone());
            }
            if e.name.is_none() && e.lines.is_empty() {
                continue;
            }
            let event = match e.name.as_deref() {
                None | Some("") => "message".to_owned(),
                Some(n) => n.to_owned(),
            };
            out.push(SseEvent {
                event,
                data: Bytes::from(e.lines.join(&b'\n')),
                id: last_id.clone(),
                has_data: !e.lines.is_empty(),
            });
        }
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn never_panics(
            input in prop_oneof![sse_ish_bytes(), prop::collection::vec(any::<u8>(), 0..200)],
            idx in prop::collection::vec(any::<prop::sample::Index>(), 0..10),
            limit in limit_strategy(),
        ) {
            let pts = split_points(input.len(), &idx);
            let _ = run(limit, &chunks_at(&input, &pts));
        }

        #[test]
        fn splitting_does_not_change_result(
            input in sse_ish_bytes(),
            idx in prop::collection::vec(any::<prop::sample::Index>(), 0..10),
            limit in limit_strategy(),
        ) {
            let pts = split_points(input.len(), &idx);
            let whole = run(limit, &[&input]);
            let split = run(limit, &chunks_at(&input, &pts));
            prop_assert_eq!(&split, &whole);
            let bytewise: Vec<&[u8]> = input.chunks(1).collect();
            prop_assert_eq!(&run(limit, &bytewise), &whole);
        }

        #[test]
        fn round_trip(
            events in prop::collection::vec(gen_event(), 0..6),
            seed in any::<u64>(),
            bom in any::<bool>(),
            trailing in any::<bool>(),
            idx in prop::collection::vec(any::<prop::sample::Index>(), 0..10),
        ) {
            let input = serialize(&events, seed, bom, trailing);
            let pts = split_points(input.len(), &idx);
            let (got, err, pending) = run(DEFAULT_MAX_EVENT_BYTES, &chunks_at(&input, &pts));
            prop_assert_eq!(err, None);
            prop_assert_eq!(got, expected(&events));
            prop_assert_eq!(pending, trailing);
        }
    }
}
