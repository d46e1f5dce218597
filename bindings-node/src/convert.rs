//! Small conversions between JavaScript values and core types.

use std::collections::HashMap;
use std::time::Duration;

use bytes::Bytes;
use durable_streams_sdk::{LiveMode, Offset, SentValues};
use napi::bindgen_prelude::Buffer;
use napi_derive::napi;

use crate::error;

/// Dynamic header / parameter values used on the final attempt of a request.
#[napi(object)]
pub struct Sent {
    pub headers: HashMap<String, String>,
    pub params: HashMap<String, String>,
}

impl From<&SentValues> for Sent {
    fn from(s: &SentValues) -> Self {
        Sent {
            headers: s.headers.iter().cloned().collect(),
            params: s.params.iter().cloned().collect(),
        }
    }
}

pub fn header_list(h: Option<HashMap<String, String>>) -> Vec<(String, String)> {
    h.map(|h| h.into_iter().collect()).unwrap_or_default()
}

pub fn bytes(b: Buffer) -> Bytes {
    Bytes::copy_from_slice(&b)
}

/// A JavaScript number that must be a whole number (counts, epochs, sizes).
pub fn integer(field: &str, v: f64) -> napi::Result<i64> {
    if !v.is_finite() || v.fract() != 0.0 || v.abs() > 9_007_199_254_740_991.0 {
        return Err(error::invalid_argument(
            field,
            format!("must be an integer (got {v})"),
        ));
    }
    Ok(v as i64)
}

pub fn non_negative(field: &str, v: f64) -> napi::Result<u64> {
    let n = integer(field, v)?;
    u64::try_from(n).map_err(|_| error::invalid_argument(field, "must be >= 0"))
}

/// Milliseconds that must be > 0.
pub fn positive_ms(field: &str, ms: f64) -> napi::Result<Duration> {
    if !(ms.is_finite() && ms > 0.0) {
        return Err(error::invalid_argument(field, "must be > 0"));
    }
    Ok(Duration::from_secs_f64(ms / 1e3))
}

pub fn offset(o: Option<String>) -> napi::Result<Offset> {
    match o {
        None => Ok(Offset::beginning()),
        Some(s) => Offset::parse(&s).map_err(error::core),
    }
}

/// `live`: `false`/absent, `true` (auto), `"auto"`, `"long-poll"` or `"sse"`.
pub fn live_mode(live: Option<String>) -> napi::Result<LiveMode> {
    Ok(match live.as_deref() {
        None | Some("false") | Some("off") => LiveMode::Off,
        Some("true") | Some("auto") => LiveMode::Auto,
        Some("long-poll") => LiveMode::LongPoll,
        Some("sse") => LiveMode::Sse,
        Some(other) => {
            return Err(error::invalid_argument(
                "live",
                format!("{other:?} is not one of false, true, 'auto', 'long-poll', 'sse'"),
            ));
        }
    })
}
