//! Small conversions between JavaScript values and core types.

use std::collections::HashMap;
use std::time::Duration;

use bytes::Bytes;
use durable_streams_sdk::{LiveMode, Offset};
use napi::bindgen_prelude::{Buffer, Either, ToNapiValue, TypeName};
use napi::{ValueType, sys};

use crate::error;

pub fn header_list(h: Option<HashMap<String, String>>) -> Vec<(String, String)> {
    h.map(|h| h.into_iter().collect()).unwrap_or_default()
}

pub fn bytes(b: Buffer) -> Bytes {
    Bytes::copy_from_slice(&b)
}

/// Message data from JavaScript: bytes, or a string (sent as UTF-8). The JavaScript layer
/// passes strings (and JSON text) as they are, which spares allocating a Buffer per
/// message: napi copies the string straight into Rust memory, once.
pub type Data = Either<String, Buffer>;

pub fn data(d: Data) -> Bytes {
    match d {
        Either::A(s) => Bytes::from(s.into_bytes()),
        Either::B(b) => bytes(b),
    }
}

/// The UTF-8 text of joined JavaScript strings, split back into the strings given their
/// lengths in UTF-16 units. Each part is a slice of the one buffer, except where the join
/// made a surrogate pair of two strings' lone surrogates: converted alone, each of those
/// strings ends (starts) with U+FFFD, and so does its part here.
pub fn split_utf16(text: String, lens: &[u32]) -> napi::Result<Vec<Bytes>> {
    let total: usize = lens.iter().map(|&n| n as usize).sum();
    let mismatch = || error::invalid_argument("lens", "the lengths do not add up to the text");
    if text.len() == total {
        // Every non-ASCII character takes more UTF-8 bytes than UTF-16 units: ASCII only.
        let buf = Bytes::from(text.into_bytes());
        let mut at = 0;
        return Ok(lens.iter().map(|&n| { let part = buf.slice(at..at + n as usize); at += n as usize; part }).collect());
    }
    const FFFD: &[u8] = "\u{FFFD}".as_bytes();
    // Per part: its byte range, and whether it starts / ends with half of a split pair.
    let mut parts = Vec::with_capacity(lens.len());
    let mut chars = text.char_indices();
    let (mut at, mut carried) = (0usize, false);
    for &n in lens {
        if n == 0 {
            parts.push((at, at, false, false)); // a pair may straddle an empty string too
            continue;
        }
        let (start, starts_half) = (at, carried);
        let mut units = n as usize - usize::from(carried);
        carried = false;
        let mut ends_half = false;
        while units > 0 {
            let (i, c) = chars.next().ok_or_else(mismatch)?;
            if c.len_utf16() > units {
                (ends_half, carried) = (true, true);
                at = i;
                break;
            }
            units -= c.len_utf16();
            at = i + c.len_utf8();
        }
        parts.push((start, at, starts_half, ends_half));
        if ends_half {
            at += 4; // the pair's bytes belong to neither part
        }
    }
    if carried || chars.next().is_some() {
        return Err(mismatch());
    }
    let buf = Bytes::from(text.into_bytes());
    Ok(parts
        .into_iter()
        .map(|(start, end, starts_half, ends_half)| {
            if !starts_half && !ends_half {
                return buf.slice(start..end);
            }
            let mut v = Vec::with_capacity(end - start + 6);
            if starts_half {
                v.extend_from_slice(FFFD);
            }
            v.extend_from_slice(&buf[start..end]);
            if ends_half {
                v.extend_from_slice(FFFD);
            }
            Bytes::from(v)
        })
        .collect())
}

/// A JavaScript number that must be a whole number (counts, epochs, sizes).
pub fn integer(field: &'static str, v: f64) -> napi::Result<i64> {
    if !v.is_finite() || v.fract() != 0.0 || v.abs() > 9_007_199_254_740_991.0 {
        return Err(error::invalid_argument(field, format!("must be an integer (got {v})")));
    }
    Ok(v as i64)
}

pub fn non_negative(field: &'static str, v: f64) -> napi::Result<u64> {
    u64::try_from(integer(field, v)?).map_err(|_| error::invalid_argument(field, "must be >= 0"))
}

pub fn positive(field: &'static str, v: f64) -> napi::Result<usize> {
    match integer(field, v)? {
        n if n > 0 => Ok(n as usize),
        _ => Err(error::invalid_argument(field, "must be > 0")),
    }
}

/// Milliseconds that must be > 0.
pub fn positive_ms(field: &'static str, ms: f64) -> napi::Result<Duration> {
    if !(ms.is_finite() && ms > 0.0) {
        return Err(error::invalid_argument(field, "must be > 0"));
    }
    // Finite is not enough: beyond Duration's range from_secs_f64 panics.
    Duration::try_from_secs_f64(ms / 1e3).map_err(|_| error::invalid_argument(field, "too large"))
}

pub fn offset(o: Option<String>) -> napi::Result<Offset> {
    o.map_or(Ok(Offset::beginning()), |s| Offset::parse(&s)).map_err(error::core)
}

/// `live` as the core spells it (the JavaScript layer maps `true`/`false`).
pub fn live_mode(live: Option<String>) -> napi::Result<LiveMode> {
    live.map_or(Ok(LiveMode::Off), |s| s.parse()).map_err(error::core)
}

/// Bytes handed to JavaScript as a `Buffer` without copying: the Buffer points into the
/// core's memory and drops it when garbage-collected. (A copy per read chunk costs about
/// as much CPU as everything else the binding does on a bulk catch-up read.)
pub struct JsBytes(pub Bytes);

impl TypeName for JsBytes {
    fn type_name() -> &'static str {
        "Buffer"
    }

    fn value_type() -> ValueType {
        ValueType::Object
    }
}

unsafe extern "C" fn drop_bytes(_env: sys::napi_env, _data: *mut std::ffi::c_void, hint: *mut std::ffi::c_void) {
    // SAFETY: `hint` is the `Box<Bytes>` leaked in `to_napi_value`, finalized exactly once.
    drop(unsafe { Box::from_raw(hint.cast::<Bytes>()) });
}

impl ToNapiValue for JsBytes {
    unsafe fn to_napi_value(env: sys::napi_env, val: Self) -> napi::Result<sys::napi_value> {
        let bytes = val.0;
        if bytes.is_empty() {
            // SAFETY: plain conversion on the JavaScript thread (napi calls this there).
            return unsafe { Buffer::to_napi_value(env, Buffer::from(Vec::new())) };
        }
        let (ptr, len) = (bytes.as_ptr(), bytes.len());
        let hint = Box::into_raw(Box::new(bytes));
        let mut out = std::ptr::null_mut();
        // SAFETY: `ptr..ptr+len` stays valid while the boxed `Bytes` lives, i.e. until
        // `drop_bytes` runs. Application code may write into the Buffer: that range is
        // heap memory nothing on the Rust side reads any more (no reference to it is held
        // across the handoff; the box only keeps the allocation alive).
        let status = unsafe {
            sys::napi_create_external_buffer(env, len, ptr as *mut std::ffi::c_void, Some(drop_bytes), hint.cast(), &mut out)
        };
        if status == sys::Status::napi_ok {
            return Ok(out);
        }
        // External buffers can be disallowed (e.g. V8 sandbox builds): copy instead.
        // SAFETY: the finalizer was not registered, so the box is still ours.
        let bytes = unsafe { Box::from_raw(hint) };
        unsafe { Buffer::to_napi_value(env, Buffer::from(bytes.to_vec())) }
    }
}
