//! A read session that runs ahead of its consumer.
//!
//! Bindings hand chunks to another language one call at a time; starting a task and
//! waking a thread for every chunk costs more than the chunk itself on busy live
//! streams. A prefetched session keeps reading on the shared runtime and buffers up
//! to `capacity` chunks, so a caller that keeps up finds the next chunk ready.

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::{Chunk, ReadSession};
use crate::error::{Error, ErrorKind, Result};

/// A [`ReadSession`] driven on the shared runtime; dropping it cancels the reading.
pub struct PrefetchedSession {
    /// `Ok(None)` is sent explicitly at the end, so a closed channel without it means
    /// the reading was cancelled.
    rx: mpsc::Receiver<Result<Option<Chunk>>>,
    task: JoinHandle<()>,
    ended: bool,
}

impl ReadSession {
    /// Keep reading in the background, at most `capacity` chunks ahead of the caller.
    pub fn prefetch(mut self, capacity: usize) -> PrefetchedSession {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let task = crate::runtime::spawn(async move {
            loop {
                let next = self.next_chunk().await;
                let more = matches!(next, Ok(Some(_)));
                if tx.send(next).await.is_err() || !more {
                    return;
                }
            }
        });
        PrefetchedSession { rx, task, ended: false }
    }
}

impl PrefetchedSession {
    /// The next chunk, or `None` once the session has ended.
    pub async fn next_chunk(&mut self) -> Result<Option<Chunk>> {
        if self.ended {
            return Ok(None);
        }
        let next = self.rx.recv().await;
        self.settle(next)
    }

    /// The next chunk if one is ready, without waiting: `None` means "not yet".
    pub fn try_next(&mut self) -> Option<Result<Option<Chunk>>> {
        if self.ended {
            return Some(Ok(None));
        }
        match self.rx.try_recv() {
            Ok(item) => Some(self.settle(Some(item))),
            Err(mpsc::error::TryRecvError::Empty) => None,
            Err(mpsc::error::TryRecvError::Disconnected) => Some(self.settle(None)),
        }
    }

    /// Wait on a thread that is not a runtime thread.
    pub fn blocking_next(&mut self) -> Result<Option<Chunk>> {
        if self.ended {
            return Ok(None);
        }
        let next = self.rx.blocking_recv();
        self.settle(next)
    }

    /// Stop reading now; later calls return `None`.
    pub fn cancel(&mut self) {
        self.task.abort();
        self.ended = true;
    }

    fn settle(&mut self, item: Option<Result<Option<Chunk>>>) -> Result<Option<Chunk>> {
        match item {
            Some(Ok(Some(c))) => Ok(Some(c)),
            Some(Ok(None)) => {
                self.ended = true;
                Ok(None)
            }
            Some(Err(e)) => {
                self.ended = true;
                Err(e)
            }
            None => {
                self.ended = true;
                Err(Error::new(ErrorKind::Cancelled, "read session stopped"))
            }
        }
    }
}

impl Drop for PrefetchedSession {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[cfg(test)]
mod tests {
    use crate::{Client, ReadOptions};

    #[test]
    fn an_unreachable_server_ends_with_one_error() {
        let client = Client::builder("http://127.0.0.1:9")
            .retry_policy(crate::RetryPolicy::none())
            .build()
            .unwrap();
        let stream = client.stream("/x").unwrap();
        let mut p = crate::runtime::block_on(async move { stream.read(ReadOptions::default()).prefetch(4) });
        let first = p.blocking_next();
        assert_eq!(first.unwrap_err().code(), "NETWORK_ERROR");
        assert!(p.blocking_next().unwrap().is_none());
    }
}
