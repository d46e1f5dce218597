#![no_main]
//! SSE parser. Byte 0: flags (1 base64, 2 JSON, 4 small event limit, upper bits the
//! limit); byte 1: feeding step - 1 (low 3 bits: 1..8 bytes per piece); bytes 2-3: the
//! split position; the rest: the response body.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() < 4 {
        return;
    }
    let flags = data[0];
    let step = 1 + (data[1] & 7) as usize;
    let cut = u16::from_le_bytes([data[2], data[3]]) as usize;
    let limit = if flags & 4 != 0 { 1 + (flags >> 3) as usize * 8 } else { 1 << 20 };
    durable_streams_sdk::fuzzing::sse(&data[4..], cut, step, limit, flags & 1 != 0, flags & 2 != 0);
});
