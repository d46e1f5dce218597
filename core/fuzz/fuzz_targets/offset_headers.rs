#![no_main]
//! Offset tokens (as text) and response header values (as raw bytes).
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    durable_streams_sdk::fuzzing::headers(data);
    if let Ok(s) = std::str::from_utf8(data) {
        durable_streams_sdk::fuzzing::offset(s);
    }
});
