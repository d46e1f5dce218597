//! The core's producer and consumer statistics (`core/src/stats.rs`) as plain JS objects.

use durable_streams_sdk::stats::{ConsumerStats as CoreConsumerStats, ProducerStats as CoreStats};
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

/// Counters as JS numbers (exact up to 2^53; an i64 keeps napi from using a BigInt).
fn n(v: u64) -> i64 {
    v.min(i64::MAX as u64) as i64
}

impl From<CoreStats> for ProducerStats {
    fn from(s: CoreStats) -> Self {
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

#[napi(object)]
pub struct ConsumerStats {
    pub batches: i64,
    pub bytes: i64,
    pub reconnects: i64,
    pub checkpoint: String,
    pub last_error: Option<String>,
}

impl From<CoreConsumerStats> for ConsumerStats {
    fn from(s: CoreConsumerStats) -> Self {
        ConsumerStats {
            batches: n(s.batches),
            bytes: n(s.bytes),
            reconnects: n(s.reconnects),
            checkpoint: s.checkpoint,
            last_error: s.last_error,
        }
    }
}
