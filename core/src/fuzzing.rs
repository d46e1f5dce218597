//! Entry points for the coverage-guided fuzz targets in `core/fuzz/` (feature
//! `fuzzing`; not part of the public API). Each function drives one parser that
//! faces the wire with arbitrary bytes and panics only when a property the rest
//! of the crate relies on is broken — so a fuzzer crash is always a real bug.

use std::time::Duration;

use crate::read::fuzz_support::{JsonArraySplitter, SseControl, SseEvent, SseParser, decode_base64};

fn split_all(data: &[u8]) -> crate::Result<Vec<bytes::Bytes>> {
    JsonArraySplitter::split_all(data)
}

/// Feed `body` to the SSE parser whole, in pieces of `step` bytes (1 = byte by byte:
/// split at every position at once) and split in two at `cut`; all must yield the same
/// events, the same error and the same end-of-body verdict.
/// Then handle the events as a live read does: base64 data events are decoded,
/// JSON data events split, control events parsed and their offsets validated.
pub fn sse(body: &[u8], cut: usize, step: usize, max_event_bytes: usize, base64: bool, json: bool) {
    let limit = max_event_bytes.max(1);
    let whole = parse_sse(&[body], limit);
    let cut = cut.min(body.len());
    assert_eq!(whole, parse_sse(&[&body[..cut], &body[cut..]], limit), "split at {cut} changed the result");
    let pieces: Vec<&[u8]> = body.chunks(step.max(1)).collect();
    assert_eq!(whole, parse_sse(&pieces, limit), "feeding {step} bytes at a time changed the result");

    for ev in &whole.0 {
        assert!(ev.data.len() <= limit, "event data over the limit");
        match ev.event.as_str() {
            "data" => {
                let payload = if base64 {
                    match decode_base64(&ev.data) {
                        Ok(p) => p,
                        Err(_) => continue,
                    }
                } else {
                    ev.data.clone()
                };
                if json {
                    let _ = split_all(&payload);
                }
            }
            "control" => {
                if let Ok(c) = serde_json::from_slice::<SseControl>(&ev.data) {
                    let _ = crate::offset::Offset::from_server(&c.stream_next_offset);
                }
            }
            _ => {}
        }
    }
}

type SseOutcome = (Vec<SseEvent>, Option<String>, bool);

fn parse_sse(chunks: &[&[u8]], limit: usize) -> SseOutcome {
    let mut p = SseParser::with_max_event_bytes(limit);
    let mut out = Vec::new();
    let mut err = None;
    for c in chunks {
        if let Err(e) = p.feed(c, &mut out) {
            err = Some(e.to_string());
            break;
        }
    }
    let pending = p.finish();
    (out, err, pending)
}

/// Split `body` as one JSON array whole, `step` bytes at a time and at `cut`; all must agree,
/// and agree with serde_json parsing the same bytes as an array of raw values.
pub fn json_split(body: &[u8], cut: usize, step: usize) {
    let whole = split_all(body).map(|v| v.iter().map(|b| b.to_vec()).collect::<Vec<_>>()).ok();
    let cut = cut.min(body.len());
    assert_eq!(whole, split_chunks(&[&body[..cut], &body[cut..]]), "split at {cut} changed the result");
    let pieces: Vec<&[u8]> = body.chunks(step.max(1)).collect();
    assert_eq!(whole, split_chunks(&pieces), "feeding {step} bytes at a time changed the result");

    let reference = serde_json::from_slice::<Vec<&serde_json::value::RawValue>>(body)
        .ok()
        .map(|v| v.iter().map(|r| r.get().as_bytes().to_vec()).collect::<Vec<_>>());
    if let Some(reference) = reference {
        assert_eq!(whole.as_ref(), Some(&reference), "serde_json accepts the array but the splitter disagrees");
    }
}

fn split_chunks(chunks: &[&[u8]]) -> Option<Vec<Vec<u8>>> {
    let mut s = JsonArraySplitter::new();
    let mut out = Vec::new();
    for c in chunks {
        s.feed(c, &mut out).ok()?;
    }
    s.finish().ok()?;
    Some(out.iter().map(|b| b.to_vec()).collect())
}

/// Offsets from callers and servers: never a panic; an accepted token round-trips
/// and contains none of the characters the protocol forbids.
pub fn offset(token: &str) {
    if let Ok(o) = crate::offset::Offset::parse(token) {
        assert_eq!(o.as_str(), token);
        assert!(!token.is_empty());
        assert!(!token.chars().any(|c| matches!(c, ',' | '&' | '=' | '?' | '/') || c.is_whitespace() || c.is_control()));
        let _ = o.is_sentinel();
    }
    let _ = crate::offset::Offset::from_server(token);
}

/// Response header values as the core reads them (any bytes a server may send).
pub fn headers(value: &[u8]) {
    let Ok(v) = reqwest::header::HeaderValue::from_bytes(value) else { return };
    let mut map = reqwest::header::HeaderMap::new();
    map.insert(crate::headers::STREAM_SEQ, v.clone());
    let _ = crate::headers::is_true(Some(&v));
    let _ = crate::headers::get_u64(&map, crate::headers::STREAM_SEQ);
    if let Some(s) = crate::headers::get_str(&map, crate::headers::STREAM_SEQ) {
        let mt = crate::headers::media_type(s);
        assert!(!mt.contains(';'));
        assert_eq!(crate::headers::is_json(s), mt == "application/json");
    }
}

/// `Retry-After` values and retry options as bindings pass them: parsing never
/// panics and is bounded; a policy built from any numbers yields bounded backoffs.
pub fn retry(value: &str, nums: [f64; 3], retries: i64, attempt: u32) {
    if let Some(d) = crate::retry::parse_retry_after(value) {
        assert!(d <= Duration::from_secs(3600), "Retry-After {value:?} gave {d:?}");
    }
    if let Ok(p) = crate::retry::RetryPolicy::from_parts(Some(retries), Some(nums[0]), Some(nums[1]), Some(nums[2])) {
        let d = p.backoff(attempt, None);
        assert!(d <= p.max_delay + Duration::from_micros(1), "backoff {d:?} above max_delay {:?}", p.max_delay);
    }
}
