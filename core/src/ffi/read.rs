//! The pull handle every binding hands out for a read session.
//!
//! One handle, one defined behaviour in every language:
//! - `next` takes `&self`; concurrent calls are served one at a time, in call order,
//!   and each chunk goes to exactly one caller;
//! - [`ReadHandle::position`] (offset, cursor, up-to-date) can be read while a `next`
//!   is pending and always describes the chunks already *taken*;
//! - [`ReadHandle::cancel`] (or dropping the handle) stops the reading at once: a
//!   pending `next` and every later one return `Ok(None)`, the end.
//!
//! For JSON streams a chunk's `data` is one JSON array of its messages: a binding
//! parses it once with its own JSON library instead of converting `items` one by one.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::task::AbortHandle;

use crate::client::SentValues;
use crate::error::{ErrorKind, Result};
use crate::offset::Offset;
use crate::read::{Chunk, PrefetchedSession, ReadSession};

/// Where a read session stands, after the chunks taken so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    /// Offset after the last complete response taken (resume here).
    pub offset: Offset,
    /// The latest cursor taken.
    pub cursor: Option<String>,
    /// The last chunk taken reached the tail.
    pub up_to_date: bool,
    /// The stream is closed and everything was taken.
    pub stream_closed: bool,
}

/// A read session behind a pull handle; see the module documentation.
pub struct ReadHandle {
    session: tokio::sync::Mutex<PrefetchedSession>,
    position: Mutex<(Position, SentValues)>,
    abort: AbortHandle,
    cancelled: AtomicBool,
}

/// How many chunks a handle reads ahead of its caller.
const READ_AHEAD: usize = 8;

impl ReadHandle {
    pub fn new(session: ReadSession) -> ReadHandle {
        let start = Position {
            offset: session.offset().clone(),
            cursor: session.cursor().map(str::to_string),
            up_to_date: false,
            stream_closed: false,
        };
        let session = session.prefetch(READ_AHEAD);
        ReadHandle {
            abort: session.abort_handle(),
            session: tokio::sync::Mutex::new(session),
            position: Mutex::new((start, SentValues::default())),
            cancelled: AtomicBool::new(false),
        }
    }

    /// The next chunk, or `None` at the end (or after [`ReadHandle::cancel`]).
    pub async fn next(&self) -> Result<Option<Chunk>> {
        let mut session = self.session.lock().await;
        let result = session.next_chunk().await;
        self.settle(&session, result)
    }

    /// The next chunk if one is ready now; `None` means "not yet" (or another caller
    /// is taking one).
    pub fn try_next(&self) -> Option<Result<Option<Chunk>>> {
        let mut session = self.session.try_lock().ok()?;
        let result = session.try_next()?;
        Some(self.settle(&session, result))
    }

    /// `Ready` once [`ReadHandle::try_next`] would return a step; takes nothing, so the
    /// position is unchanged. When `Pending`, `cx`'s waker is woken (from a runtime thread,
    /// possibly spuriously) when that may have changed: a binding waits in its own event
    /// loop without a task per wait, and a wait it abandons has taken nothing.
    pub fn poll_ready(&self, cx: &mut Context<'_>) -> Poll<()> {
        if self.is_cancelled() {
            return Poll::Ready(());
        }
        match self.session.try_lock() {
            Ok(mut session) => session.poll_ready(cx),
            Err(_) => {
                // Another caller is taking one; ask again soon rather than miss its end.
                cx.waker().wake_by_ref();
                Poll::Pending
            }
        }
    }

    /// Wait on a thread that is not a runtime thread, at most `timeout` (`None`: not
    /// yet — the caller can check for interrupts and wait again).
    pub fn blocking_next(&self, timeout: Duration) -> Option<Result<Option<Chunk>>> {
        let deadline = Instant::now() + timeout;
        let mut session = loop {
            if let Ok(s) = self.session.try_lock() {
                break s;
            }
            // Another caller holds the session; it is served first.
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            std::thread::sleep(left.min(Duration::from_millis(1)));
        };
        let left = deadline.saturating_duration_since(Instant::now());
        let result = session.blocking_next_timeout(left)?;
        Some(self.settle(&session, result))
    }

    /// Where the session stands after the chunks taken so far.
    pub fn position(&self) -> Position {
        self.position.lock().unwrap_or_else(|p| p.into_inner()).0.clone()
    }

    /// Dynamic header and parameter values sent with the request behind the last chunk taken.
    pub fn sent_values(&self) -> SentValues {
        self.position.lock().unwrap_or_else(|p| p.into_inner()).1.clone()
    }

    /// Stop reading now; a pending `next` and all later ones return `Ok(None)`.
    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::Release);
        self.abort.abort();
    }

    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Acquire)
    }

    fn settle(&self, session: &PrefetchedSession, result: Result<Option<Chunk>>) -> Result<Option<Chunk>> {
        if self.is_cancelled() {
            return match result {
                Err(e) if *e.kind() == ErrorKind::Cancelled => Ok(None),
                Ok(Some(_)) => Ok(None),
                other => other,
            };
        }
        let mut pos = self.position.lock().unwrap_or_else(|p| p.into_inner());
        pos.0.offset = session.offset().clone();
        pos.0.cursor = session.cursor().map(str::to_string);
        pos.1 = session.sent_values().clone();
        if let Ok(Some(c)) = &result {
            pos.0.up_to_date = c.up_to_date;
            pos.0.stream_closed = c.stream_closed;
        }
        result
    }
}

impl Drop for ReadHandle {
    fn drop(&mut self) {
        self.abort.abort();
    }
}
