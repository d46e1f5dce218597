//! The idempotent, batching, pipelining producer.
//!
//! Guarantees, whatever the network does: every appended message lands exactly once
//! and in append order, or the producer fails loudly (flush, close, the error
//! callback and every pending acknowledgement report the error).
//!
//! How: messages are sealed into immutable batches; batch `n` of an epoch is sent as
//! `(Producer-Id, epoch, seq = n)` and resent byte-for-byte on any retry, so the
//! server's deduplication makes retries safe. Up to `max_in_flight` batches travel at
//! once; when one overtakes its predecessor the server answers `409` (sequence gap) and
//! the batch is resent once its predecessors have landed — the counter never rewinds.
//! A `403` (stale epoch) fails the producer, or with auto-claim moves every unlanded
//! batch, in order, to the server's epoch + 1 starting at seq 0.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};
use tokio::time::Instant;

use crate::error::{Error, ErrorKind, Result};
use crate::headers;
use crate::offset::Offset;
use crate::stream::{AppendOptions, CloseResult, ProducerHeaders, Stream, wrap_json_message};

/// Called with the error and the messages it made fail (one call per failed batch).
pub type ErrorCallback = Arc<dyn Fn(&Error, &[Bytes]) + Send + Sync>;

/// Producer settings. The names are the same in every language binding.
#[derive(Clone)]
pub struct ProducerOptions {
    /// Stable identity of this logical writer.
    pub producer_id: String,
    /// Starting epoch; bump it when a writer restarts.
    pub epoch: u64,
    /// On a stale epoch, take over at the server's epoch + 1 instead of failing.
    pub auto_claim: bool,
    /// Most messages in one request.
    pub max_batch_items: usize,
    /// Most body bytes in one request (a single larger message travels alone).
    pub max_batch_bytes: usize,
    /// How long a non-full batch waits for more messages.
    pub linger: Duration,
    /// Most requests in flight at once.
    pub max_in_flight: usize,
    /// Most bytes appended but not yet acknowledged; `append` waits beyond it.
    pub buffer_limit_bytes: usize,
    /// How long a batch keeps being retried through transient failures before the
    /// producer gives up and fails.
    pub delivery_timeout: Duration,
    /// The stream's content type, if known (saves a `HEAD`).
    pub content_type: Option<String>,
    /// Extra headers on every request.
    pub headers: Vec<(String, String)>,
    pub on_error: Option<ErrorCallback>,
}

impl std::fmt::Debug for ProducerOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProducerOptions")
            .field("producer_id", &self.producer_id)
            .field("epoch", &self.epoch)
            .field("auto_claim", &self.auto_claim)
            .field("max_batch_items", &self.max_batch_items)
            .field("max_batch_bytes", &self.max_batch_bytes)
            .field("linger", &self.linger)
            .field("max_in_flight", &self.max_in_flight)
            .field("buffer_limit_bytes", &self.buffer_limit_bytes)
            .finish_non_exhaustive()
    }
}

impl ProducerOptions {
    pub fn new(producer_id: impl Into<String>) -> Self {
        ProducerOptions {
            producer_id: producer_id.into(),
            epoch: 0,
            auto_claim: false,
            max_batch_items: 100,
            max_batch_bytes: 1 << 20,
            linger: Duration::from_millis(5),
            max_in_flight: 5,
            buffer_limit_bytes: 64 << 20,
            delivery_timeout: Duration::from_secs(120),
            content_type: None,
            headers: Vec::new(),
            on_error: None,
        }
    }

    pub fn validate(&self) -> Result<()> {
        if self.producer_id.is_empty() {
            return Err(Error::invalid_argument("producerId", "must not be empty"));
        }
        if self.epoch > MAX_SAFE_INTEGER {
            return Err(Error::invalid_argument("epoch", "must be <= 2^53-1"));
        }
        if self.max_batch_items == 0 {
            return Err(Error::invalid_argument("maxBatchItems", "must be > 0"));
        }
        if self.max_batch_bytes == 0 {
            return Err(Error::invalid_argument("maxBatchBytes", "must be > 0"));
        }
        if self.max_in_flight == 0 {
            return Err(Error::invalid_argument("maxInFlight", "must be > 0"));
        }
        if self.buffer_limit_bytes == 0 {
            return Err(Error::invalid_argument("bufferLimitBytes", "must be > 0"));
        }
        Ok(())
    }

    /// Options from loosely typed numbers as bindings receive them; `None` keeps the
    /// default, and negative or zero sizes are rejected (never read as "default").
    pub fn from_raw(raw: RawProducerOptions) -> Result<ProducerOptions> {
        let mut o = ProducerOptions::new(raw.producer_id.unwrap_or_default());
        fn non_negative(field: &'static str, v: i64) -> Result<u64> {
            u64::try_from(v).map_err(|_| Error::invalid_argument(field, "must be >= 0"))
        }
        fn positive(field: &'static str, v: i64) -> Result<usize> {
            if v <= 0 {
                return Err(Error::invalid_argument(field, "must be > 0"));
            }
            usize::try_from(v).map_err(|_| Error::invalid_argument(field, "too large"))
        }
        if let Some(e) = raw.epoch {
            o.epoch = non_negative("epoch", e)?;
        }
        if let Some(v) = raw.max_batch_items {
            o.max_batch_items = positive("maxBatchItems", v)?;
        }
        if let Some(v) = raw.max_batch_bytes {
            o.max_batch_bytes = positive("maxBatchBytes", v)?;
        }
        if let Some(v) = raw.max_in_flight {
            o.max_in_flight = positive("maxInFlight", v)?;
        }
        if let Some(v) = raw.buffer_limit_bytes {
            o.buffer_limit_bytes = positive("bufferLimitBytes", v)?;
        }
        if let Some(ms) = raw.linger_ms {
            if !(ms.is_finite() && ms >= 0.0) {
                return Err(Error::invalid_argument("lingerMs", "must be >= 0"));
            }
            o.linger = Duration::from_secs_f64(ms / 1e3);
        }
        o.auto_claim = raw.auto_claim.unwrap_or(false);
        o.validate()?;
        Ok(o)
    }
}

/// Producer options as loosely typed numbers (what a binding receives).
#[derive(Debug, Clone, Default)]
pub struct RawProducerOptions {
    pub producer_id: Option<String>,
    pub epoch: Option<i64>,
    pub auto_claim: Option<bool>,
    pub max_batch_items: Option<i64>,
    pub max_batch_bytes: Option<i64>,
    pub linger_ms: Option<f64>,
    pub max_in_flight: Option<i64>,
    pub buffer_limit_bytes: Option<i64>,
}

const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

/// Where an acknowledged message landed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acked {
    /// The stream's tail right after the batch holding this message (absent on some
    /// duplicate answers).
    pub next_offset: Option<Offset>,
    /// The server already had this batch (a retry of a request that had landed).
    pub duplicate: bool,
    pub epoch: u64,
    pub seq: u64,
}

/// Resolves when the message is durably stored (or its batch failed).
pub struct AppendAck(oneshot::Receiver<Result<Acked>>);

impl Future for AppendAck {
    type Output = Result<Acked>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.0).poll(cx).map(|r| r.unwrap_or_else(|_| Err(closed_error("producer stopped"))))
    }
}

enum Cmd {
    Append { data: Bytes, permit: OwnedSemaphorePermit, ack: Option<oneshot::Sender<Result<Acked>>> },
    Flush(oneshot::Sender<Result<()>>),
    Close { data: Option<Bytes>, reply: oneshot::Sender<Result<CloseResult>> },
    Detach(oneshot::Sender<Result<()>>),
}

/// The idempotent producer. Cheap to clone; clones feed the same batches.
#[derive(Clone)]
pub struct Producer {
    tx: mpsc::UnboundedSender<Cmd>,
    shared: Arc<Shared>,
    budget: Arc<Semaphore>,
    json: bool,
    buffer_limit: usize,
}

struct Shared {
    /// Set once the producer failed, closed or detached: appends are refused.
    stopped: Mutex<Option<Error>>,
    epoch: AtomicU64,
    next_seq: AtomicU64,
}

fn closed_error(why: &str) -> Error {
    Error::new(ErrorKind::Closed, format!("producer is closed: {why}"))
}

impl Producer {
    /// Start a producer on `stream`. Learns the stream's content type (one `HEAD`)
    /// unless it is given or already known.
    pub async fn start(stream: Stream, opts: ProducerOptions) -> Result<Producer> {
        opts.validate()?;
        let content_type = match &opts.content_type {
            Some(ct) => ct.clone(),
            None => stream.content_type().await?,
        };
        let json = headers::is_json(&content_type);
        let (tx, rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            stopped: Mutex::new(None),
            epoch: AtomicU64::new(opts.epoch),
            next_seq: AtomicU64::new(0),
        });
        let budget = Arc::new(Semaphore::new(opts.buffer_limit_bytes.min(Semaphore::MAX_PERMITS)));
        let buffer_limit = opts.buffer_limit_bytes;
        let driver = Driver::new(stream, opts, content_type, json, shared.clone());
        tokio::spawn(driver.run(rx));
        Ok(Producer { tx, shared, budget, json, buffer_limit })
    }

    /// Enqueue one message without waiting for the network. Waits only while the
    /// buffer limit is reached. On a JSON stream `data` is the text of one JSON value.
    pub async fn append(&self, data: impl Into<Bytes>) -> Result<()> {
        let (data, permit) = self.admit(data.into()).await?;
        self.send_cmd(Cmd::Append { data, permit, ack: None })
    }

    /// Like [`Producer::append`], returning an acknowledgement to await.
    pub async fn append_with_ack(&self, data: impl Into<Bytes>) -> Result<AppendAck> {
        let (data, permit) = self.admit(data.into()).await?;
        let (tx, rx) = oneshot::channel();
        self.send_cmd(Cmd::Append { data, permit, ack: Some(tx) })?;
        Ok(AppendAck(rx))
    }

    /// Enqueue one JSON value.
    pub async fn append_json<T: serde::Serialize + ?Sized>(&self, value: &T) -> Result<()> {
        self.append(encode_json(value)?).await
    }

    /// Enqueue without waiting: fails with `BUFFER_FULL` when the buffer limit is reached.
    pub fn try_append(&self, data: impl Into<Bytes>, with_ack: bool) -> Result<Option<AppendAck>> {
        let data = self.check(data.into())?;
        let need = permits_for(&data);
        let permit = self.budget.clone().try_acquire_many_owned(need).map_err(|_| {
            Error::new(ErrorKind::BufferFull, format!("producer buffer limit of {} bytes reached", self.buffer_limit))
        })?;
        let (ack, rx) = if with_ack {
            let (tx, rx) = oneshot::channel();
            (Some(tx), Some(AppendAck(rx)))
        } else {
            (None, None)
        };
        self.send_cmd(Cmd::Append { data, permit, ack })?;
        Ok(rx)
    }

    /// Wait until everything appended so far is stored. Fails if any of it was lost.
    pub async fn flush(&self) -> Result<()> {
        let (tx, rx) = oneshot::channel();
        self.send_cmd(Cmd::Flush(tx))?;
        rx.await.unwrap_or_else(|_| Err(closed_error("producer stopped")))
    }

    /// Flush, then close the stream through the producer (atomically appending `data`
    /// as a final message if given). Repeating a close returns the first result.
    pub async fn close(&self, data: Option<Bytes>) -> Result<CloseResult> {
        let data = match data {
            Some(d) if self.json => Some(wrap_json_message(&d)?),
            other => other,
        };
        let (tx, rx) = oneshot::channel();
        self.send_cmd(Cmd::Close { data, reply: tx })?;
        rx.await.unwrap_or_else(|_| Err(closed_error("producer stopped")))
    }

    /// Flush, then stop without closing the stream.
    pub async fn detach(&self) -> Result<()> {
        let (tx, rx) = oneshot::channel();
        self.send_cmd(Cmd::Detach(tx))?;
        rx.await.unwrap_or_else(|_| Err(closed_error("producer stopped")))
    }

    /// The epoch in use (changes after an auto-claim).
    pub fn epoch(&self) -> u64 {
        self.shared.epoch.load(Ordering::Relaxed)
    }

    /// The sequence number the next batch will get.
    pub fn next_seq(&self) -> u64 {
        self.shared.next_seq.load(Ordering::Relaxed)
    }

    fn check(&self, data: Bytes) -> Result<Bytes> {
        if let Some(e) = self.shared.stopped.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
            return Err(e.clone());
        }
        if self.json {
            serde_json::from_slice::<serde::de::IgnoredAny>(&data).map_err(|e| {
                Error::new(ErrorKind::InvalidArgument { field: "data" }, format!("not valid JSON for a JSON stream: {e}"))
            })?;
        }
        if data.len() + PER_MESSAGE_OVERHEAD > self.buffer_limit {
            return Err(Error::invalid_argument(
                "data",
                format!("message of {} bytes exceeds bufferLimitBytes ({})", data.len(), self.buffer_limit),
            ));
        }
        Ok(data)
    }

    async fn admit(&self, data: Bytes) -> Result<(Bytes, OwnedSemaphorePermit)> {
        let data = self.check(data)?;
        let need = permits_for(&data);
        let permit =
            self.budget.clone().acquire_many_owned(need).await.map_err(|_| closed_error("producer stopped"))?;
        Ok((data, permit))
    }

    fn send_cmd(&self, cmd: Cmd) -> Result<()> {
        self.tx.send(cmd).map_err(|_| closed_error("producer stopped"))
    }
}

/// Memory a buffered message costs beyond its bytes (queue slot, handles, batch entry),
/// charged so that `buffer_limit_bytes` bounds real memory, not just payload.
const PER_MESSAGE_OVERHEAD: usize = 96;

fn permits_for(data: &Bytes) -> u32 {
    u32::try_from(data.len() + PER_MESSAGE_OVERHEAD).unwrap_or(u32::MAX)
}

fn encode_json<T: serde::Serialize + ?Sized>(value: &T) -> Result<Bytes> {
    serde_json::to_vec(value)
        .map(Bytes::from)
        .map_err(|e| Error::new(ErrorKind::InvalidArgument { field: "data" }, format!("value cannot be encoded as JSON: {e}")))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BatchState {
    Queued,
    InFlight,
    /// The server saw it before a predecessor; resend once the predecessors landed.
    Gap,
    Done,
}

struct Batch {
    ordinal: u64,
    seq: u64,
    body: Bytes,
    msgs: Vec<Bytes>,
    acks: Vec<oneshot::Sender<Result<Acked>>>,
    _permit: Option<OwnedSemaphorePermit>,
    state: BatchState,
    /// Sent while every predecessor had landed: a gap answer then means the server
    /// lost our state, and waiting would never help.
    sent_as_front: bool,
}

enum Outcome {
    Stored { next_offset: Option<Offset>, duplicate: bool },
    Gap { expected: u64 },
    Stale { current_epoch: u64 },
    Failed(Error),
}

type InFlight = Pin<Box<dyn Future<Output = (u64, u64, Outcome)> + Send>>;

struct Driver {
    stream: Stream,
    opts: ProducerOptions,
    content_type: String,
    json: bool,
    shared: Arc<Shared>,
    epoch: u64,
    next_seq: u64,
    next_ordinal: u64,
    /// The current epoch has been accepted by the server at least once.
    established: bool,
    /// A stale-epoch answer arrived (auto-claim): wait for in-flight, then re-number.
    fenced_by: Option<u64>,
    /// Requests allowed in flight now, at most `max_in_flight`. Pipelined requests on
    /// separate connections overtake each other; every overtaking costs a 409 and a
    /// resend, so the window halves on a gap and grows back by one per stored batch.
    window: usize,
    batches: VecDeque<Batch>,
    in_flight: FuturesUnordered<InFlight>,
    open: Vec<Bytes>,
    open_bytes: usize,
    open_acks: Vec<oneshot::Sender<Result<Acked>>>,
    open_permit: Option<OwnedSemaphorePermit>,
    open_since: Option<Instant>,
    flushes: Vec<(u64, oneshot::Sender<Result<()>>)>,
    closing: Option<(Option<Bytes>, oneshot::Sender<Result<CloseResult>>)>,
    detaching: Option<oneshot::Sender<Result<()>>>,
    closed: Option<Result<CloseResult>>,
    failed: Option<Error>,
}

impl Driver {
    fn new(stream: Stream, opts: ProducerOptions, content_type: String, json: bool, shared: Arc<Shared>) -> Driver {
        let opts_window = opts.max_in_flight;
        Driver {
            epoch: opts.epoch,
            // Without auto-claim the starting epoch is the caller's to own; pipelining
            // can start at once. With it, the first batch alone establishes the epoch.
            established: !opts.auto_claim,
            stream,
            opts,
            content_type,
            json,
            shared,
            next_seq: 0,
            next_ordinal: 0,
            fenced_by: None,
            window: opts_window,
            batches: VecDeque::new(),
            in_flight: FuturesUnordered::new(),
            open: Vec::new(),
            open_bytes: 0,
            open_acks: Vec::new(),
            open_permit: None,
            open_since: None,
            flushes: Vec::new(),
            closing: None,
            detaching: None,
            closed: None,
            failed: None,
        }
    }

    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Cmd>) {
        let mut inbox_open = true;
        loop {
            self.dispatch();
            self.settle_waiters();
            if self.closing.is_some() && self.idle() {
                self.finish_close().await;
                continue;
            }
            if !inbox_open && self.idle() && self.open.is_empty() {
                return; // every handle dropped and everything delivered
            }
            let linger_at = match (self.open_since, self.free_slot()) {
                (Some(t), true) => Some(t + self.opts.linger),
                _ => None,
            };
            tokio::select! {
                cmd = rx.recv(), if inbox_open => match cmd {
                    Some(cmd) => {
                        self.on_cmd(cmd);
                        // Take what else is already queued before dispatching again.
                        for _ in 0..1024 {
                            match rx.try_recv() {
                                Ok(cmd) => self.on_cmd(cmd),
                                Err(_) => break,
                            }
                        }
                    }
                    None => {
                        inbox_open = false;
                        self.seal();
                    }
                },
                Some((ordinal, epoch, outcome)) = self.in_flight.next(), if !self.in_flight.is_empty() => {
                    self.on_outcome(ordinal, epoch, outcome);
                }
                _ = sleep_until(linger_at), if linger_at.is_some() => self.seal(),
                else => {
                    // Nothing can make progress any more (no handle, no request, no timer).
                    if !inbox_open {
                        return;
                    }
                }
            }
        }
    }

    fn idle(&self) -> bool {
        self.batches.is_empty() && self.in_flight.is_empty() && self.open.is_empty()
    }

    fn free_slot(&self) -> bool {
        self.in_flight.len() < self.window
    }

    fn on_cmd(&mut self, cmd: Cmd) {
        match cmd {
            Cmd::Append { data, permit, ack } => {
                if let Some(e) = self.stop_reason() {
                    if let Some(ack) = ack {
                        let _ = ack.send(Err(e));
                    }
                    return;
                }
                let size = data.len() + usize::from(self.json);
                if !self.open.is_empty() && self.open_bytes + size > self.opts.max_batch_bytes {
                    self.seal();
                }
                self.open_bytes += size;
                self.open.push(data);
                if let Some(ack) = ack {
                    self.open_acks.push(ack);
                }
                match &mut self.open_permit {
                    Some(p) => p.merge(permit),
                    None => self.open_permit = Some(permit),
                }
                self.open_since.get_or_insert_with(Instant::now);
                if self.open.len() >= self.opts.max_batch_items || self.open_bytes >= self.opts.max_batch_bytes {
                    self.seal();
                }
            }
            Cmd::Flush(reply) => {
                self.seal();
                if let Some(e) = &self.failed {
                    let _ = reply.send(Err(e.clone()));
                    return;
                }
                let target = self.next_ordinal;
                self.flushes.push((target, reply));
            }
            Cmd::Close { data, reply } => {
                if let Some(done) = &self.closed {
                    let _ = reply.send(done.clone());
                    return;
                }
                if let Some(e) = &self.failed {
                    let _ = reply.send(Err(e.clone()));
                    return;
                }
                self.seal();
                self.stop(closed_error("closing"));
                self.closing = Some((data, reply));
            }
            Cmd::Detach(reply) => {
                self.seal();
                if let Some(e) = &self.failed {
                    let _ = reply.send(Err(e.clone()));
                    return;
                }
                self.stop(closed_error("detached"));
                self.detaching = Some(reply);
            }
        }
    }

    fn stop_reason(&self) -> Option<Error> {
        self.shared.stopped.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn stop(&self, why: Error) {
        let mut s = self.shared.stopped.lock().unwrap_or_else(|p| p.into_inner());
        if s.is_none() {
            *s = Some(why);
        }
    }

    /// Turn the open messages into an immutable batch with the next sequence number.
    fn seal(&mut self) {
        if self.open.is_empty() {
            return;
        }
        let open = std::mem::take(&mut self.open);
        let (body, msgs) = if open.len() == 1 && !self.json {
            (open[0].clone(), open)
        } else {
            // One body for the batch; the messages kept for the error callback become
            // slices of it, so each message's own allocation is freed right away.
            let mut b = BytesMut::with_capacity(self.open_bytes + 2);
            let mut ranges = Vec::with_capacity(open.len());
            if self.json {
                b.put_u8(b'[');
            }
            for (i, m) in open.iter().enumerate() {
                if self.json && i > 0 {
                    b.put_u8(b',');
                }
                let start = b.len();
                b.extend_from_slice(m);
                ranges.push(start..b.len());
            }
            if self.json {
                b.put_u8(b']');
            }
            let body = b.freeze();
            let msgs = ranges.into_iter().map(|r| body.slice(r)).collect();
            (body, msgs)
        };
        let batch = Batch {
            ordinal: self.next_ordinal,
            seq: self.next_seq,
            body,
            msgs,
            acks: std::mem::take(&mut self.open_acks),
            _permit: self.open_permit.take(),
            state: BatchState::Queued,
            sent_as_front: false,
        };
        self.next_ordinal += 1;
        self.next_seq += 1;
        self.shared.next_seq.store(self.next_seq, Ordering::Relaxed);
        self.open_bytes = 0;
        self.open_since = None;
        self.batches.push_back(batch);
    }

    /// Send what may be sent: in order, within the in-flight limit, never past a batch
    /// that must wait for its predecessors, and only one batch while the epoch is
    /// unconfirmed under auto-claim.
    fn dispatch(&mut self) {
        if self.failed.is_some() || self.fenced_by.is_some() {
            return;
        }
        // With free capacity and nothing queued, an open batch need not linger.
        let waiting = !self.flushes.is_empty() || self.closing.is_some() || self.detaching.is_some();
        if waiting
            && !self.open.is_empty()
            && self.free_slot()
            && !self.batches.iter().any(|b| matches!(b.state, BatchState::Queued | BatchState::Gap))
        {
            self.seal();
        }
        for i in 0..self.batches.len() {
            if !self.free_slot() || (!self.established && !self.in_flight.is_empty()) {
                break;
            }
            let front = i == 0;
            match self.batches[i].state {
                BatchState::Queued => {}
                BatchState::Gap if front => {}
                BatchState::Gap => break,
                BatchState::InFlight | BatchState::Done => continue,
            }
            let b = &mut self.batches[i];
            b.state = BatchState::InFlight;
            b.sent_as_front = front;
            let fut = deliver(
                self.stream.clone(),
                b.body.clone(),
                self.content_type.clone(),
                self.opts.headers.clone(),
                ProducerHeaders { id: self.opts.producer_id.clone(), epoch: self.epoch, seq: b.seq },
                false,
                self.opts.delivery_timeout,
            );
            let (ordinal, epoch) = (b.ordinal, self.epoch);
            self.in_flight.push(Box::pin(async move { (ordinal, epoch, fut.await) }));
            if !self.established {
                break;
            }
        }
    }

    fn on_outcome(&mut self, ordinal: u64, epoch: u64, outcome: Outcome) {
        let Some(idx) = self.batches.iter().position(|b| b.ordinal == ordinal) else { return };
        match outcome {
            Outcome::Stored { next_offset, duplicate } => {
                if epoch == self.epoch {
                    self.established = true;
                }
                self.window = (self.window + 1).min(self.opts.max_in_flight);
                let b = &mut self.batches[idx];
                b.state = BatchState::Done;
                let acked = Acked { next_offset, duplicate, epoch, seq: b.seq };
                for ack in b.acks.drain(..) {
                    let _ = ack.send(Ok(acked.clone()));
                }
                b.msgs.clear();
                while self.batches.front().is_some_and(|b| b.state == BatchState::Done) {
                    self.batches.pop_front();
                }
            }
            Outcome::Gap { expected } => {
                self.window = (self.window / 2).max(1);
                let b = &mut self.batches[idx];
                if b.sent_as_front && epoch == self.epoch {
                    let err = Error::new(
                        ErrorKind::SequenceGap { expected, received: b.seq },
                        format!(
                            "{}: server expects producer seq {expected} but every batch before seq {} has landed (producer state lost on the server?)",
                            self.stream.url(),
                            b.seq
                        ),
                    )
                    .with_status(409);
                    self.fail(err);
                } else {
                    b.state = BatchState::Gap;
                }
            }
            Outcome::Stale { current_epoch } => {
                if !self.opts.auto_claim {
                    let err = Error::new(
                        ErrorKind::StaleEpoch { current_epoch },
                        format!("{}: producer epoch {} is fenced by epoch {current_epoch}", self.stream.url(), self.epoch),
                    )
                    .with_status(403);
                    self.fail(err);
                    return;
                }
                self.batches[idx].state = BatchState::Queued;
                self.fenced_by = Some(self.fenced_by.unwrap_or(0).max(current_epoch));
            }
            Outcome::Failed(e) => self.fail(e),
        }
        if let Some(current) = self.fenced_by
            && self.in_flight.is_empty()
        {
            self.reclaim(current);
        }
    }

    /// Auto-claim: every batch not yet stored moves, in order, to epoch `current + 1`
    /// with sequence numbers from 0.
    fn reclaim(&mut self, current: u64) {
        self.fenced_by = None;
        self.epoch = current.max(self.epoch) + 1;
        self.shared.epoch.store(self.epoch, Ordering::Relaxed);
        self.established = false;
        let mut seq = 0;
        for b in self.batches.iter_mut().filter(|b| b.state != BatchState::Done) {
            b.seq = seq;
            b.state = BatchState::Queued;
            seq += 1;
        }
        self.next_seq = seq;
        self.shared.next_seq.store(seq, Ordering::Relaxed);
    }

    fn fail(&mut self, err: Error) {
        if self.failed.is_some() {
            return;
        }
        self.stop(err.clone());
        self.in_flight = FuturesUnordered::new();
        self.seal();
        for mut b in self.batches.drain(..) {
            if b.state == BatchState::Done {
                continue;
            }
            if let Some(cb) = &self.opts.on_error {
                // A panicking callback must not take the producer down with it.
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| cb(&err, &b.msgs)));
            }
            for ack in b.acks.drain(..) {
                let _ = ack.send(Err(err.clone()));
            }
        }
        self.failed = Some(err);
    }

    fn settle_waiters(&mut self) {
        let landed_below = self.batches.front().map(|b| b.ordinal).unwrap_or(self.next_ordinal);
        let failed = self.failed.clone();
        let pending = std::mem::take(&mut self.flushes);
        for (target, reply) in pending {
            let done = failed.is_some() || landed_below >= target;
            if done {
                let _ = reply.send(match &failed {
                    Some(e) => Err(e.clone()),
                    None => Ok(()),
                });
            } else {
                self.flushes.push((target, reply));
            }
        }
        if self.detaching.is_some() && (self.idle() || failed.is_some()) {
            if let Some(reply) = self.detaching.take() {
                let _ = reply.send(match &failed {
                    Some(e) => Err(e.clone()),
                    None => Ok(()),
                });
            }
        }
        if let Some(e) = &failed
            && let Some((_, reply)) = self.closing.take()
        {
            let _ = reply.send(Err(e.clone()));
        }
    }

    async fn finish_close(&mut self) {
        let Some((data, reply)) = self.closing.take() else { return };
        let body = data.unwrap_or_default();
        let result = loop {
            let seq = self.next_seq;
            let headers = ProducerHeaders { id: self.opts.producer_id.clone(), epoch: self.epoch, seq };
            let outcome = deliver(
                self.stream.clone(),
                body.clone(),
                self.content_type.clone(),
                self.opts.headers.clone(),
                headers,
                true,
                self.opts.delivery_timeout,
            )
            .await;
            match outcome {
                Outcome::Stored { next_offset, .. } => {
                    break match next_offset {
                        Some(final_offset) => Ok(CloseResult { final_offset }),
                        None => Err(Error::malformed(format!("close of {} returned no Stream-Next-Offset", self.stream.url()))),
                    };
                }
                Outcome::Stale { current_epoch } if self.opts.auto_claim => {
                    self.epoch = current_epoch.max(self.epoch) + 1;
                    self.shared.epoch.store(self.epoch, Ordering::Relaxed);
                    self.next_seq = 0;
                }
                Outcome::Stale { current_epoch } => {
                    break Err(Error::new(
                        ErrorKind::StaleEpoch { current_epoch },
                        format!("{}: producer epoch {} is fenced by epoch {current_epoch}", self.stream.url(), self.epoch),
                    )
                    .with_status(403));
                }
                Outcome::Gap { expected } => {
                    break Err(Error::new(
                        ErrorKind::SequenceGap { expected, received: seq },
                        format!("{}: close rejected, server expects producer seq {expected}", self.stream.url()),
                    )
                    .with_status(409));
                }
                Outcome::Failed(e) => break Err(e),
            }
        };
        // The close used this seq; a repeated close answers from memory instead of
        // sending a new seq (which the server would refuse on a closed stream).
        self.next_seq += 1;
        self.shared.next_seq.store(self.next_seq, Ordering::Relaxed);
        self.stop(closed_error("stream closed by this producer"));
        self.closed = Some(result.clone());
        let _ = reply.send(result);
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

/// One batch to the server, retried through transient failures under the same
/// (epoch, seq) until `delivery_timeout` runs out.
async fn deliver(
    stream: Stream,
    body: Bytes,
    content_type: String,
    headers: Vec<(String, String)>,
    producer: ProducerHeaders,
    close: bool,
    delivery_timeout: Duration,
) -> Outcome {
    let deadline = Instant::now() + delivery_timeout;
    let policy = stream.client.inner.retry.clone();
    let opts = AppendOptions { producer: Some(producer), close, headers, ..Default::default() };
    let mut attempt = 0u32;
    loop {
        match stream.post(body.clone(), &content_type, &opts).await {
            Ok(r) => return Outcome::Stored { next_offset: r.next_offset, duplicate: r.duplicate },
            Err(e) => match e.kind() {
                ErrorKind::SequenceGap { expected, .. } => return Outcome::Gap { expected: *expected },
                ErrorKind::StaleEpoch { current_epoch } => return Outcome::Stale { current_epoch: *current_epoch },
                _ if e.is_transient() && Instant::now() < deadline => {
                    let wait = policy.backoff(attempt, None);
                    attempt = attempt.saturating_add(1);
                    tokio::time::sleep(wait.min(deadline.saturating_duration_since(Instant::now()))).await;
                }
                _ => return Outcome::Failed(e),
            },
        }
    }
}
