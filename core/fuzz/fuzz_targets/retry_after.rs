#![no_main]
//! Retry-After values and retry options: 3 f64 + i64 + u32 of numbers, the rest text.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() < 36 {
        return;
    }
    let f = |i: usize| f64::from_le_bytes(data[i..i + 8].try_into().unwrap());
    let retries = i64::from_le_bytes(data[24..32].try_into().unwrap());
    let attempt = u32::from_le_bytes(data[32..36].try_into().unwrap());
    let text = String::from_utf8_lossy(&data[36..]);
    durable_streams_sdk::fuzzing::retry(&text, [f(0), f(8), f(16)], retries, attempt);
});
