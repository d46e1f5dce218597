//! The core's `tracing` events, forwarded to Python's `logging` under the
//! `durable_streams_sdk` logger (children `.http`, `.read`, `.producer`, `.consumer`).
//!
//! The threads that emit events (the runtime's I/O threads, any caller) never take the
//! GIL: a record goes into a bounded queue, and a daemon Python thread
//! (`durable_streams_sdk/_logging.py`) takes records out with the GIL released while it
//! waits, then calls `logging`. So a Python thread holding the GIL can never stall I/O,
//! and nothing deadlocks. Filtering is one relaxed atomic load per event; the pump thread
//! refreshes the threshold from the loggers' effective levels several times a second.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError, sync_channel};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use durable_streams_sdk::trace::{Forward, LogRecord, Threshold, level_rank};
use pyo3::prelude::*;
use tracing::Level;

/// Records waiting for the pump; beyond this many, new ones are counted and dropped.
const QUEUE: usize = 10_000;
/// At most this many records per crossing into Python.
const BATCH: usize = 512;

struct Bridge {
    threshold: Threshold,
    rx: Mutex<Receiver<LogRecord>>,
}

static BRIDGE: OnceLock<Bridge> = OnceLock::new();
static DROPPED: AtomicU64 = AtomicU64::new(0);

/// Python `logging` level → the lowest tracing level rank that passes.
fn rank_of_python(level: i32) -> u8 {
    match level {
        ..=5 => level_rank(Level::TRACE),
        6..=10 => level_rank(Level::DEBUG),
        11..=20 => level_rank(Level::INFO),
        21..=30 => level_rank(Level::WARN),
        31..=40 => level_rank(Level::ERROR),
        _ => level_rank(Level::ERROR) + 1,
    }
}

fn python_level(level: Level) -> i32 {
    match level {
        Level::TRACE => 5,
        Level::DEBUG => 10,
        Level::INFO => 20,
        Level::WARN => 30,
        Level::ERROR => 40,
    }
}

fn send(tx: &SyncSender<LogRecord>, record: LogRecord) {
    if let Err(TrySendError::Full(_)) = tx.try_send(record) {
        DROPPED.fetch_add(1, Ordering::Relaxed);
    }
}

/// Install the forwarding subscriber as the process's global default, with the
/// threshold of this Python `logging` level. False if a subscriber already exists.
#[pyfunction]
fn _log_install(level: i32) -> bool {
    let mut installed = false;
    BRIDGE.get_or_init(|| {
        let (tx, rx) = sync_channel(QUEUE);
        let threshold = Threshold::new(rank_of_python(level));
        let sub = Forward::new(threshold.clone(), move |r| send(&tx, r));
        installed = tracing::subscriber::set_global_default(sub).is_ok();
        Bridge { threshold, rx: Mutex::new(rx) }
    });
    installed
}

#[pyfunction]
fn _log_set_level(level: i32) {
    if let Some(b) = BRIDGE.get() {
        b.threshold.set(rank_of_python(level));
    }
}

/// Wait up to `timeout` seconds (GIL released) for records; returns them as
/// `(logger name, logging level, message)`.
#[pyfunction]
fn _log_take(py: Python<'_>, timeout: f64) -> Vec<(String, i32, String)> {
    let Some(b) = BRIDGE.get() else { return Vec::new() };
    let wait = Duration::from_secs_f64(timeout.clamp(0.0, 60.0));
    let records = py.detach(|| {
        let rx = b.rx.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = Vec::new();
        match rx.recv_timeout(wait) {
            Ok(r) => out.push(r),
            Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => return out,
        }
        while out.len() < BATCH {
            match rx.try_recv() {
                Ok(r) => out.push(r),
                Err(_) => break,
            }
        }
        out
    });
    let mut out: Vec<(String, i32, String)> = records
        .into_iter()
        .map(|r| (r.target.replace("::", "."), python_level(r.level), r.line))
        .collect();
    let dropped = DROPPED.swap(0, Ordering::Relaxed);
    if dropped > 0 {
        out.push(("durable_streams_sdk".into(), 30, format!("{dropped} log records dropped (the logging thread fell behind)")));
    }
    out
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(_log_install, m)?)?;
    m.add_function(wrap_pyfunction!(_log_set_level, m)?)?;
    m.add_function(wrap_pyfunction!(_log_take, m)?)?;
    Ok(())
}
