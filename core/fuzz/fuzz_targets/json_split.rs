#![no_main]
//! JSON message splitter. Byte 0: feeding step - 1 (low 3 bits: 1..8 bytes per piece);
//! bytes 1-2: the split position; the rest: the body.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() < 3 {
        return;
    }
    let step = 1 + (data[0] & 7) as usize;
    let cut = u16::from_le_bytes([data[1], data[2]]) as usize;
    durable_streams_sdk::fuzzing::json_split(&data[3..], cut, step);
});
