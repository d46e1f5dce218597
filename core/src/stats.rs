//! Operating figures of producers and consumers: what a user looks at when a stream
//! seems stuck ("is anything being acknowledged? how much is waiting? what failed last?").
//! Counters are updated with relaxed atomics on the I/O path; a snapshot costs a lock.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::error::Error;

/// A producer's figures since it started ([`crate::Producer::stats`]). Serialized, its
/// keys are the field names (what bindings hand out as a plain record).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct ProducerStats {
    /// Messages handed to the producer (buffered, waiting or already stored).
    pub messages_enqueued: u64,
    /// Messages and body bytes in requests sent, repeats included.
    pub messages_sent: u64,
    pub bytes_sent: u64,
    /// Messages and body bytes the server stored (acknowledged).
    pub messages_acked: u64,
    pub bytes_acked: u64,
    /// Batches the server stored.
    pub batches: u64,
    /// Requests sent, repeats included.
    pub requests: u64,
    /// Requests repeated after a transient failure (network error, `5xx`, `429`).
    pub retries: u64,
    /// Requests repeated because they arrived ahead of their predecessor (`409`).
    pub sequence_gaps: u64,
    /// Requests sent and not answered yet.
    pub in_flight: u64,
    /// Memory held for messages not stored yet (their bytes plus bookkeeping).
    pub buffered_bytes: u64,
    /// The last failure seen, transient ones included (`CODE: message`).
    pub last_error: Option<String>,
}

/// A consumer's figures since it started ([`crate::Consumer::stats`]); serialized as
/// [`ProducerStats`] is.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct ConsumerStats {
    /// Batches (chunks with data) received, and their bytes.
    pub batches: u64,
    pub bytes: u64,
    /// Times the consumer re-opened its read after a failure.
    pub reconnects: u64,
    /// The offset after the last batch handed out.
    pub checkpoint: String,
    pub last_error: Option<String>,
}

fn describe(e: &Error) -> String {
    format!("{}: {}", e.code(), e.message())
}

/// The producer's live counters (held in its shared state).
#[derive(Default)]
pub(crate) struct ProducerCells {
    messages_sent: AtomicU64,
    bytes_sent: AtomicU64,
    messages_acked: AtomicU64,
    bytes_acked: AtomicU64,
    batches: AtomicU64,
    pub(crate) in_flight: AtomicU64,
    last_error: Mutex<Option<String>>,
}

impl ProducerCells {
    pub(crate) fn sent(&self, messages: u64, bytes: usize) {
        self.messages_sent.fetch_add(messages, Relaxed);
        self.bytes_sent.fetch_add(bytes as u64, Relaxed);
    }
    pub(crate) fn stored(&self, messages: u64, bytes: usize) {
        self.messages_acked.fetch_add(messages, Relaxed);
        self.bytes_acked.fetch_add(bytes as u64, Relaxed);
        self.batches.fetch_add(1, Relaxed);
    }
    pub(crate) fn error(&self, e: &Error) {
        *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(describe(e));
    }
    /// The snapshot; the figures the producer keeps elsewhere are passed in.
    pub(crate) fn snapshot(&self, enqueued: u64, buffered: usize, requests: u64, retries: u64, gaps: u64) -> ProducerStats {
        ProducerStats {
            messages_enqueued: enqueued,
            messages_sent: self.messages_sent.load(Relaxed),
            bytes_sent: self.bytes_sent.load(Relaxed),
            messages_acked: self.messages_acked.load(Relaxed),
            bytes_acked: self.bytes_acked.load(Relaxed),
            batches: self.batches.load(Relaxed),
            requests,
            retries,
            sequence_gaps: gaps,
            in_flight: self.in_flight.load(Relaxed),
            buffered_bytes: buffered as u64,
            last_error: self.last_error.lock().unwrap_or_else(|p| p.into_inner()).clone(),
        }
    }
}

/// The consumer's live counters (shared with its handle in push mode).
#[derive(Default)]
pub(crate) struct ConsumerCells {
    batches: AtomicU64,
    bytes: AtomicU64,
    reconnects: AtomicU64,
    last_error: Mutex<Option<String>>,
}

impl ConsumerCells {
    pub(crate) fn batch(&self, bytes: usize) {
        self.batches.fetch_add(1, Relaxed);
        self.bytes.fetch_add(bytes as u64, Relaxed);
    }
    pub(crate) fn reconnect(&self, e: &Error) {
        self.reconnects.fetch_add(1, Relaxed);
        *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(describe(e));
    }
    pub(crate) fn snapshot(&self, checkpoint: &str) -> ConsumerStats {
        ConsumerStats {
            batches: self.batches.load(Relaxed),
            bytes: self.bytes.load(Relaxed),
            reconnects: self.reconnects.load(Relaxed),
            checkpoint: checkpoint.to_string(),
            last_error: self.last_error.lock().unwrap_or_else(|p| p.into_inner()).clone(),
        }
    }
}
