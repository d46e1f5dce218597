//! The one error vocabulary of every binding: a flat [`ErrorInfo`] record per failure
//! and the [`ERROR_TABLE`] that every language's classes are made from.
//!
//! Class names are stems: each language adds its own suffix (`StreamClosed` becomes
//! `StreamClosedError` in Python, Node and Swift, `StreamClosedException` in Kotlin).
//! Detail names are `snake_case` here; a language may re-case them (`nextOffset`)
//! but never renames them or changes their unit (durations are milliseconds).

use crate::error::{Error, ErrorKind};
use crate::ffi::naming::Naming;

/// One row of the error table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorClass {
    /// Stable code carried by every error of this class (`""` for the root).
    pub code: &'static str,
    /// Class name stem, e.g. `StreamClosed`.
    pub name: &'static str,
    /// Stem of the parent class; `None` only for the root.
    pub parent: Option<&'static str>,
    /// The [`ErrorInfo`] detail fields this class carries.
    pub details: &'static [&'static str],
    /// One line for the class's documentation.
    pub doc: &'static str,
}

/// Stem of the root class (`DurableStreamError`, `DurableStreamException`).
pub const ROOT: &str = "DurableStream";

const fn class(
    code: &'static str,
    name: &'static str,
    parent: &'static str,
    details: &'static [&'static str],
    doc: &'static str,
) -> ErrorClass {
    ErrorClass { code, name, parent: Some(parent), details, doc }
}

/// Every error class, parents before children. Codes never change once published.
pub static ERROR_TABLE: &[ErrorClass] = &[
    ErrorClass { code: "", name: ROOT, parent: None, details: &[], doc: "Any failure reported by the SDK." },
    class("NOT_FOUND", "StreamNotFound", ROOT, &[], "The stream (or a fork source) does not exist (404)."),
    class("STREAM_CLOSED", "StreamClosed", ROOT, &["next_offset"], "The stream is closed; next_offset is its final offset."),
    class("GONE", "StreamGone", ROOT, &["earliest_offset"], "The stream was deleted, or the offset is older than retained data (410)."),
    class("STALE_EPOCH", "StaleEpoch", ROOT, &["current_epoch"], "Another producer holds a newer epoch (403); current_epoch is the server's."),
    class("CONFLICT", "Conflict", ROOT, &[], "The request conflicts with the stream's state (409)."),
    class("SEQUENCE_GAP", "SequenceGap", "Conflict", &["expected_seq", "received_seq"], "A producer request arrived ahead of its predecessors."),
    class("SEQUENCE_CONFLICT", "SequenceConflict", "Conflict", &[], "A Stream-Seq not greater than the last accepted one."),
    class("CONTENT_TYPE_MISMATCH", "ContentTypeMismatch", "Conflict", &[], "The body's content type differs from the stream's."),
    class("BAD_REQUEST", "BadRequest", ROOT, &["server_message"], "The server rejected the request (400)."),
    class("INVALID_OFFSET", "InvalidOffset", "BadRequest", &["server_message"], "The server rejected the read offset."),
    class("PAYLOAD_TOO_LARGE", "PayloadTooLarge", ROOT, &[], "The body is larger than the server accepts (413)."),
    class("RATE_LIMITED", "RateLimited", ROOT, &["retry_after_ms"], "Still rate limited (429) after retries."),
    class("UNAUTHORIZED", "Unauthorized", ROOT, &[], "Authentication is missing or wrong (401)."),
    class("FORBIDDEN", "Forbidden", ROOT, &[], "Not allowed (403)."),
    class("NOT_SUPPORTED", "NotSupported", ROOT, &[], "The server does not support this operation (405/501)."),
    class("UNEXPECTED_STATUS", "UnexpectedStatus", ROOT, &[], "Any other failure status, e.g. 5xx after retries."),
    class("NETWORK_ERROR", "Network", ROOT, &["cause"], "The connection failed, was reset, or the body was cut off."),
    class("TIMEOUT", "Timeout", ROOT, &["cause"], "A deadline passed."),
    class("PARSE_ERROR", "MalformedResponse", ROOT, &[], "The server's answer does not follow the protocol."),
    class("INVALID_ARGUMENT", "InvalidArgument", ROOT, &["field"], "A value given by the caller was rejected before any I/O."),
    class("CANCELLED", "Cancelled", ROOT, &[], "The operation was cancelled (session dropped, producer closed, ...)."),
    class("ABORTED", "Aborted", "Cancelled", &[], "The caller aborted the operation."),
    class("CLOSED", "Closed", ROOT, &[], "The producer or consumer has already failed or been closed."),
    class("BUFFER_FULL", "BufferFull", ROOT, &[], "The producer's buffer limit is reached (non-waiting append)."),
    class("CALLBACK_FAILED", "CallbackFailed", ROOT, &[], "Application code called by the SDK failed."),
    class("INTERNAL", "Internal", ROOT, &[], "A bug in the SDK (a panic caught at the language boundary)."),
];

/// The table row for `code` (the root for an unknown code).
pub fn error_class(code: &str) -> &'static ErrorClass {
    ERROR_TABLE.iter().find(|c| c.code == code && !code.is_empty()).unwrap_or(&ERROR_TABLE[0])
}

/// The table as JSON (a list of rows), for binding tests and code generators.
pub fn error_table_json() -> String {
    let rows: Vec<serde_json::Value> = ERROR_TABLE
        .iter()
        .map(|c| {
            serde_json::json!({
                "code": c.code, "name": c.name, "parent": c.parent, "details": c.details, "doc": c.doc,
            })
        })
        .collect();
    serde_json::Value::Array(rows).to_string()
}

/// A failure as a flat record: what every binding turns into its own error value.
/// Serialized (e.g. to JSON), its keys are the table's `details` names (snake_case; the
/// class stem under `class`), absent details as `null`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ErrorInfo {
    pub code: &'static str,
    /// Class name stem from the table (e.g. `StreamClosed`).
    pub class: &'static str,
    /// The code in the conformance adapter protocol's vocabulary.
    pub conformance_code: &'static str,
    pub message: String,
    pub status: Option<u16>,
    /// Repeating the operation later may succeed.
    pub transient: bool,
    /// `STREAM_CLOSED`: the final offset.
    pub next_offset: Option<String>,
    /// `GONE`: the earliest offset still retained.
    pub earliest_offset: Option<String>,
    /// `STALE_EPOCH`: the epoch the server holds.
    pub current_epoch: Option<u64>,
    /// `SEQUENCE_GAP`: what the server expected and what it got.
    pub expected_seq: Option<u64>,
    pub received_seq: Option<u64>,
    /// `RATE_LIMITED`: the server's `Retry-After`, in milliseconds.
    pub retry_after_ms: Option<u64>,
    /// `INVALID_ARGUMENT`: the option or argument, as the caller's language spells it.
    pub field: Option<String>,
    /// `BAD_REQUEST` / `INVALID_OFFSET`: the server's own explanation.
    pub server_message: Option<String>,
    /// `NETWORK_ERROR` / `TIMEOUT`: see [`Error::cause`].
    pub cause: Option<&'static str>,
}

impl ErrorInfo {
    /// Flatten `err`, naming options the way `naming` spells them.
    pub fn new(err: &Error, naming: Naming) -> ErrorInfo {
        let code = err.code();
        let mut info = ErrorInfo {
            code,
            class: error_class(code).name,
            conformance_code: err.conformance_code(),
            // Only validation messages are made of option names; others name URLs,
            // which must never be respelled.
            message: match err.kind() {
                ErrorKind::InvalidArgument { .. } => naming.rewrite(&full_message(err)),
                _ => full_message(err),
            },
            status: err.status(),
            transient: err.is_transient(),
            next_offset: None,
            earliest_offset: None,
            current_epoch: None,
            expected_seq: None,
            received_seq: None,
            retry_after_ms: None,
            field: None,
            server_message: None,
            cause: err.cause(),
        };
        match err.kind() {
            ErrorKind::StreamClosed { next_offset } => info.next_offset = next_offset.as_ref().map(|o| o.to_string()),
            ErrorKind::Gone { earliest_offset } => info.earliest_offset = earliest_offset.as_ref().map(|o| o.to_string()),
            ErrorKind::StaleEpoch { current_epoch } => info.current_epoch = Some(*current_epoch),
            ErrorKind::SequenceGap { expected, received } => {
                info.expected_seq = Some(*expected);
                info.received_seq = Some(*received);
            }
            ErrorKind::RateLimited { retry_after } => {
                info.retry_after_ms = retry_after.map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
            }
            ErrorKind::InvalidArgument { field } => info.field = Some(naming.spell(field).to_string()),
            ErrorKind::BadRequest { server_message } => info.server_message = Some(server_message.clone()),
            ErrorKind::Timeout if info.cause.is_none() => info.cause = Some("timeout"),
            _ => {}
        }
        info
    }
}

/// The message with its cause chain, so a flattened error still says why.
fn full_message(err: &Error) -> String {
    let mut msg = err.message().to_string();
    let mut next = std::error::Error::source(err);
    while let Some(src) = next {
        let text = src.to_string();
        if !msg.contains(&text) {
            msg.push_str(": ");
            msg.push_str(&text);
        }
        next = src.source();
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn every_code_has_one_class_and_every_parent_exists() {
        let mut codes = HashSet::new();
        let mut names = HashSet::new();
        for (i, c) in ERROR_TABLE.iter().enumerate() {
            assert!(codes.insert(c.code), "duplicate code {}", c.code);
            assert!(names.insert(c.name), "duplicate name {}", c.name);
            match c.parent {
                None => assert_eq!(i, 0, "only the root has no parent"),
                Some(p) => assert!(ERROR_TABLE[..i].iter().any(|q| q.name == p), "{}: parent {p} must come first", c.name),
            }
        }
    }

    #[test]
    fn every_kind_maps_to_its_row() {
        use crate::offset::Offset;
        let kinds = [
            ErrorKind::NotFound,
            ErrorKind::StreamClosed { next_offset: Some(Offset::parse("5").unwrap()) },
            ErrorKind::Gone { earliest_offset: None },
            ErrorKind::StaleEpoch { current_epoch: 3 },
            ErrorKind::SequenceGap { expected: 1, received: 2 },
            ErrorKind::SequenceConflict,
            ErrorKind::ContentTypeMismatch,
            ErrorKind::Conflict,
            ErrorKind::InvalidOffset,
            ErrorKind::BadRequest { server_message: "no".into() },
            ErrorKind::PayloadTooLarge,
            ErrorKind::RateLimited { retry_after: Some(std::time::Duration::from_millis(1500)) },
            ErrorKind::Unauthorized,
            ErrorKind::Forbidden,
            ErrorKind::NotSupported,
            ErrorKind::UnexpectedStatus,
            ErrorKind::Network,
            ErrorKind::Timeout,
            ErrorKind::MalformedResponse,
            ErrorKind::InvalidArgument { field: "backoffMaxMs" },
            ErrorKind::Cancelled,
            ErrorKind::Aborted,
            ErrorKind::Closed,
            ErrorKind::BufferFull,
            ErrorKind::Callback,
            ErrorKind::Internal,
        ];
        assert_eq!(kinds.len() + 1, ERROR_TABLE.len(), "a kind without a row, or a row without a kind");
        for kind in kinds {
            let err = Error::new(kind.clone(), "x");
            let row = error_class(err.code());
            assert_eq!(row.code, err.code(), "{kind:?} has no row");
            let info = ErrorInfo::new(&err, Naming::SnakeSeconds);
            for d in row.details {
                let set = match *d {
                    "next_offset" => info.next_offset.is_some(),
                    "earliest_offset" => matches!(kind, ErrorKind::Gone { .. }),
                    "current_epoch" => info.current_epoch.is_some(),
                    "expected_seq" => info.expected_seq.is_some(),
                    "received_seq" => info.received_seq.is_some(),
                    "retry_after_ms" => info.retry_after_ms == Some(1500),
                    "field" => info.field.as_deref() == Some("backoff_max"),
                    "server_message" => matches!(kind, ErrorKind::InvalidOffset) || info.server_message.is_some(),
                    "cause" => matches!(kind, ErrorKind::Network) || info.cause == Some("timeout"),
                    other => panic!("unknown detail {other}"),
                };
                assert!(set, "{kind:?}: detail {d} not filled");
            }
        }
    }

    #[test]
    fn the_json_table_round_trips() {
        let rows: Vec<serde_json::Value> = serde_json::from_str(&error_table_json()).unwrap();
        assert_eq!(rows.len(), ERROR_TABLE.len());
        assert_eq!(rows[1]["name"], "StreamNotFound");
        assert_eq!(rows[1]["parent"], ROOT);
    }
}
