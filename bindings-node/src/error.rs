//! Core errors → JavaScript.
//!
//! napi carries only a code and a message across the boundary, but the JavaScript error
//! classes need the core's data too (status, final offset, current epoch, ...). So every
//! failure travels as a marker followed by a JSON payload in the message; the hand-written
//! layer (lib/errors.js) turns it into the matching `DurableStreamError` subclass. The
//! payload is built here from the core's own accessors: no status or code mapping lives in
//! the binding.

use durable_streams_sdk::{Error as CoreError, ErrorKind, Offset};
use napi::Status;
use serde_json::{Map, Value, json};

/// Prefix of every failure message produced by the native module.
pub const MARKER: &str = "\u{1}durable-streams-error:";

/// The JSON payload describing one failure (without the marker).
pub fn payload(e: &CoreError) -> String {
    let mut m = Map::new();
    m.insert("code".into(), json!(e.code()));
    m.insert("conformanceCode".into(), json!(e.conformance_code()));
    m.insert("message".into(), json!(e.message()));
    m.insert("transient".into(), json!(e.is_transient()));
    if let Some(s) = e.status() {
        m.insert("status".into(), json!(s));
    }
    match e.kind() {
        ErrorKind::StreamClosed { next_offset } => {
            m.insert("finalOffset".into(), offset_value(next_offset.as_ref()));
        }
        ErrorKind::Gone { earliest_offset } => {
            m.insert(
                "earliestOffset".into(),
                offset_value(earliest_offset.as_ref()),
            );
        }
        ErrorKind::StaleEpoch { current_epoch } => {
            m.insert("currentEpoch".into(), json!(current_epoch));
        }
        ErrorKind::SequenceGap { expected, received } => {
            m.insert("expectedSeq".into(), json!(expected));
            m.insert("receivedSeq".into(), json!(received));
        }
        ErrorKind::BadRequest { server_message } => {
            m.insert("serverMessage".into(), json!(server_message));
        }
        ErrorKind::RateLimited { retry_after } => {
            m.insert(
                "retryAfterMs".into(),
                retry_after.map_or(Value::Null, |d| json!(d.as_millis() as u64)),
            );
        }
        ErrorKind::InvalidArgument { field } => {
            m.insert("field".into(), json!(field));
        }
        _ => {}
    }
    Value::Object(m).to_string()
}

fn offset_value(o: Option<&Offset>) -> Value {
    o.map_or(Value::Null, |o| json!(o.as_str()))
}

fn encoded(payload: String) -> napi::Error {
    napi::Error::new(Status::GenericFailure, format!("{MARKER}{payload}"))
}

/// A core error as a napi error the JavaScript layer decodes.
pub fn core(e: CoreError) -> napi::Error {
    encoded(payload(&e))
}

/// A binding-side failure that is not a core error (code outside the core vocabulary).
pub fn local(code: &str, message: impl Into<String>) -> napi::Error {
    let message: String = message.into();
    encoded(json!({"code": code, "conformanceCode": "INTERNAL_ERROR", "message": message, "transient": false}).to_string())
}

/// A value the binding itself rejects before calling the core (e.g. a non-integer count).
pub fn invalid_argument(field: &str, why: impl std::fmt::Display) -> napi::Error {
    encoded(
        json!({
            "code": "INVALID_ARGUMENT",
            "conformanceCode": "INVALID_ARGUMENT",
            "message": format!("invalid {field}: {why}"),
            "transient": false,
            "field": field,
        })
        .to_string(),
    )
}

/// The operation was aborted through its AbortSignal. The JavaScript layer replaces this
/// with `signal.reason`.
pub fn aborted() -> napi::Error {
    local("ABORTED", "the operation was aborted")
}

/// A Rust panic caught at the boundary.
pub fn panicked(what: &str) -> napi::Error {
    local(
        "INTERNAL_ERROR",
        format!("internal error in durable-streams-sdk (a bug): {what}"),
    )
}

/// A core `Error` standing for a failure of a JavaScript callback (a dynamic header
/// function that threw, an `onBatch` that rejected): `CALLBACK_FAILED`.
pub fn callback(what: &str, reason: &str) -> CoreError {
    CoreError::callback(format!("callback failed: {what}: {reason}"))
}
