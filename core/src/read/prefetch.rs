//! A read session that runs ahead of its consumer.
//!
//! Bindings hand chunks to another language one call at a time; starting a task and
//! waking a thread for every chunk costs more than the chunk itself on busy live
//! streams. A prefetched session keeps reading on the shared runtime and buffers up
//! to `capacity` chunks, so a caller that keeps up finds the next chunk ready. Its
//! offset, cursor and sent values follow the chunks the caller has *taken*, not the
//! ones read ahead.

use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio::task::{AbortHandle, JoinHandle};

use super::{Chunk, ReadSession};
use crate::client::SentValues;
use crate::error::{Error, ErrorKind, Result};
use crate::offset::Offset;

/// One step of the background reading: a chunk, the end (`Ok(None)`, sent explicitly so
/// that a closed channel without it means "cancelled"), or the error that ended it.
struct Step {
    result: Result<Option<Chunk>>,
    sent: SentValues,
}

/// A [`ReadSession`] driven on the shared runtime; dropping it cancels the reading.
pub struct PrefetchedSession {
    rx: mpsc::Receiver<Step>,
    /// A step received by [`PrefetchedSession::poll_ready`] and not taken yet (`Some(None)`:
    /// the channel closed).
    peeked: Option<Option<Step>>,
    task: JoinHandle<()>,
    ended: bool,
    offset: Offset,
    cursor: Option<String>,
    sent: SentValues,
}

impl ReadSession {
    /// Keep reading in the background, at most `capacity` chunks ahead of the caller.
    pub fn prefetch(mut self, capacity: usize) -> PrefetchedSession {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let (offset, cursor) = (self.offset.clone(), self.cursor.clone());
        let task = crate::runtime::spawn(async move {
            loop {
                let result = self.next_chunk().await;
                let more = matches!(result, Ok(Some(_)));
                let step = Step { result, sent: self.sent.clone() };
                if tx.send(step).await.is_err() || !more {
                    return;
                }
            }
        });
        PrefetchedSession { rx, peeked: None, task, ended: false, offset, cursor, sent: SentValues::default() }
    }
}

impl PrefetchedSession {
    /// The next chunk, or `None` once the session has ended.
    pub async fn next_chunk(&mut self) -> Result<Option<Chunk>> {
        if self.ended {
            return Ok(None);
        }
        if let Some(next) = self.peeked.take() {
            return self.settle(next);
        }
        let next = self.rx.recv().await;
        self.settle(next)
    }

    /// The next chunk if one is ready, without waiting: `None` means "not yet".
    pub fn try_next(&mut self) -> Option<Result<Option<Chunk>>> {
        if self.ended {
            return Some(Ok(None));
        }
        if let Some(next) = self.peeked.take() {
            return Some(self.settle(next));
        }
        match self.rx.try_recv() {
            Ok(step) => Some(self.settle(Some(step))),
            Err(mpsc::error::TryRecvError::Empty) => None,
            Err(mpsc::error::TryRecvError::Disconnected) => Some(self.settle(None)),
        }
    }

    /// Wait on a thread that is not a runtime thread.
    pub fn blocking_next(&mut self) -> Result<Option<Chunk>> {
        if self.ended {
            return Ok(None);
        }
        if let Some(next) = self.peeked.take() {
            return self.settle(next);
        }
        let next = self.rx.blocking_recv();
        self.settle(next)
    }

    /// Like [`PrefetchedSession::blocking_next`], giving up after `timeout` (`None`), so
    /// the waiting thread can do other work (e.g. check for Ctrl-C) and wait again.
    /// The reading task wakes the waiting thread directly.
    pub fn blocking_next_timeout(&mut self, timeout: Duration) -> Option<Result<Option<Chunk>>> {
        if self.ended {
            return Some(Ok(None));
        }
        if let Some(next) = self.peeked.take() {
            return Some(self.settle(next));
        }
        let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
        let mut cx = Context::from_waker(&waker);
        let deadline = Instant::now() + timeout;
        loop {
            if let Poll::Ready(next) = self.rx.poll_recv(&mut cx) {
                return Some(self.settle(next));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            std::thread::park_timeout(left);
        }
    }

    /// `Ready` once a step (a chunk, the end or an error) can be taken without waiting;
    /// takes nothing, so the offset and cursor stay those of the chunks taken. When
    /// `Pending`, `cx`'s waker is woken (from a runtime thread) as soon as one can be.
    /// Lets a binding wait in its own event loop and take only when its caller resumes.
    pub fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if self.ended || self.peeked.is_some() {
            return Poll::Ready(());
        }
        let next = std::task::ready!(self.rx.poll_recv(cx));
        self.peeked = Some(next);
        Poll::Ready(())
    }

    /// Stop reading now; later calls return `None`.
    pub fn cancel(&mut self) {
        self.task.abort();
        self.ended = true;
    }

    /// Stops the reading from elsewhere, e.g. while another thread waits on this session.
    pub fn abort_handle(&self) -> AbortHandle {
        self.task.abort_handle()
    }

    /// Offset after the last complete response taken.
    pub fn offset(&self) -> &Offset {
        &self.offset
    }

    /// The latest cursor taken.
    pub fn cursor(&self) -> Option<&str> {
        self.cursor.as_deref()
    }

    /// Dynamic header/param values of the request behind the last step taken.
    pub fn sent_values(&self) -> &SentValues {
        &self.sent
    }

    /// `true` once the end, an error or a cancellation has been taken.
    pub fn is_done(&self) -> bool {
        self.ended
    }

    fn settle(&mut self, step: Option<Step>) -> Result<Option<Chunk>> {
        let Some(step) = step else {
            self.ended = true;
            return Err(Error::new(ErrorKind::Cancelled, "read session stopped"));
        };
        self.sent = step.sent;
        match step.result {
            Ok(Some(c)) => {
                if !c.partial {
                    self.offset = c.next_offset.clone();
                }
                if c.cursor.is_some() {
                    self.cursor = c.cursor.clone();
                }
                Ok(Some(c))
            }
            other => {
                self.ended = true;
                other
            }
        }
    }
}

impl Drop for PrefetchedSession {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Wakes the thread blocked in [`PrefetchedSession::blocking_next_timeout`].
struct Unpark(std::thread::Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::{Client, ReadOptions};

    #[test]
    fn an_unreachable_server_ends_with_one_error() {
        let client = Client::builder("http://127.0.0.1:9")
            .retry_policy(crate::RetryPolicy::none())
            .build()
            .unwrap();
        let stream = client.stream("/x").unwrap();
        let mut p = stream.read(ReadOptions::default()).prefetch(4);
        let first = loop {
            if let Some(r) = p.blocking_next_timeout(Duration::from_millis(50)) {
                break r;
            }
        };
        assert_eq!(first.unwrap_err().code(), "NETWORK_ERROR");
        assert!(p.is_done());
        assert!(p.blocking_next().unwrap().is_none());
    }

    #[test]
    fn poll_ready_takes_nothing() {
        let client = Client::builder("http://127.0.0.1:9")
            .retry_policy(crate::RetryPolicy::none())
            .build()
            .unwrap();
        let stream = client.stream("/x").unwrap();
        let mut p = stream.read(ReadOptions::default()).prefetch(4);
        let start = p.offset().clone();
        let thread = std::thread::current();
        let waker = std::task::Waker::from(std::sync::Arc::new(super::Unpark(thread)));
        let mut cx = std::task::Context::from_waker(&waker);
        while p.poll_ready(&mut cx).is_pending() {
            std::thread::park_timeout(Duration::from_millis(50));
        }
        assert!(p.poll_ready(&mut cx).is_ready(), "stays ready until taken");
        assert!(!p.is_done() && *p.offset() == start, "nothing was taken");
        assert_eq!(p.try_next().unwrap().unwrap_err().code(), "NETWORK_ERROR");
        assert!(p.is_done());
    }
}
