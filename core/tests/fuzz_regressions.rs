//! Inputs the fuzz targets in core/fuzz/ found crashing, kept as regression tests.

use durable_streams_sdk::RetryPolicy;

/// fuzz target retry_after: finite retry delays beyond `Duration`'s range panicked in
/// `Duration::from_secs_f64` (reachable from every binding's retry options).
#[test]
fn retry_delays_beyond_duration_range_are_invalid_arguments() {
    for (initial, max, field) in [(100.0, 1e300, "maxDelayMs"), (1e300, 1e301, "initialDelayMs"), (100.0, f64::MAX, "maxDelayMs")] {
        let e = RetryPolicy::from_parts(Some(5), Some(initial), Some(max), Some(2.0)).unwrap_err();
        assert_eq!(e.code(), "INVALID_ARGUMENT", "{initial} / {max}: {e}");
        assert!(e.to_string().contains(field), "{initial} / {max}: {e}");
    }
    // The largest delays that fit still give bounded backoffs, never a panic.
    let p = RetryPolicy::from_parts(Some(5), Some(1.8e22), Some(1.8e22), Some(f64::MAX)).unwrap();
    for attempt in [0, 1, 63, u32::MAX] {
        assert!(p.backoff(attempt, None) <= p.max_delay);
    }
}

/// The same overflow in the producer's loosely typed options (found next to the one above).
#[test]
fn linger_beyond_duration_range_is_an_invalid_argument() {
    let raw = durable_streams_sdk::RawProducerOptions { linger_ms: Some(1e300), ..Default::default() };
    let e = durable_streams_sdk::ProducerOptions::from_raw(raw).unwrap_err();
    assert_eq!(e.code(), "INVALID_ARGUMENT");
    assert!(e.to_string().contains("lingerMs"), "{e}");
}
