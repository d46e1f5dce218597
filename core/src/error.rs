//! The one error type of the SDK.
//!
//! Every failure carries a [`ErrorKind`] (with the data a caller needs to react,
//! e.g. the final offset of a closed stream), a stable machine-readable
//! [`Error::code`], the HTTP status when there was one, and a message that names
//! the stream URL. Bindings map `code()` onto their own exception classes, so the
//! codes never change once published.

use std::fmt;
use std::time::Duration;

use crate::offset::Offset;

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong, with the data needed to react to it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// `404`: the stream (or a fork source) does not exist.
    NotFound,
    /// `409` with `Stream-Closed: true`: the stream is closed; `next_offset` is its final offset.
    StreamClosed { next_offset: Option<Offset> },
    /// `410`: the stream was soft-deleted, or the offset is older than retained data.
    Gone { earliest_offset: Option<Offset> },
    /// `403` on a producer request: another producer holds a newer epoch.
    StaleEpoch { current_epoch: u64 },
    /// `409` with `Producer-Expected-Seq`: a producer request arrived ahead of its predecessors.
    SequenceGap { expected: u64, received: u64 },
    /// `409` caused by a `Stream-Seq` that is not greater than the last accepted one.
    SequenceConflict,
    /// `409` on append: the body's content type differs from the stream's.
    ContentTypeMismatch,
    /// Any other `409`, e.g. create with a configuration that differs from the existing stream.
    Conflict,
    /// `400` on a read: the server rejected the offset (or another read parameter).
    InvalidOffset,
    /// `400` anywhere else; the server's explanation is kept.
    BadRequest { server_message: String },
    /// `413`.
    PayloadTooLarge,
    /// `429` after retries ran out.
    RateLimited { retry_after: Option<Duration> },
    /// `401`.
    Unauthorized,
    /// `403` that is not a producer fence.
    Forbidden,
    /// `405` / `501`: the server does not support this operation on this stream.
    NotSupported,
    /// Any other non-success status (e.g. `5xx` after retries ran out).
    UnexpectedStatus,
    /// The connection failed, was reset, or the body was cut off.
    Network,
    /// A client-side deadline passed.
    Timeout,
    /// The server sent something that does not follow the protocol (bad JSON, bad SSE
    /// control event, missing required header, an offset that does not advance).
    MalformedResponse,
    /// A caller-supplied value was rejected before any I/O. `field` names the option
    /// exactly as it is spelled in every language binding (camelCase).
    InvalidArgument { field: &'static str },
    /// The operation was cancelled (session dropped, producer closed, ...).
    Cancelled,
    /// The producer or consumer has already failed or been closed.
    Closed,
    /// The producer's buffer limit is reached (`try_append` only; `append` waits).
    BufferFull,
    /// Application code called by the SDK (a dynamic header provider, a consumer
    /// handler) failed; the original error is the source.
    Callback,
    /// The caller aborted the operation (an `AbortSignal`, a cancelled coroutine).
    Aborted,
    /// A bug: a panic inside the SDK, caught at the language boundary.
    Internal,
}

/// A duration as people write it in a message: `250 ms`, `1.5 s`, `30 s`.
pub(crate) fn human_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        format!("{ms} ms")
    } else if ms % 1000 == 0 {
        format!("{} s", ms / 1000)
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

/// The SDK's error: a kind, a message naming the stream, and the HTTP status if any.
pub struct Error {
    kind: ErrorKind,
    message: String,
    status: Option<u16>,
    cause: Option<&'static str>,
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

impl Error {
    /// An error of the given kind (bindings use it for failures on their side, e.g.
    /// [`ErrorKind::Callback`]).
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error { kind, message: message.into(), status: None, cause: None, source: None }
    }

    pub fn with_status(mut self, status: u16) -> Self {
        self.status = Some(status);
        self
    }

    /// Attach the underlying cause (reachable through `std::error::Error::source`).
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Box::new(source));
        self
    }

    /// Application code called by the SDK failed.
    pub fn callback(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Callback, message)
    }

    /// A panic (or another bug) caught at a language boundary.
    pub fn internal(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Internal, message)
    }

    /// Name what a network failure was, in the words of [`Error::cause`].
    pub fn with_cause(mut self, cause: &'static str) -> Self {
        self.cause = Some(cause);
        self
    }

    /// For network failures and timeouts: `"connection_refused"`, `"dns"`, `"reset"`,
    /// `"tls"`, `"timeout"`, `"connect_timeout"` or `"other"`.
    pub fn cause(&self) -> Option<&'static str> {
        self.cause
    }

    pub fn invalid_argument(field: &'static str, why: impl fmt::Display) -> Self {
        Error::new(ErrorKind::InvalidArgument { field }, format!("invalid {field}: {why}"))
    }

    pub(crate) fn malformed(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::MalformedResponse, message)
    }

    /// The kind of failure, with its data.
    pub fn kind(&self) -> &ErrorKind {
        &self.kind
    }

    /// HTTP status of the response that caused the error, if there was one.
    pub fn status(&self) -> Option<u16> {
        self.status
    }

    /// Human-readable description (names the stream URL where one was involved).
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Stable, fine-grained code (`SCREAMING_SNAKE_CASE`), identical in every binding.
    pub fn code(&self) -> &'static str {
        match &self.kind {
            ErrorKind::NotFound => "NOT_FOUND",
            ErrorKind::StreamClosed { .. } => "STREAM_CLOSED",
            ErrorKind::Gone { .. } => "GONE",
            ErrorKind::StaleEpoch { .. } => "STALE_EPOCH",
            ErrorKind::SequenceGap { .. } => "SEQUENCE_GAP",
            ErrorKind::SequenceConflict => "SEQUENCE_CONFLICT",
            ErrorKind::ContentTypeMismatch => "CONTENT_TYPE_MISMATCH",
            ErrorKind::Conflict => "CONFLICT",
            ErrorKind::InvalidOffset => "INVALID_OFFSET",
            ErrorKind::BadRequest { .. } => "BAD_REQUEST",
            ErrorKind::PayloadTooLarge => "PAYLOAD_TOO_LARGE",
            ErrorKind::RateLimited { .. } => "RATE_LIMITED",
            ErrorKind::Unauthorized => "UNAUTHORIZED",
            ErrorKind::Forbidden => "FORBIDDEN",
            ErrorKind::NotSupported => "NOT_SUPPORTED",
            ErrorKind::UnexpectedStatus => "UNEXPECTED_STATUS",
            ErrorKind::Network => "NETWORK_ERROR",
            ErrorKind::Timeout => "TIMEOUT",
            ErrorKind::MalformedResponse => "PARSE_ERROR",
            ErrorKind::InvalidArgument { .. } => "INVALID_ARGUMENT",
            ErrorKind::Cancelled => "CANCELLED",
            ErrorKind::Closed => "CLOSED",
            ErrorKind::BufferFull => "BUFFER_FULL",
            ErrorKind::Callback => "CALLBACK_FAILED",
            ErrorKind::Aborted => "ABORTED",
            ErrorKind::Internal => "INTERNAL",
        }
    }

    /// The code in the smaller vocabulary of the conformance adapter protocol, so every
    /// language's adapter reports errors identically without its own mapping table.
    pub fn conformance_code(&self) -> &'static str {
        match &self.kind {
            ErrorKind::NotFound => "NOT_FOUND",
            ErrorKind::StreamClosed { .. } => "STREAM_CLOSED",
            ErrorKind::SequenceConflict => "SEQUENCE_CONFLICT",
            ErrorKind::ContentTypeMismatch | ErrorKind::Conflict | ErrorKind::SequenceGap { .. } => {
                "CONFLICT"
            }
            ErrorKind::InvalidOffset => "INVALID_OFFSET",
            ErrorKind::MalformedResponse => "PARSE_ERROR",
            ErrorKind::InvalidArgument { .. } => "INVALID_ARGUMENT",
            ErrorKind::Network => "NETWORK_ERROR",
            ErrorKind::Timeout => "TIMEOUT",
            ErrorKind::NotSupported => "NOT_SUPPORTED",
            ErrorKind::Cancelled
            | ErrorKind::Aborted
            | ErrorKind::Closed
            | ErrorKind::BufferFull
            | ErrorKind::Callback
            | ErrorKind::Internal => "INTERNAL_ERROR",
            _ => "UNEXPECTED_STATUS",
        }
    }

    /// Whether repeating the same request later may succeed (network trouble, `5xx`, `429`).
    pub fn is_transient(&self) -> bool {
        match self.kind {
            ErrorKind::Network | ErrorKind::Timeout | ErrorKind::RateLimited { .. } => true,
            ErrorKind::UnexpectedStatus => matches!(self.status, Some(s) if s >= 500),
            _ => false,
        }
    }

    /// For [`ErrorKind::StreamClosed`]: the stream's final offset.
    pub fn final_offset(&self) -> Option<&Offset> {
        match &self.kind {
            ErrorKind::StreamClosed { next_offset } => next_offset.as_ref(),
            _ => None,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Error");
        d.field("code", &self.code()).field("kind", &self.kind).field("message", &self.message);
        if let Some(s) = self.status {
            d.field("status", &s);
        }
        if let Some(c) = self.cause {
            d.field("cause", &c);
        }
        if let Some(src) = &self.source {
            d.field("source", &src.to_string());
        }
        d.finish()
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_deref().map(|e| e as &(dyn std::error::Error + 'static))
    }
}

impl Clone for Error {
    /// Errors are shared between the producer's pending acknowledgements; the source
    /// chain is flattened into text on clone.
    fn clone(&self) -> Self {
        Error {
            kind: self.kind.clone(),
            message: match &self.source {
                Some(src) if !self.message.contains(&src.to_string()) => format!("{}: {src}", self.message),
                _ => self.message.clone(),
            },
            status: self.status,
            cause: self.cause,
            source: None,
        }
    }
}
