//! Read and consumer options as loosely typed values, the way bindings receive them,
//! checked by the core (as [`crate::RawProducerOptions`] is for producers): every
//! binding accepts and refuses the same values, and names them the same way.

use std::time::Duration;

use crate::consumer::ConsumerOptions;
use crate::error::{Error, Result};
use crate::offset::Offset;
use crate::read::ReadOptions;

/// Options of a read session or a consumer; `None` keeps the default.
#[derive(Debug, Clone, Default)]
pub struct RawReadOptions {
    /// A saved offset, `-1` or `now`.
    pub offset: Option<String>,
    /// A [`crate::LiveMode`] name (its `FromStr` spellings, `"true"` and `"false"` included).
    pub live: Option<String>,
    /// Reads only: a cursor saved from an earlier session.
    pub cursor: Option<String>,
    pub headers: Vec<(String, String)>,
    /// Largest chunk (batch) handed out, > 0.
    pub max_chunk_bytes: Option<i64>,
    /// Consumers only: the reconnect backoff's first and longest delay, milliseconds, > 0.
    pub backoff_base_ms: Option<f64>,
    pub backoff_max_ms: Option<f64>,
}

impl RawReadOptions {
    /// Options of [`crate::Stream::read`] (the backoff fields are not read).
    pub fn read(self) -> Result<ReadOptions> {
        let d = ReadOptions::default();
        Ok(ReadOptions {
            offset: offset(self.offset)?,
            live: self.live.map_or(Ok(d.live), |l| l.parse())?,
            cursor: self.cursor,
            headers: self.headers,
            max_chunk_bytes: chunk_bytes(self.max_chunk_bytes, d.max_chunk_bytes)?,
        })
    }

    /// Options of [`crate::Consumer::new`], which also checks the backoff's order
    /// (`cursor` is not read).
    pub fn consumer(self) -> Result<ConsumerOptions> {
        let d = ConsumerOptions::default();
        Ok(ConsumerOptions {
            offset: offset(self.offset)?,
            live: self.live.map_or(Ok(d.live), |l| l.parse())?,
            backoff_base: millis("backoffBaseMs", self.backoff_base_ms, d.backoff_base)?,
            backoff_max: millis("backoffMaxMs", self.backoff_max_ms, d.backoff_max)?,
            headers: self.headers,
            max_chunk_bytes: chunk_bytes(self.max_chunk_bytes, d.max_chunk_bytes)?,
        })
    }
}

fn offset(token: Option<String>) -> Result<Offset> {
    token.map_or(Ok(Offset::beginning()), |t| Offset::parse(&t))
}

fn chunk_bytes(n: Option<i64>, default: usize) -> Result<usize> {
    match n {
        None => Ok(default),
        Some(n) if n > 0 => usize::try_from(n).map_err(|_| Error::invalid_argument("maxChunkBytes", "too large")),
        Some(_) => Err(Error::invalid_argument("maxChunkBytes", "must be > 0")),
    }
}

/// Milliseconds: finite, > 0, and within `Duration`'s range (beyond it `from_secs_f64` panics).
fn millis(field: &'static str, ms: Option<f64>, default: Duration) -> Result<Duration> {
    let Some(ms) = ms else { return Ok(default) };
    if !(ms.is_finite() && ms > 0.0) {
        return Err(Error::invalid_argument(field, "must be > 0"));
    }
    Duration::try_from_secs_f64(ms / 1e3).map_err(|_| Error::invalid_argument(field, "too large"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::read::LiveMode;

    fn field(e: Error) -> &'static str {
        match e.kind() {
            crate::ErrorKind::InvalidArgument { field } => *field,
            other => panic!("not an option error: {other:?}"),
        }
    }

    #[test]
    fn defaults_and_values() {
        let r = RawReadOptions::default().read().unwrap();
        assert_eq!((r.live, r.max_chunk_bytes), (LiveMode::Off, 1 << 20));
        let c = RawReadOptions::default().consumer().unwrap();
        assert_eq!((c.live, c.backoff_base), (LiveMode::Auto, Duration::from_secs(1)));
        let raw = RawReadOptions {
            offset: Some("now".into()),
            live: Some("true".into()),
            max_chunk_bytes: Some(7),
            backoff_base_ms: Some(12.5),
            ..Default::default()
        };
        let c = raw.consumer().unwrap();
        assert_eq!((c.offset, c.live, c.max_chunk_bytes), (Offset::now(), LiveMode::Auto, 7));
        assert_eq!(c.backoff_base, Duration::from_micros(12_500));
    }

    #[test]
    fn bad_values_name_their_option() {
        let bad = |raw: RawReadOptions| field(raw.consumer().unwrap_err());
        assert_eq!(bad(RawReadOptions { max_chunk_bytes: Some(0), ..Default::default() }), "maxChunkBytes");
        assert_eq!(bad(RawReadOptions { max_chunk_bytes: Some(-1), ..Default::default() }), "maxChunkBytes");
        assert_eq!(bad(RawReadOptions { backoff_base_ms: Some(0.0), ..Default::default() }), "backoffBaseMs");
        assert_eq!(bad(RawReadOptions { backoff_max_ms: Some(f64::NAN), ..Default::default() }), "backoffMaxMs");
        assert_eq!(bad(RawReadOptions { backoff_max_ms: Some(1e300), ..Default::default() }), "backoffMaxMs");
        assert_eq!(bad(RawReadOptions { live: Some("sometimes".into()), ..Default::default() }), "live");
        assert_eq!(bad(RawReadOptions { offset: Some(String::new()), ..Default::default() }), "offset");
        let read = RawReadOptions { max_chunk_bytes: Some(0), ..Default::default() }.read();
        assert_eq!(field(read.unwrap_err()), "maxChunkBytes");
    }
}
