//! The long-running consumer: follows a stream for as long as it exists, reconnecting
//! with backoff, and keeps a checkpoint (the offset after the last accepted batch).
//!
//! Two shapes over one engine:
//! - pull: [`Consumer::next`] yields [`ConsumerEvent`]s (for async iterators);
//! - push: [`Consumer::spawn`] drives a [`ConsumerHandler`] on a supervised task,
//!   with pause/resume/stop; dropping the returned [`ConsumerHandle`] cancels it.
//!
//! A closed stream is reported once and ends the consumer; a deleted or missing
//! stream is an error that is never retried, so neither causes a request loop.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::error::{Error, Result};
use crate::headers::BoxFuture;
use crate::offset::Offset;
use crate::read::{Chunk, LiveMode, ReadOptions, ReadSession};
use crate::retry::RetryPolicy;
use crate::stream::Stream;

/// Consumer settings (names shared by every binding).
#[derive(Debug, Clone)]
pub struct ConsumerOptions {
    /// Where to start (a saved checkpoint, `-1` or `now`).
    pub offset: Offset,
    /// How to follow the stream once caught up; `Off` ends at the current tail.
    pub live: LiveMode,
    /// First reconnect delay.
    pub backoff_base: Duration,
    /// Longest reconnect delay.
    pub backoff_max: Duration,
    /// Extra headers on every request.
    pub headers: Vec<(String, String)>,
    /// Largest batch handed to the handler.
    pub max_chunk_bytes: usize,
}

impl Default for ConsumerOptions {
    fn default() -> Self {
        ConsumerOptions {
            offset: Offset::beginning(),
            live: LiveMode::Auto,
            backoff_base: Duration::from_secs(1),
            backoff_max: Duration::from_secs(30),
            headers: Vec::new(),
            max_chunk_bytes: 1 << 20,
        }
    }
}

/// What the consumer observed.
#[derive(Debug, Clone)]
pub enum ConsumerEvent {
    /// New data (never empty).
    Batch(Chunk),
    /// Caught up with the tail at this offset (signalled once per catch-up, not per poll).
    UpToDate { offset: Offset },
    /// The stream is closed; nothing more will come. Delivered once, then the consumer ends.
    Closed { final_offset: Offset },
    /// A transient failure; the consumer reconnects after `retry_in`.
    Reconnecting { error: Error, retry_in: Duration },
}

/// Pull-style consumer.
pub struct Consumer {
    stream: Stream,
    opts: ConsumerOptions,
    checkpoint: Offset,
    cursor: Option<String>,
    session: Option<ReadSession>,
    failures: u32,
    was_up_to_date: bool,
    finished: bool,
    backoff: RetryPolicy,
    queued: VecDeque<ConsumerEvent>,
    stats: Arc<crate::stats::ConsumerCells>,
    wait_before_reconnect: Option<Duration>,
}

impl Consumer {
    pub fn new(stream: Stream, opts: ConsumerOptions) -> Result<Consumer> {
        stream.check_open()?;
        if opts.backoff_base.is_zero() {
            return Err(Error::invalid_argument("backoffBaseMs", "must be > 0"));
        }
        if opts.backoff_max < opts.backoff_base {
            return Err(Error::invalid_argument("backoffMaxMs", "must be >= backoffBaseMs"));
        }
        let backoff = RetryPolicy {
            max_retries: u32::MAX,
            initial_delay: opts.backoff_base,
            max_delay: opts.backoff_max,
            multiplier: 2.0,
            append_retry: Default::default(),
        };
        Ok(Consumer {
            checkpoint: opts.offset.clone(),
            stream,
            opts,
            cursor: None,
            session: None,
            failures: 0,
            was_up_to_date: false,
            finished: false,
            backoff,
            queued: VecDeque::new(),
            stats: Default::default(),
            wait_before_reconnect: None,
        })
    }

    /// The offset after the last batch handed out (pull mode: handing out the next
    /// event accepts the previous batch). Persist it to resume later.
    pub fn checkpoint(&self) -> &Offset {
        &self.checkpoint
    }

    /// Batches, bytes, reconnects, checkpoint, last error ([`crate::stats`]).
    pub fn stats(&self) -> crate::stats::ConsumerStats {
        self.stats.snapshot(self.checkpoint.as_str())
    }

    /// The live counters, for a handle that outlives `self` being moved into a task
    /// ([`crate::ffi::ConsumerEvents`]).
    pub(crate) fn stats_cells(&self) -> Arc<crate::stats::ConsumerCells> {
        self.stats.clone()
    }

    /// Next event; `Ok(None)` once the stream is closed (or caught up with `live: Off`).
    /// A permanent error (not found, gone, bad response, ...) is returned once and ends
    /// the consumer.
    pub async fn next(&mut self) -> Result<Option<ConsumerEvent>> {
        loop {
            if let Some(ev) = self.queued.pop_front() {
                return Ok(Some(ev));
            }
            if self.finished {
                return Ok(None);
            }
            if let Some(wait) = self.wait_before_reconnect.take() {
                tokio::time::sleep(wait).await;
            }
            if self.session.is_none() {
                self.session = Some(self.stream.read(ReadOptions {
                    offset: self.checkpoint.clone(),
                    live: self.opts.live,
                    cursor: self.cursor.clone(),
                    headers: self.opts.headers.clone(),
                    max_chunk_bytes: self.opts.max_chunk_bytes,
                }));
            }
            let session = self.session.as_mut().expect("session present");
            match session.next_chunk().await {
                Ok(Some(chunk)) => {
                    self.failures = 0;
                    if chunk.cursor.is_some() {
                        self.cursor = chunk.cursor.clone();
                    }
                    if !chunk.partial {
                        self.checkpoint = chunk.next_offset.clone();
                        crate::trace::checkpoint(self.stream.url().path(), self.checkpoint.as_str());
                    }
                    let (up, closed, offset) = (chunk.up_to_date, chunk.stream_closed, chunk.next_offset.clone());
                    if chunk.has_data() {
                        self.stats.batch(chunk.data.len());
                        self.queued.push_back(ConsumerEvent::Batch(chunk));
                    }
                    if closed {
                        self.finished = true;
                        self.session = None;
                        self.queued.push_back(ConsumerEvent::Closed { final_offset: offset });
                    } else if up && !self.was_up_to_date {
                        self.queued.push_back(ConsumerEvent::UpToDate { offset });
                    }
                    self.was_up_to_date = up;
                }
                Ok(None) => {
                    // Catch-up mode reached the tail.
                    self.finished = true;
                    self.session = None;
                }
                Err(e) => {
                    self.session = None;
                    if !e.is_transient() {
                        self.finished = true;
                        return Err(e);
                    }
                    let retry_in = self.backoff.backoff(self.failures, None);
                    self.failures = self.failures.saturating_add(1);
                    self.wait_before_reconnect = Some(retry_in);
                    self.stats.reconnect(&e);
                    crate::trace::reconnect(self.stream.url().path(), self.failures, &crate::trace::reason_of_error(&e), retry_in);
                    return Ok(Some(ConsumerEvent::Reconnecting { error: e, retry_in }));
                }
            }
        }
    }

    /// Drive `handler` on a supervised task. Dropping the handle cancels it.
    pub fn spawn(self, handler: Arc<dyn ConsumerHandler>) -> ConsumerHandle {
        let (control_tx, control_rx) = watch::channel(Control::Run);
        let checkpoint = Arc::new(Mutex::new(self.checkpoint.clone()));
        let stats = self.stats.clone();
        let task = crate::runtime::spawn(drive(self, handler, control_rx, checkpoint.clone()));
        ConsumerHandle { control: control_tx, checkpoint, stats, task: Some(task) }
    }
}

/// What the handler wants after a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Continue,
    Stop,
}

impl Decision {
    /// What happens after `error` unless a handler decides: reconnect after a transient
    /// failure, stop on the rest. The one rule for every binding's error handlers.
    pub fn default_for(error: &Error) -> Decision {
        if error.is_transient() { Decision::Continue } else { Decision::Stop }
    }
}

/// Callbacks of a pushed consumer. Only `on_batch` is required.
pub trait ConsumerHandler: Send + Sync + 'static {
    /// A batch of new data. `Ok(Continue)` accepts it (the checkpoint moves past it).
    /// An `Err` goes to [`ConsumerHandler::on_error`] and the batch is not accepted.
    fn on_batch(&self, batch: Chunk) -> BoxFuture<'_, Result<Decision>>;

    /// A failure. Return `Continue` to reconnect (from the checkpoint, after backoff)
    /// or `Stop`. The default retries transient failures and stops on the rest.
    fn on_error(&self, error: &Error) -> BoxFuture<'_, Decision> {
        let d = Decision::default_for(error);
        Box::pin(async move { d })
    }

    fn on_up_to_date(&self, _offset: &Offset) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }

    fn on_closed(&self, _final_offset: &Offset) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Control {
    Run,
    Pause,
    Stop,
}

/// How a pushed consumer ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConsumerEnd {
    /// The stream was closed; all of it was handled.
    Closed { final_offset: Offset },
    /// Stopped by the handler or by [`ConsumerHandle::stop`].
    Stopped { checkpoint: Offset },
    /// `live: Off` and the tail was reached.
    CaughtUp { checkpoint: Offset },
}

/// Controls a pushed consumer. Dropping it cancels the consumer.
pub struct ConsumerHandle {
    control: watch::Sender<Control>,
    checkpoint: Arc<Mutex<Offset>>,
    stats: Arc<crate::stats::ConsumerCells>,
    task: Option<JoinHandle<Result<ConsumerEnd>>>,
}

/// Pause, resume, stop and observe a pushed consumer from anywhere (cloneable), even
/// while another task is blocked in [`ConsumerHandle::wait`].
#[derive(Clone)]
pub struct ConsumerController {
    control: watch::Sender<Control>,
    checkpoint: Arc<Mutex<Offset>>,
    stats: Arc<crate::stats::ConsumerCells>,
}

impl ConsumerController {
    pub fn pause(&self) {
        let _ = self.control.send(Control::Pause);
    }

    pub fn resume(&self) {
        let _ = self.control.send(Control::Run);
    }

    /// Ask the consumer to stop after the batch in hand; does not wait.
    pub fn request_stop(&self) {
        let _ = self.control.send(Control::Stop);
    }

    pub fn checkpoint(&self) -> Offset {
        self.checkpoint.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// [`ConsumerHandle::stats`], from anywhere.
    pub fn stats(&self) -> crate::stats::ConsumerStats {
        self.stats.snapshot(self.checkpoint().as_str())
    }
}

impl ConsumerHandle {
    /// A cloneable controller for this consumer.
    pub fn controller(&self) -> ConsumerController {
        ConsumerController {
            control: self.control.clone(),
            checkpoint: self.checkpoint.clone(),
            stats: self.stats.clone(),
        }
    }

    /// The offset after the last batch the handler accepted.
    pub fn checkpoint(&self) -> Offset {
        self.checkpoint.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// [`Consumer::stats`], with the checkpoint the handler accepted.
    pub fn stats(&self) -> crate::stats::ConsumerStats {
        self.stats.snapshot(self.checkpoint().as_str())
    }

    /// Stop fetching after the batch in hand (the connection may stay open, idle).
    pub fn pause(&self) {
        let _ = self.control.send(Control::Pause);
    }

    pub fn resume(&self) {
        let _ = self.control.send(Control::Run);
    }

    /// Stop and wait for the task; returns how it ended.
    pub async fn stop(mut self) -> Result<ConsumerEnd> {
        let _ = self.control.send(Control::Stop);
        self.join().await
    }

    /// Wait for the consumer to end by itself (stream closed, handler stop, error).
    pub async fn wait(mut self) -> Result<ConsumerEnd> {
        self.join().await
    }

    async fn join(&mut self) -> Result<ConsumerEnd> {
        match self.task.take() {
            Some(task) => task.await.unwrap_or_else(|e| {
                Err(Error::new(crate::error::ErrorKind::Cancelled, format!("consumer task ended abnormally: {e}")))
            }),
            None => Err(Error::new(crate::error::ErrorKind::Closed, "consumer already joined")),
        }
    }
}

impl Drop for ConsumerHandle {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

async fn drive(
    mut consumer: Consumer,
    handler: Arc<dyn ConsumerHandler>,
    mut control: watch::Receiver<Control>,
    checkpoint: Arc<Mutex<Offset>>,
) -> Result<ConsumerEnd> {
    let stopped = |c: &Consumer| ConsumerEnd::Stopped { checkpoint: c.checkpoint.clone() };
    loop {
        // Honour pause/stop between batches.
        loop {
            let state = *control.borrow_and_update();
            match state {
                Control::Run => break,
                Control::Stop => return Ok(stopped(&consumer)),
                Control::Pause => {
                    if control.changed().await.is_err() {
                        return Ok(stopped(&consumer));
                    }
                }
            }
        }
        let before = consumer.checkpoint.clone();
        let closed = consumer.stream.client.inner.owned.closed();
        let event = tokio::select! {
            biased;
            // Its client closed: stopped, not caught up (its read ends too).
            _ = closed => return Ok(ConsumerEnd::Stopped { checkpoint: before }),
            _ = wait_for_stop(&mut control) => return Ok(ConsumerEnd::Stopped { checkpoint: before }),
            ev = consumer.next() => ev,
        };
        match event {
            Ok(Some(ConsumerEvent::Batch(chunk))) => {
                let next = consumer.checkpoint.clone();
                // The consumer advanced its checkpoint optimistically; only the handler's
                // acceptance makes it stick.
                consumer.checkpoint = before.clone();
                match handler.on_batch(chunk).await {
                    Ok(Decision::Continue) => {
                        consumer.checkpoint = next;
                        *checkpoint.lock().unwrap_or_else(|p| p.into_inner()) = consumer.checkpoint.clone();
                    }
                    Ok(Decision::Stop) => {
                        consumer.checkpoint = next;
                        *checkpoint.lock().unwrap_or_else(|p| p.into_inner()) = consumer.checkpoint.clone();
                        return Ok(stopped(&consumer));
                    }
                    Err(e) => match handler.on_error(&e).await {
                        Decision::Continue => {
                            // Re-read from the last accepted offset after a pause.
                            consumer.restart_after_rejection();
                        }
                        Decision::Stop => return Err(e),
                    },
                }
            }
            Ok(Some(ConsumerEvent::UpToDate { offset })) => handler.on_up_to_date(&offset).await,
            Ok(Some(ConsumerEvent::Closed { final_offset })) => {
                handler.on_closed(&final_offset).await;
                return Ok(ConsumerEnd::Closed { final_offset });
            }
            Ok(Some(ConsumerEvent::Reconnecting { error, .. })) => {
                if handler.on_error(&error).await == Decision::Stop {
                    return Err(error);
                }
            }
            // A read ends at once when its client closes; the close may land between the
            // poll of `closed` above and the read's own (another thread closed it).
            Ok(None) if consumer.stream.check_open().is_err() => return Ok(stopped(&consumer)),
            Ok(None) => return Ok(ConsumerEnd::CaughtUp { checkpoint: consumer.checkpoint.clone() }),
            Err(e) => {
                handler.on_error(&e).await;
                return Err(e);
            }
        }
    }
}

async fn wait_for_stop(control: &mut watch::Receiver<Control>) {
    loop {
        if *control.borrow_and_update() == Control::Stop {
            return;
        }
        if control.changed().await.is_err() {
            return;
        }
    }
}

impl Consumer {
    /// The handler refused a batch: drop the session and read again from the
    /// checkpoint after a backoff, so the batch is offered again.
    fn restart_after_rejection(&mut self) {
        self.session = None;
        self.queued.clear();
        self.finished = false;
        let wait = self.backoff.backoff(self.failures, None);
        self.failures = self.failures.saturating_add(1);
        self.wait_before_reconnect = Some(wait);
    }
}
