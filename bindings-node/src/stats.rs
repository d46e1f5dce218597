//! The core's producer statistics (`core/src/stats.rs`) as a plain JS object.

use durable_streams_sdk::stats::ProducerStats as CoreStats;
use napi_derive::napi;

#[napi(object)]
pub struct ProducerStats {
    pub messages_enqueued: i64,
    pub messages_sent: i64,
    pub bytes_sent: i64,
    pub messages_acked: i64,
    pub bytes_acked: i64,
    pub batches: i64,
    pub requests: i64,
    pub retries: i64,
    pub sequence_gaps: i64,
    pub in_flight: i64,
    pub buffered_bytes: i64,
    pub last_error: Option<String>,
}

impl From<CoreStats> for ProducerStats {
    fn from(s: CoreStats) -> Self {
        let n = |v: u64| v.min(i64::MAX as u64) as i64;
        ProducerStats {
            messages_enqueued: n(s.messages_enqueued),
            messages_sent: n(s.messages_sent),
            bytes_sent: n(s.bytes_sent),
            messages_acked: n(s.messages_acked),
            bytes_acked: n(s.bytes_acked),
            batches: n(s.batches),
            requests: n(s.requests),
            retries: n(s.retries),
            sequence_gaps: n(s.sequence_gaps),
            in_flight: n(s.in_flight),
            buffered_bytes: n(s.buffered_bytes),
            last_error: s.last_error,
        }
    }
}
