//! Core errors → JavaScript.
//!
//! napi carries only a message across the boundary, so a failure travels as a marker
//! followed by the core's flat [`ErrorInfo`] as JSON; lib/errors.js turns it into the
//! class of the same name, generated from the core's error table.

use durable_streams_sdk::Error as CoreError;
use durable_streams_sdk::ffi::{ErrorInfo, Naming};
use napi::Status;

/// Prefix of every failure message produced by the native module.
pub const MARKER: &str = "\u{1}durable-streams-error:";

/// The JSON payload describing one failure (without the marker): the core's record as
/// it serializes; lib/errors.js camelCases its keys as it does the table's details.
pub fn payload(e: &CoreError) -> String {
    // A record of strings, numbers and booleans: serializing it cannot fail.
    serde_json::to_string(&ErrorInfo::new(e, Naming::Camel)).unwrap_or_default()
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
