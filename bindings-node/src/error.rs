//! Core errors → JavaScript.
//!
//! napi carries only a message across the boundary, so a failure travels as a marker
//! followed by the core's flat [`ErrorInfo`] as JSON; lib/errors.js turns it into the
//! class of the same name, generated from the core's error table.

use durable_streams_sdk::Error as CoreError;
use durable_streams_sdk::ffi::{ErrorInfo, Naming};
use napi::Status;
use serde_json::{Map, Value, json};

/// Prefix of every failure message produced by the native module.
pub const MARKER: &str = "\u{1}durable-streams-error:";

/// The JSON payload describing one failure (without the marker).
pub fn payload(e: &CoreError) -> String {
    let i = ErrorInfo::new(e, Naming::Camel);
    let mut m = Map::new();
    let mut put = |k: &str, v: Value| {
        if !v.is_null() {
            m.insert(k.into(), v);
        }
    };
    put("code", json!(i.code));
    put("name", json!(i.class));
    put("conformanceCode", json!(i.conformance_code));
    put("message", json!(i.message));
    put("transient", json!(i.transient));
    put("status", json!(i.status));
    put("nextOffset", json!(i.next_offset));
    put("earliestOffset", json!(i.earliest_offset));
    put("currentEpoch", json!(i.current_epoch));
    put("expectedSeq", json!(i.expected_seq));
    put("receivedSeq", json!(i.received_seq));
    put("retryAfterMs", json!(i.retry_after_ms));
    put("field", json!(i.field));
    put("serverMessage", json!(i.server_message));
    put("cause", json!(i.cause));
    Value::Object(m).to_string()
}

/// A core error as a napi error the JavaScript layer decodes.
pub fn core(e: CoreError) -> napi::Error {
    napi::Error::new(Status::GenericFailure, format!("{MARKER}{}", payload(&e)))
}

/// A value the binding itself rejects before calling the core.
pub fn invalid_argument(field: &'static str, why: impl std::fmt::Display) -> napi::Error {
    core(CoreError::invalid_argument(field, why))
}

/// A JavaScript callback (a dynamic header function, a consumer handler) failed.
pub fn callback(what: &str, reason: &str) -> CoreError {
    CoreError::callback(format!("callback failed: {what}: {reason}"))
}
