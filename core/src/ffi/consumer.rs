//! Consumers as bindings hand them out: a pull handle over events, and a pushed
//! consumer whose outcome any number of callers can wait for.

use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, watch};

use crate::consumer::{Consumer, ConsumerController, ConsumerEnd, ConsumerEvent, ConsumerHandler};
use crate::error::{Error, ErrorKind, Result};
use crate::ffi::task::{self, Task};
use crate::offset::Offset;
use crate::stats::{ConsumerCells, ConsumerStats};

/// Pull-style consumer: the same `next` / `cancel` / drop rules as
/// [`crate::ffi::ReadHandle`] (concurrent `next` calls are served in call order).
pub struct ConsumerEvents {
    rx: tokio::sync::Mutex<mpsc::Receiver<(Result<Option<ConsumerEvent>>, Offset)>>,
    checkpoint: Mutex<Offset>,
    stats: Arc<ConsumerCells>,
    task: Task<()>,
}

impl ConsumerEvents {
    pub fn new(mut consumer: Consumer) -> ConsumerEvents {
        let checkpoint = Mutex::new(consumer.checkpoint().clone());
        let stats = consumer.stats_cells();
        // One event of read-ahead: the next one is ready when the caller asks, and the
        // consumer's checkpoint never runs more than one event past what was taken.
        let (tx, rx) = mpsc::channel(1);
        let task = task::spawn(async move {
            loop {
                let ev = consumer.next().await;
                let more = matches!(ev, Ok(Some(_)));
                if tx.send((ev, consumer.checkpoint().clone())).await.is_err() || !more {
                    return Ok(());
                }
            }
        });
        ConsumerEvents { rx: tokio::sync::Mutex::new(rx), checkpoint, stats, task }
    }

    /// The next event; `None` once the consumer has ended (or was cancelled).
    pub async fn next(&self) -> Result<Option<ConsumerEvent>> {
        let mut rx = self.rx.lock().await;
        match rx.recv().await {
            Some((ev, checkpoint)) => {
                *self.checkpoint.lock().unwrap_or_else(|p| p.into_inner()) = checkpoint;
                ev
            }
            None => Ok(None),
        }
    }

    /// The offset after the last batch taken: persist it to resume later.
    pub fn checkpoint(&self) -> Offset {
        self.checkpoint.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Batches, bytes, reconnects and last error as counted by the consumer, with the
    /// checkpoint of the events taken. The counters include the one event read ahead
    /// (a batch waiting for the next `next`), so they may be one batch ahead of it.
    pub fn stats(&self) -> ConsumerStats {
        self.stats.snapshot(self.checkpoint().as_str())
    }

    /// Stop now; a pending `next` and all later ones return `Ok(None)`.
    pub fn cancel(&self) {
        self.task.abort();
    }
}

/// A pushed consumer (a handler driven on the shared runtime) with a shared outcome.
/// Dropping it cancels the consumer.
pub struct ConsumerRun {
    controller: ConsumerController,
    outcome: watch::Receiver<Option<Result<ConsumerEnd>>>,
    task: Task<()>,
}

impl ConsumerRun {
    pub fn start(consumer: Consumer, handler: Arc<dyn ConsumerHandler>) -> ConsumerRun {
        let (tx, outcome) = watch::channel(None);
        let handle = consumer.spawn(handler);
        let controller = handle.controller();
        let task = task::spawn(async move {
            let end = handle.wait().await;
            let _ = tx.send(Some(end));
            Ok(())
        });
        ConsumerRun { controller, outcome, task }
    }

    /// Batches, bytes, reconnects, the checkpoint (as [`ConsumerRun::checkpoint`]) and
    /// the last error.
    pub fn stats(&self) -> ConsumerStats {
        let mut s = self.controller.stats();
        s.checkpoint = self.checkpoint().to_string();
        s
    }

    /// The offset after the last accepted batch; once the consumer has ended, the offset
    /// it ended at (for a closed stream, its final offset). What every binding reports
    /// as the consumer's checkpoint.
    pub fn checkpoint(&self) -> Offset {
        match self.outcome() {
            Some(Ok(
                ConsumerEnd::Closed { final_offset: end }
                | ConsumerEnd::Stopped { checkpoint: end }
                | ConsumerEnd::CaughtUp { checkpoint: end },
            )) => end,
            _ => self.controller.checkpoint(),
        }
    }

    /// Pause, resume, stop and read the checkpoint from anywhere.
    pub fn controller(&self) -> ConsumerController {
        self.controller.clone()
    }

    /// Wait for the end; every waiter gets the same outcome.
    pub async fn wait(&self) -> Result<ConsumerEnd> {
        let mut rx = self.outcome.clone();
        match rx.wait_for(Option::is_some).await {
            Ok(v) => v.clone().expect("checked by wait_for"),
            Err(_) => Err(cancelled()),
        }
    }

    /// The outcome if the consumer has ended.
    pub fn outcome(&self) -> Option<Result<ConsumerEnd>> {
        self.outcome.borrow().clone()
    }

    /// Stop after the batch in hand; [`ConsumerRun::wait`] then reports `Stopped`.
    pub fn stop(&self) {
        self.controller.request_stop();
    }

    /// Abort at once (waiters get `CANCELLED`).
    pub fn cancel(&self) {
        self.task.abort();
    }
}

fn cancelled() -> Error {
    Error::new(ErrorKind::Cancelled, "consumer cancelled")
}
