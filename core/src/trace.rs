//! Observability: the [`tracing`] events the core emits, and a small subscriber that
//! bindings use to forward them to their language's logging.
//!
//! Events (targets `durable_streams_sdk::<area>`, fields in `key=value` form):
//! - `http` DEBUG `request`: `method`, `path`, `status` or `error`, `duration_ms` — every request sent;
//! - `http` INFO `retry`: `method`, `path`, `attempt`, `reason`, `delay_ms` — before each repeat;
//! - `read` INFO `reconnect`: `path`, `attempt`, `reason`, `delay_ms` — a read session re-opening;
//! - `producer` DEBUG `batch`: `path`, `epoch`, `seq`, `messages`, `bytes`, `attempts` — a stored batch;
//!   `producer` INFO `retry` — a batch to be repeated;
//! - `consumer` DEBUG `checkpoint`: `path`, `offset` — the consumer's checkpoint moved.
//!
//! What is recorded is chosen so that nothing secret can be: the URL's path only (the
//! base URL may carry no credentials or query, and query values are never added), no
//! header names or values, and failures as error codes and network causes, never as
//! messages (a server's message could echo a request).

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record as SpanRecord};
use tracing::subscriber::Interest;
use tracing::{Event, Level, Metadata, Subscriber};

use crate::error::Error;

fn ms(d: Duration) -> u64 {
    d.as_millis().min(u64::MAX as u128) as u64
}

/// Why a request is repeated, in words that carry no secret: a status or a cause code.
pub(crate) fn reason_of_status(status: u16) -> String {
    format!("status {status}")
}

pub(crate) fn reason_of_error(e: &Error) -> String {
    match (e.cause(), e.status()) {
        (Some(cause), _) => format!("{}:{cause}", e.code()),
        (None, Some(s)) => format!("{} (status {s})", e.code()),
        (None, None) => e.code().to_string(),
    }
}

pub(crate) fn request(method: &str, path: &str, result: Result<u16, &Error>, took: Duration) {
    match result {
        Ok(status) => {
            tracing::debug!(target: "durable_streams_sdk::http", method, path, status, duration_ms = ms(took), "request")
        }
        Err(e) => tracing::debug!(
            target: "durable_streams_sdk::http",
            method,
            path,
            error = %reason_of_error(e),
            duration_ms = ms(took),
            "request"
        ),
    }
}

pub(crate) fn retry(method: &str, path: &str, attempt: u32, reason: &str, delay: Duration) {
    tracing::info!(target: "durable_streams_sdk::http", method, path, attempt, reason, delay_ms = ms(delay), "retry");
}

pub(crate) fn reconnect(path: &str, attempt: u32, reason: &str, delay: Duration) {
    tracing::info!(target: "durable_streams_sdk::read", path, attempt, reason, delay_ms = ms(delay), "reconnect");
}

pub(crate) fn batch(path: &str, epoch: u64, seq: u64, messages: u64, bytes: usize, attempts: u32) {
    tracing::debug!(target: "durable_streams_sdk::producer", path, epoch, seq, messages, bytes, attempts, "batch");
}

pub(crate) fn batch_retry(path: &str, seq: u64, attempt: u32, reason: &str, delay: Duration) {
    tracing::info!(target: "durable_streams_sdk::producer", path, seq, attempt, reason, delay_ms = ms(delay), "retry");
}

pub(crate) fn checkpoint(path: &str, offset: &str) {
    tracing::debug!(target: "durable_streams_sdk::consumer", path, offset, "checkpoint");
}

/// One event of the SDK, formatted: `message key=value key=value`.
#[derive(Debug, Clone)]
pub struct LogRecord {
    /// `durable_streams_sdk::http`, `…::read`, `…::producer`, `…::consumer`.
    pub target: &'static str,
    pub level: Level,
    pub line: String,
}

/// The least severe level that passes, as a number bindings can keep in an atomic:
/// 0 TRACE, 1 DEBUG, 2 INFO, 3 WARN, 4 ERROR, 5 nothing.
pub fn level_rank(level: Level) -> u8 {
    match level {
        Level::TRACE => 0,
        Level::DEBUG => 1,
        Level::INFO => 2,
        Level::WARN => 3,
        Level::ERROR => 4,
    }
}

/// Shared, cheaply readable threshold of a [`Forward`] subscriber.
#[derive(Clone)]
pub struct Threshold(Arc<AtomicU8>);

impl Threshold {
    pub fn new(rank: u8) -> Threshold {
        Threshold(Arc::new(AtomicU8::new(rank)))
    }
    pub fn set(&self, rank: u8) {
        self.0.store(rank, Ordering::Relaxed);
    }
    pub fn get(&self) -> u8 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A minimal subscriber for bindings: the SDK's own events at or above a threshold the
/// binding can change at any time are formatted and handed to `sink` (on whatever
/// thread emitted them: the sink must not block on the language's runtime). Other
/// crates' events are ignored. Install it with [`tracing::subscriber::set_global_default`].
pub struct Forward<F> {
    threshold: Threshold,
    sink: F,
}

impl<F: Fn(LogRecord) + Send + Sync + 'static> Forward<F> {
    pub fn new(threshold: Threshold, sink: F) -> Forward<F> {
        Forward { threshold, sink }
    }
}

fn ours(meta: &Metadata<'_>) -> bool {
    meta.target().starts_with("durable_streams_sdk")
}

impl<F: Fn(LogRecord) + Send + Sync + 'static> Subscriber for Forward<F> {
    fn register_callsite(&self, meta: &'static Metadata<'static>) -> Interest {
        // "sometimes": the threshold changes at run time, so ask `enabled` each time.
        if ours(meta) { Interest::sometimes() } else { Interest::never() }
    }
    fn enabled(&self, meta: &Metadata<'_>) -> bool {
        ours(meta) && level_rank(*meta.level()) >= self.threshold.get()
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &SpanRecord<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let meta = event.metadata();
        let mut line = Line(String::with_capacity(96));
        event.record(&mut line);
        (self.sink)(LogRecord { target: meta.target(), level: *meta.level(), line: line.0 });
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

/// `message key=value ...`, strings unquoted.
struct Line(String);

impl Line {
    fn sep(&mut self) {
        if !self.0.is_empty() {
            self.0.push(' ');
        }
    }
}

impl Visit for Line {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.sep();
        if field.name() == "message" {
            self.0.push_str(value);
        } else {
            let _ = write!(self.0, "{}={value}", field.name());
        }
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.sep();
        if field.name() == "message" {
            let _ = write!(self.0, "{value:?}");
        } else {
            let _ = write!(self.0, "{}={value:?}", field.name());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[test]
    fn forward_formats_and_filters() {
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        let threshold = Threshold::new(level_rank(Level::INFO));
        let sub = Forward::new(threshold.clone(), move |r: LogRecord| sink.lock().unwrap().push((r.target, r.level, r.line)));
        tracing::subscriber::with_default(sub, || {
            request("GET", "/a", Ok(200), Duration::from_millis(3));
            retry("POST", "/a", 1, "status 503", Duration::from_millis(120));
            threshold.set(level_rank(Level::DEBUG));
            request("GET", "/a", Ok(200), Duration::from_millis(3));
            tracing::info!(target: "other_crate", "not ours");
        });
        let got = lines.lock().unwrap().clone();
        assert_eq!(
            got,
            vec![
                ("durable_streams_sdk::http", Level::INFO, "retry method=POST path=/a attempt=1 reason=status 503 delay_ms=120".to_string()),
                ("durable_streams_sdk::http", Level::DEBUG, "request method=GET path=/a status=200 duration_ms=3".to_string()),
            ]
        );
    }

    #[test]
    fn reasons_carry_codes_not_messages() {
        let e = Error::new(crate::error::ErrorKind::Network, "cannot connect to http://h/s?token=SECRET").with_cause("connection_refused");
        assert_eq!(reason_of_error(&e), "NETWORK_ERROR:connection_refused");
    }
}
