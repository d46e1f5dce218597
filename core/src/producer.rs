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
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use tokio::sync::{Notify, oneshot};
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
    /// Most messages in one request. The default is high enough that batches are cut
    /// by `max_batch_bytes` alone, as the other clients do: a count cap of 100 made
    /// small messages cost one request per 100 (issue 8's W1 measurement).
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
    /// First pause before repeating a request that provably was not processed
    /// (connection refused, `503` / `429` without `Retry-After`), with jitter, growing
    /// by the client's retry multiplier after that. A request that got no answer is
    /// repeated at once; other server errors use the client's [`RetryPolicy`] backoff;
    /// a `Retry-After` is honoured.
    ///
    /// [`RetryPolicy`]: crate::RetryPolicy
    pub quick_retry_delay: Duration,
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
            .field("delivery_timeout", &self.delivery_timeout)
            .field("quick_retry_delay", &self.quick_retry_delay)
            .finish_non_exhaustive()
    }
}

impl ProducerOptions {
    pub fn new(producer_id: impl Into<String>) -> Self {
        ProducerOptions {
            producer_id: producer_id.into(),
            epoch: 0,
            auto_claim: false,
            max_batch_items: DEFAULT_MAX_BATCH_ITEMS,
            max_batch_bytes: 1 << 20,
            linger: Duration::from_millis(5),
            max_in_flight: 5,
            buffer_limit_bytes: 64 << 20,
            delivery_timeout: Duration::from_secs(120),
            quick_retry_delay: Duration::from_millis(10),
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
            o.linger = Duration::try_from_secs_f64(ms / 1e3).map_err(|_| Error::invalid_argument("lingerMs", "too large"))?;
        }
        if let Some(ms) = raw.delivery_timeout_ms {
            if !(ms.is_finite() && ms > 0.0) {
                return Err(Error::invalid_argument("deliveryTimeoutMs", "must be > 0"));
            }
            o.delivery_timeout = Duration::try_from_secs_f64(ms / 1e3)
                .map_err(|_| Error::invalid_argument("deliveryTimeoutMs", "too large"))?;
        }
        o.auto_claim = raw.auto_claim.unwrap_or(false);
        o.content_type = raw.content_type;
        o.headers = raw.headers;
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
    pub delivery_timeout_ms: Option<f64>,
    pub content_type: Option<String>,
    pub headers: Vec<(String, String)>,
}

const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

/// Default [`ProducerOptions::max_batch_items`]; fits every binding's integer type.
pub const DEFAULT_MAX_BATCH_ITEMS: usize = 1 << 20;

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

/// Request counts of a producer's batches (the close request not included).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProducerCounters {
    /// Requests sent, repeats included.
    pub requests: u64,
    /// `409` answers: a batch arrived ahead of its predecessor and was sent again.
    pub sequence_gaps: u64,
    /// Requests that failed transiently (network error, `5xx`, `429`) and were repeated.
    pub failures: u64,
}

/// What [`Producer::enqueue`] did with a message. In every case the message's place
/// in the stream is already fixed: it comes after everything enqueued before the call.
pub enum Enqueued {
    /// Buffered; no acknowledgement was asked for.
    Accepted,
    /// Buffered; resolves when the message is stored.
    Ack(AppendAck),
    /// The buffer limit is reached: the message waits in line for room.
    Wait(EnqueueWait),
}

/// A message waiting for buffer room. Resolves once it is buffered (to its
/// acknowledgement if one was asked for), or to the error that stopped the producer
/// first. Dropping it does not withdraw the message: its place stays reserved.
pub struct EnqueueWait {
    admitted: oneshot::Receiver<Result<()>>,
    ack: Option<AppendAck>,
}

impl Future for EnqueueWait {
    type Output = Result<Option<AppendAck>>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        Pin::new(&mut this.admitted).poll(cx).map(|r| match r {
            Ok(Ok(())) => Ok(this.ack.take()),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(closed_error("producer stopped")),
        })
    }
}

/// The idempotent producer. Cheap to clone; clones feed the same batches.
#[derive(Clone)]
pub struct Producer {
    handle: Arc<Handle>,
}

/// A producer as its client holds it: without keeping it alive.
pub(crate) struct WeakProducer(std::sync::Weak<Handle>);

impl WeakProducer {
    pub(crate) fn upgrade(&self) -> Option<Producer> {
        self.0.upgrade().map(|handle| Producer { handle })
    }

    pub(crate) fn alive(&self) -> bool {
        self.0.strong_count() > 0
    }
}

/// Dropped with the last clone of a [`Producer`]: lets the driver finish and exit.
struct Handle {
    shared: Arc<Shared>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.shared.lock().handles_gone = true;
        self.shared.wake.notify_one();
    }
}

const KIND_UNKNOWN: u8 = 0;
const KIND_JSON: u8 = 1;
const KIND_OTHER: u8 = 2;

/// State shared by every handle and the driver task. Callers touch it under one short
/// lock per call and wake the driver only when there is something for it to do (a
/// batch to send, a linger timer to arm, a flush or close), so a message costs a
/// lock and a copy of its handle, not a task wake-up.
struct Shared {
    state: Mutex<State>,
    wake: Notify,
    /// `KIND_*`: whether messages must be JSON; unknown until learned (lazy start).
    kind: AtomicU8,
    epoch: AtomicU64,
    next_seq: AtomicU64,
    requests: AtomicU64,
    gaps: AtomicU64,
    failures: AtomicU64,
    stats: crate::stats::ProducerCells,
    buffer_limit: usize,
    max_batch_items: usize,
    max_batch_bytes: usize,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[derive(Default)]
struct State {
    /// Set once the producer failed, closed or detached: enqueues are refused.
    stopped: Option<Error>,
    open: Pending,
    /// Full batches in call order, not yet taken by the driver.
    sealed: VecDeque<Pending>,
    /// Cost of every buffered message that has not landed or failed yet.
    buffered: usize,
    /// Messages that found the buffer full, in call order.
    waiting: VecDeque<Waiter>,
    /// Messages enqueued so far (buffered or waiting): a flush waits for all of them.
    reserved: u64,
    control: VecDeque<Control>,
    handles_gone: bool,
}

/// Messages on their way into one batch.
#[derive(Default)]
struct Pending {
    msgs: Vec<Bytes>,
    /// Body bytes (JSON: with a separator per message).
    bytes: usize,
    cost: usize,
    acks: Vec<oneshot::Sender<Result<Acked>>>,
    /// Some message was enqueued before the content type was known: check it later.
    unchecked: bool,
    since: Option<std::time::Instant>,
}

struct Waiter {
    msgs: Vec<Bytes>,
    cost: usize,
    unchecked: bool,
    ack: Option<oneshot::Sender<Result<Acked>>>,
    admitted: oneshot::Sender<Result<()>>,
}

enum Control {
    Flush { target: u64, reply: oneshot::Sender<Result<()>> },
    Close { data: Option<FinalMessage>, reply: oneshot::Sender<Result<CloseResult>> },
    Detach(oneshot::Sender<Result<()>>),
}

enum FinalMessage {
    /// Ready to send.
    Body(Bytes),
    /// Given before the content type was known: wrapped (JSON) once it is.
    Raw(Bytes),
}

impl State {
    /// Buffer `msgs` at the end of the open batch, sealing batches as they fill.
    /// Returns whether the driver must be woken.
    fn push(&mut self, cfg: &Shared, msgs: Vec<Bytes>, cost: usize, unchecked: bool, mut ack: Option<oneshot::Sender<Result<Acked>>>) -> bool {
        let mut wake = false;
        let sep = usize::from(cfg.kind.load(Ordering::Relaxed) != KIND_OTHER);
        self.buffered += cost;
        // The batch's cost is charged to the batch holding the last message, which
        // stays buffered at least as long as any message of the call.
        let mut cost = cost;
        let count = msgs.len();
        for (i, m) in msgs.into_iter().enumerate() {
            let size = m.len() + sep;
            if !self.open.msgs.is_empty()
                && (self.open.bytes + size > cfg.max_batch_bytes || self.open.msgs.len() >= cfg.max_batch_items)
            {
                wake |= self.seal();
            }
            if self.open.msgs.is_empty() {
                self.open.since = Some(std::time::Instant::now());
                wake = true; // arm the linger timer
            }
            self.open.bytes += size;
            self.open.unchecked |= unchecked;
            self.open.msgs.push(m);
            if i + 1 == count {
                self.open.cost += std::mem::take(&mut cost);
                if let Some(ack) = ack.take() {
                    self.open.acks.push(ack);
                }
            }
        }
        if self.open.msgs.len() >= cfg.max_batch_items || self.open.bytes >= cfg.max_batch_bytes {
            wake |= self.seal();
        }
        wake
    }

    fn seal(&mut self) -> bool {
        if self.open.msgs.is_empty() {
            return false;
        }
        self.sealed.push_back(std::mem::take(&mut self.open));
        true
    }

    /// Move waiting messages into the buffer while there is room, in order.
    fn admit_waiting(&mut self, cfg: &Shared) -> bool {
        let mut wake = false;
        while let Some(w) = self.waiting.front() {
            if !fits(self.buffered, w.cost, cfg.buffer_limit) {
                break;
            }
            let Some(w) = self.waiting.pop_front() else { break };
            wake |= self.push(cfg, w.msgs, w.cost, w.unchecked, w.ack);
            let _ = w.admitted.send(Ok(()));
        }
        wake
    }
}

/// Room for `cost` more? An empty buffer takes anything, so that a call whose
/// messages together exceed the limit still gets through, alone.
fn fits(buffered: usize, cost: usize, limit: usize) -> bool {
    buffered == 0 || buffered + cost <= limit
}

fn closed_error(why: &str) -> Error {
    Error::new(ErrorKind::Closed, format!("producer is closed: {why}"))
}

fn buffer_full(limit: usize) -> Error {
    Error::new(ErrorKind::BufferFull, format!("producer buffer limit of {limit} bytes reached"))
}

impl Producer {
    /// Start a producer on `stream`. Never waits for the network: when the stream's
    /// content type is neither given nor already known, the producer learns it (one
    /// `HEAD`) before its first request, and a failure to learn it is reported by
    /// flush, close and the acknowledgements instead.
    ///
    /// The producer runs on the shared runtime ([`crate::runtime`]), so this may be
    /// called (and awaited) from any thread or executor.
    pub async fn start(stream: Stream, opts: ProducerOptions) -> Result<Producer> {
        Self::start_now(stream, opts)
    }

    /// [`Producer::start`] without `async`: for callers that are not in a future.
    pub fn start_now(stream: Stream, opts: ProducerOptions) -> Result<Producer> {
        opts.validate()?;
        stream.check_open()?;
        let client = stream.client.clone();
        let content_type = opts.content_type.clone().or_else(|| stream.known_content_type());
        let kind = match &content_type {
            Some(ct) if headers::is_json(ct) => KIND_JSON,
            Some(_) => KIND_OTHER,
            None => KIND_UNKNOWN,
        };
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            wake: Notify::new(),
            kind: AtomicU8::new(kind),
            epoch: AtomicU64::new(opts.epoch),
            next_seq: AtomicU64::new(0),
            requests: AtomicU64::new(0),
            gaps: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            stats: Default::default(),
            buffer_limit: opts.buffer_limit_bytes,
            max_batch_items: opts.max_batch_items,
            max_batch_bytes: opts.max_batch_bytes,
        });
        let driver = Driver::new(stream, opts, content_type, shared.clone());
        let p = Producer { handle: Arc::new(Handle { shared }) };
        // Closed in between: this producer has nothing yet and ends with its handles.
        client.inner.owned.track(WeakProducer(Arc::downgrade(&p.handle)))?;
        crate::runtime::spawn(driver.run());
        Ok(p)
    }

    /// Enqueue one message without waiting for anything. Its place in the stream is
    /// fixed by this call: after every message enqueued before it (from any thread),
    /// even when it has to wait for buffer room. On a JSON stream `data` is the text
    /// of one JSON value; it is checked here, and so is its size.
    pub fn enqueue(&self, data: Bytes, want_ack: bool) -> Result<Enqueued> {
        let data = self.check(data)?;
        let cost = cost_of(&data);
        self.reserve(vec![data], cost, want_ack, true, true)
    }

    /// Enqueue many messages in one call, in order, as [`Producer::enqueue`] would one
    /// by one. With `want_ack`, the acknowledgement is the last message's: it resolves
    /// once every message of the call is stored (or with the first failure).
    pub fn enqueue_many(&self, msgs: Vec<Bytes>, want_ack: bool) -> Result<Enqueued> {
        let mut checked = Vec::with_capacity(msgs.len());
        let mut cost = 0usize;
        for m in msgs {
            let m = self.check(m)?;
            cost = cost.saturating_add(cost_of(&m));
            checked.push(m);
        }
        if checked.is_empty() {
            return Err(Error::invalid_argument("data", "enqueue_many needs at least one message"));
        }
        self.reserve(checked, cost, want_ack, true, true)
    }

    /// Enqueue one message, waiting only while the buffer limit is reached.
    pub async fn append(&self, data: impl Into<Bytes>) -> Result<()> {
        match self.enqueue(data.into(), false)? {
            Enqueued::Wait(w) => w.await.map(drop),
            _ => Ok(()),
        }
    }

    /// Like [`Producer::append`], returning an acknowledgement to await.
    pub async fn append_with_ack(&self, data: impl Into<Bytes>) -> Result<AppendAck> {
        Self::ack_of(self.enqueue(data.into(), true)?).await
    }

    /// Enqueue one JSON value.
    pub async fn append_json<T: serde::Serialize + ?Sized>(&self, value: &T) -> Result<()> {
        let data = encode_json(value)?;
        self.check_size(&data)?;
        let cost = cost_of(&data);
        // Serialised by us, so it is valid JSON: no need to parse it again.
        match self.reserve(vec![data], cost, false, false, true)? {
            Enqueued::Wait(w) => w.await.map(drop),
            _ => Ok(()),
        }
    }

    /// Enqueue without waiting: fails with `BUFFER_FULL` when the buffer limit is reached.
    pub fn try_append(&self, data: impl Into<Bytes>, with_ack: bool) -> Result<Option<AppendAck>> {
        let data = self.check(data.into())?;
        let cost = cost_of(&data);
        match self.reserve(vec![data], cost, with_ack, true, false)? {
            Enqueued::Ack(a) => Ok(Some(a)),
            _ => Ok(None),
        }
    }

    /// Wait until everything enqueued so far is stored. Fails if any of it was lost.
    pub async fn flush(&self) -> Result<()> {
        let (reply, rx) = oneshot::channel();
        self.control(|st| Control::Flush { target: st.reserved, reply });
        rx.await.unwrap_or_else(|_| Err(closed_error("producer stopped")))
    }

    /// Flush, then close the stream through the producer (atomically appending `data`
    /// as a final message if given). Repeating a close returns the first result.
    pub async fn close(&self, data: Option<Bytes>) -> Result<CloseResult> {
        // On a JSON stream the final message travels as a one-value array; checked
        // here when the content type is known, else by the driver once it is.
        let data = match data {
            Some(d) if self.kind() == KIND_JSON => Some(FinalMessage::Body(wrap_json_message(&d)?)),
            Some(d) => Some(FinalMessage::Raw(d)),
            None => None,
        };
        let (reply, rx) = oneshot::channel();
        self.control(|st| {
            if st.stopped.is_none() {
                st.stopped = Some(closed_error("closing"));
            }
            Control::Close { data, reply }
        });
        rx.await.unwrap_or_else(|_| Err(closed_error("producer stopped")))
    }

    /// Flush, then stop without closing the stream.
    pub async fn detach(&self) -> Result<()> {
        let (reply, rx) = oneshot::channel();
        self.control(|st| {
            if st.stopped.is_none() {
                st.stopped = Some(closed_error("detached"));
            }
            Control::Detach(reply)
        });
        rx.await.unwrap_or_else(|_| Err(closed_error("producer stopped")))
    }

    /// How much message cost (bytes plus [`MESSAGE_OVERHEAD_BYTES`] each) one enqueue
    /// may add right now and still be buffered at once; 0 while enqueues wait or once the
    /// producer stopped. Only grows until the next enqueue, so a binding may hold messages
    /// back up to this much and still report back-pressure exactly (the Node binding's
    /// per-run hand-over).
    pub fn buffer_room(&self) -> usize {
        let shared = &self.handle.shared;
        let st = shared.lock();
        if st.stopped.is_some() || !st.waiting.is_empty() {
            return 0;
        }
        shared.buffer_limit.saturating_sub(st.buffered)
    }

    /// The epoch in use (changes after an auto-claim).
    pub fn epoch(&self) -> u64 {
        self.handle.shared.epoch.load(Ordering::Relaxed)
    }

    /// The sequence number the next batch will get.
    pub fn next_seq(&self) -> u64 {
        self.handle.shared.next_seq.load(Ordering::Relaxed)
    }

    /// What the producer's traffic cost so far (for measuring recovery).
    pub fn counters(&self) -> ProducerCounters {
        let s = &self.handle.shared;
        ProducerCounters {
            requests: s.requests.load(Ordering::Relaxed),
            sequence_gaps: s.gaps.load(Ordering::Relaxed),
            failures: s.failures.load(Ordering::Relaxed),
        }
    }

    /// Messages, bytes, batches, retries, in flight, buffered, last error ([`crate::stats`]).
    pub fn stats(&self) -> crate::stats::ProducerStats {
        let s = &self.handle.shared;
        let (enqueued, buffered) = { let st = s.lock(); (st.reserved, st.buffered) };
        let c = self.counters();
        s.stats.snapshot(enqueued, buffered, c.requests, c.failures, c.sequence_gaps)
    }

    fn kind(&self) -> u8 {
        self.handle.shared.kind.load(Ordering::Relaxed)
    }

    async fn ack_of(e: Enqueued) -> Result<AppendAck> {
        match e {
            Enqueued::Ack(a) => Ok(a),
            Enqueued::Wait(w) => w.await?.ok_or_else(|| closed_error("no acknowledgement")),
            Enqueued::Accepted => Err(closed_error("no acknowledgement")),
        }
    }

    fn control(&self, make: impl FnOnce(&mut State) -> Control) {
        let shared = &self.handle.shared;
        let mut st = shared.lock();
        let c = make(&mut st);
        st.control.push_back(c);
        drop(st);
        shared.wake.notify_one();
    }

    /// Take the messages' place in line: buffered now if there is room and nobody is
    /// waiting ahead, otherwise queued behind the waiting ones (or, unless `may_wait`,
    /// refused with `BUFFER_FULL`).
    fn reserve(&self, msgs: Vec<Bytes>, cost: usize, want_ack: bool, check_later: bool, may_wait: bool) -> Result<Enqueued> {
        let shared = &self.handle.shared;
        let (ack_tx, ack) = if want_ack {
            let (tx, rx) = oneshot::channel();
            (Some(tx), Some(AppendAck(rx)))
        } else {
            (None, None)
        };
        let unchecked = check_later && shared.kind.load(Ordering::Relaxed) == KIND_UNKNOWN;
        let mut st = shared.lock();
        if let Some(e) = &st.stopped {
            return Err(e.clone());
        }
        let room = st.waiting.is_empty() && fits(st.buffered, cost, shared.buffer_limit);
        if !room && !may_wait {
            return Err(buffer_full(shared.buffer_limit));
        }
        st.reserved += msgs.len() as u64;
        if room {
            let wake = st.push(shared, msgs, cost, unchecked, ack_tx);
            drop(st);
            if wake {
                shared.wake.notify_one();
            }
            return Ok(match ack {
                Some(a) => Enqueued::Ack(a),
                None => Enqueued::Accepted,
            });
        }
        let (admitted, rx) = oneshot::channel();
        st.waiting.push_back(Waiter { msgs, cost, unchecked, ack: ack_tx, admitted });
        Ok(Enqueued::Wait(EnqueueWait { admitted: rx, ack }))
    }

    fn check(&self, data: Bytes) -> Result<Bytes> {
        if self.kind() == KIND_JSON {
            check_json(&data)?;
        }
        self.check_size(&data)?;
        Ok(data)
    }

    fn check_size(&self, data: &Bytes) -> Result<()> {
        let limit = self.handle.shared.buffer_limit;
        if data.len() + MESSAGE_OVERHEAD_BYTES > limit {
            return Err(Error::invalid_argument(
                "data",
                format!("message of {} bytes exceeds bufferLimitBytes ({limit})", data.len()),
            ));
        }
        Ok(())
    }
}

fn check_json(data: &[u8]) -> Result<()> {
    serde_json::from_slice::<serde::de::IgnoredAny>(data).map(drop).map_err(|e| {
        Error::new(ErrorKind::InvalidArgument { field: "data" }, format!("not valid JSON for a JSON stream: {e}"))
    })
}

/// Memory a buffered message costs beyond its bytes (queue slot, handles, batch entry),
/// charged so that `buffer_limit_bytes` bounds real memory, not just payload.
pub const MESSAGE_OVERHEAD_BYTES: usize = 96;

fn cost_of(data: &Bytes) -> usize {
    data.len() + MESSAGE_OVERHEAD_BYTES
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
    /// A request for it failed; resent at `retry_at`. Nothing behind it is sent
    /// until it lands: it would only be refused as a gap.
    Retry,
    Done,
}

struct Batch {
    ordinal: u64,
    seq: u64,
    body: Bytes,
    msgs: Vec<Bytes>,
    count: u64,
    cost: usize,
    acks: Vec<oneshot::Sender<Result<Acked>>>,
    state: BatchState,
    /// Sent while every predecessor had landed: a gap answer then means the server
    /// lost our state, and waiting would never help.
    sent_as_front: bool,
    /// Failed attempts so far (the backoff grows with them).
    failures: u32,
    /// This send repeats a failed or refused request: hold back the batches behind it.
    resending: bool,
    retry_at: Option<Instant>,
    /// Start of its delivery timeout.
    first_sent: Option<Instant>,
}

enum Outcome {
    Stored { next_offset: Option<Offset>, duplicate: bool },
    Gap { expected: u64 },
    Stale { current_epoch: u64 },
    /// May succeed when repeated, after `wait`.
    Transient { error: Error, wait: Wait },
    Failed(Error),
}

/// How soon a failed request may be repeated, from what its failure proves.
#[derive(Debug, Clone, Copy)]
enum Wait {
    /// No answer (reset, timeout, cut off): it may or may not have landed, and the
    /// server deduplicates, so resend at once on a fresh connection.
    Now,
    /// Provably not processed (connection refused, `503` / `429` without
    /// `Retry-After`): a short pause is enough.
    Quick,
    /// Any other server error: the policy's backoff.
    Backoff,
    /// The server's `Retry-After`.
    AtLeast(Duration),
}

/// Pause before repeating a request that failed `failures` times before (0-based).
fn retry_delay(policy: &crate::retry::RetryPolicy, quick: Duration, wait: Wait, failures: u32) -> Duration {
    match wait {
        Wait::Now if failures == 0 => Duration::ZERO,
        // Failing again at once: no longer a lost answer but a server that is down.
        Wait::Now => policy.backoff_from(quick, failures - 1, None),
        Wait::Quick => policy.backoff_from(quick, failures, None),
        Wait::Backoff => policy.backoff(failures, None),
        Wait::AtLeast(d) => policy.backoff_from(quick, failures, Some(d)),
    }
}

/// How many windows' worth of batches must land before the window grows by one. Each
/// request in flight behind a lost or delayed one arrives early and costs a `409` and a
/// resend; growing back after one window (as before) kept the window near its maximum
/// between faults, so at 4% per fault kind a fault cost 1.8 extra requests in
/// per-message mode, against 1.3 with three windows (`ds-bench recovery`), for no
/// measurable loss of fault-free throughput.
const GROWTH_WINDOWS: usize = 3;

type InFlight = Pin<Box<dyn Future<Output = (u64, u64, Outcome)> + Send>>;

struct Driver {
    stream: Stream,
    opts: ProducerOptions,
    /// `None` until learned (lazy start).
    content_type: Option<String>,
    json: bool,
    shared: Arc<Shared>,
    epoch: u64,
    next_seq: u64,
    next_ordinal: u64,
    /// Messages stored so far, counted in order (flush targets are message counts).
    landed: u64,
    /// The current epoch has been accepted by the server at least once.
    established: bool,
    /// A stale-epoch answer arrived (auto-claim): wait for in-flight, then re-number.
    fenced_by: Option<u64>,
    /// Requests allowed in flight now, at most `max_in_flight`. Pipelined requests on
    /// separate connections overtake each other; every overtaking costs a 409 and a
    /// resend, so the window halves on a gap or failure and grows back by one per
    /// [`GROWTH_WINDOWS`] windows' worth of stored batches: while faults are frequent it
    /// stays small, and a fault then strands few requests behind it.
    window: usize,
    /// Batches stored since the window last grew.
    grow_credit: usize,
    batches: VecDeque<Batch>,
    in_flight: FuturesUnordered<InFlight>,
    /// Fires once the last request sent is on its connection (see [`SendOrder`]).
    last_taken: Option<oneshot::Receiver<()>>,
    /// When the shared open batch got its first message.
    open_since: Option<std::time::Instant>,
    handles_gone: bool,
    flushes: Vec<(u64, oneshot::Sender<Result<()>>)>,
    closing: Option<Option<FinalMessage>>,
    close_replies: Vec<oneshot::Sender<Result<CloseResult>>>,
    detaching: Vec<oneshot::Sender<Result<()>>>,
    closed: Option<Result<CloseResult>>,
    failed: Option<Error>,
}

impl Driver {
    fn new(stream: Stream, opts: ProducerOptions, content_type: Option<String>, shared: Arc<Shared>) -> Driver {
        let opts_window = opts.max_in_flight;
        Driver {
            epoch: opts.epoch,
            // Without auto-claim the starting epoch is the caller's to own; pipelining
            // can start at once. With it, the first batch alone establishes the epoch.
            established: !opts.auto_claim,
            json: content_type.as_deref().is_some_and(headers::is_json),
            content_type,
            stream,
            opts,
            shared,
            next_seq: 0,
            next_ordinal: 0,
            landed: 0,
            fenced_by: None,
            window: opts_window,
            grow_credit: 0,
            batches: VecDeque::new(),
            in_flight: FuturesUnordered::new(),
            last_taken: None,
            open_since: None,
            handles_gone: false,
            flushes: Vec::new(),
            closing: None,
            close_replies: Vec::new(),
            detaching: Vec::new(),
            closed: None,
            failed: None,
        }
    }

    async fn run(mut self) {
        let shared = self.shared.clone();
        // Lazy start: the content type is learned when there is a first thing to send.
        while self.content_type.is_none() && self.failed.is_none() {
            let (busy, gone) = {
                let st = shared.lock();
                let busy = !(st.open.msgs.is_empty() && st.sealed.is_empty() && st.waiting.is_empty() && st.control.is_empty());
                (busy, st.handles_gone)
            };
            if busy {
                match self.stream.content_type().await {
                    Ok(ct) => {
                        self.json = headers::is_json(&ct);
                        let kind = if self.json { KIND_JSON } else { KIND_OTHER };
                        shared.kind.store(kind, Ordering::Relaxed);
                        self.content_type = Some(ct);
                    }
                    Err(e) => self.fail(e),
                }
            } else if gone {
                return;
            } else {
                shared.wake.notified().await;
            }
        }
        loop {
            self.pull();
            self.dispatch();
            // Before any waiter is answered: a caller reading stats right after its flush
            // returns must see the requests that just landed as no longer in flight.
            shared.stats.in_flight.store(self.in_flight.len() as u64, Ordering::Relaxed);
            self.settle_waiters();
            if self.closing.is_some() && self.idle() {
                self.finish_close().await;
                continue;
            }
            if self.handles_gone && self.idle() {
                return; // every handle dropped and everything delivered
            }
            let linger_at = match (self.open_since, self.free_slot()) {
                (Some(t), true) => Some(Instant::from_std(t) + self.opts.linger),
                _ => None,
            };
            let retry_at = self.batches.iter().filter(|b| b.state == BatchState::Retry).filter_map(|b| b.retry_at).min();
            tokio::select! {
                _ = shared.wake.notified() => {}
                Some((ordinal, epoch, outcome)) = self.in_flight.next(), if !self.in_flight.is_empty() => {
                    self.on_outcome(ordinal, epoch, outcome);
                }
                _ = sleep_until(linger_at), if linger_at.is_some() => self.seal_open(true),
                _ = sleep_until(retry_at), if retry_at.is_some() => {} // dispatch resends it
            }
        }
    }

    /// Take what the handles left in the shared state: sealed batches and commands.
    fn pull(&mut self) {
        let (sealed, control) = {
            let mut st = self.shared.lock();
            self.open_since = st.open.since;
            self.handles_gone = st.handles_gone;
            (std::mem::take(&mut st.sealed), std::mem::take(&mut st.control))
        };
        for p in sealed {
            self.add_batch(p);
        }
        for c in control {
            self.on_control(c);
        }
    }

    /// Everything enqueued has landed or failed.
    fn idle(&self) -> bool {
        if !(self.batches.is_empty() && self.in_flight.is_empty()) {
            return false;
        }
        let st = self.shared.lock();
        st.open.msgs.is_empty() && st.sealed.is_empty() && st.waiting.is_empty()
    }

    fn free_slot(&self) -> bool {
        self.in_flight.len() < self.window
    }

    fn on_control(&mut self, c: Control) {
        match c {
            Control::Flush { target, reply } => match &self.failed {
                Some(e) => drop(reply.send(Err(e.clone()))),
                None => self.flushes.push((target, reply)),
            },
            Control::Close { data, reply } => {
                if let Some(done) = &self.closed {
                    let _ = reply.send(done.clone());
                } else if let Some(e) = &self.failed {
                    let _ = reply.send(Err(e.clone()));
                } else {
                    // A repeated close while the first is under way shares its result.
                    if self.closing.is_none() {
                        self.closing = Some(data);
                    }
                    self.close_replies.push(reply);
                }
            }
            Control::Detach(reply) => match &self.failed {
                Some(e) => drop(reply.send(Err(e.clone()))),
                None => self.detaching.push(reply),
            },
        }
    }

    /// Seal the shared open batch (`only_due`: only if its linger time is up).
    fn seal_open(&mut self, only_due: bool) {
        let sealed = {
            let mut st = self.shared.lock();
            let due = st.open.since.is_some_and(|t| t.elapsed() >= self.opts.linger);
            if only_due && !due {
                return;
            }
            st.seal();
            self.open_since = None;
            std::mem::take(&mut st.sealed)
        };
        for p in sealed {
            self.add_batch(p);
        }
    }

    /// Turn buffered messages into an immutable batch with the next sequence number.
    fn add_batch(&mut self, p: Pending) {
        let count = p.msgs.len() as u64;
        let bad = if p.unchecked && self.json {
            p.msgs.iter().position(|m| check_json(m).is_err())
        } else {
            None
        };
        let (body, msgs) = if p.msgs.len() == 1 && !self.json {
            (p.msgs[0].clone(), p.msgs)
        } else {
            // One body for the batch; the messages kept for the error callback become
            // slices of it, so each message's own allocation is freed right away.
            let mut b = BytesMut::with_capacity(p.bytes + 2);
            let mut ranges = Vec::with_capacity(p.msgs.len());
            if self.json {
                b.put_u8(b'[');
            }
            for (i, m) in p.msgs.iter().enumerate() {
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
        self.batches.push_back(Batch {
            ordinal: self.next_ordinal,
            seq: self.next_seq,
            body,
            msgs,
            count,
            cost: p.cost,
            acks: p.acks,
            state: BatchState::Queued,
            sent_as_front: false,
            failures: 0,
            resending: false,
            retry_at: None,
            first_sent: None,
        });
        self.next_ordinal += 1;
        self.next_seq += 1;
        self.shared.next_seq.store(self.next_seq, Ordering::Relaxed);
        if let Some(i) = bad {
            // Enqueued before the content type was known, so it could not be refused
            // at the call: the producer fails loudly rather than send it.
            self.fail(Error::invalid_argument(
                "data",
                format!("message {} of a batch is not valid JSON for a JSON stream (content type learned after it was enqueued)", i + 1),
            ));
        } else if let Some(e) = self.failed.clone() {
            self.fail_batches(&e);
        }
    }

    /// Send what may be sent: in order, within the in-flight limit, never past a batch
    /// that must wait for its predecessors, and only one batch while the epoch is
    /// unconfirmed under auto-claim.
    fn dispatch(&mut self) {
        if self.failed.is_some() || self.fenced_by.is_some() {
            return;
        }
        // Someone waits for everything: with free capacity and nothing queued, the
        // open batch need not linger.
        let waiting = !self.flushes.is_empty() || self.closing.is_some() || !self.detaching.is_empty() || self.handles_gone;
        if waiting
            && self.open_since.is_some()
            && self.free_slot()
            && !self.batches.iter().any(|b| matches!(b.state, BatchState::Queued | BatchState::Gap | BatchState::Retry))
        {
            self.seal_open(false);
        }
        let now = Instant::now();
        for i in 0..self.batches.len() {
            if !self.free_slot() || (!self.established && !self.in_flight.is_empty()) {
                break;
            }
            let front = i == 0;
            let b = &self.batches[i];
            match b.state {
                BatchState::Queued => {}
                BatchState::Retry if b.retry_at.is_none_or(|t| t <= now) => {}
                BatchState::Gap if front => {}
                // Recovery first: a batch sent past a failed or refused one would
                // arrive ahead of it and be refused as a gap in turn.
                BatchState::Retry | BatchState::Gap => break,
                BatchState::InFlight if b.resending => break,
                BatchState::InFlight | BatchState::Done => continue,
            }
            let b = &mut self.batches[i];
            b.resending = b.state != BatchState::Queued;
            b.state = BatchState::InFlight;
            b.sent_as_front = front;
            b.first_sent.get_or_insert(now);
            self.shared.requests.fetch_add(1, Ordering::Relaxed);
            self.shared.stats.sent(b.count, b.body.len());
            let (taken, next) = oneshot::channel();
            let order = SendOrder { after: self.last_taken.replace(next), taken };
            let fut = deliver(
                self.stream.clone(),
                b.body.clone(),
                self.content_type.clone().unwrap_or_default(),
                self.opts.headers.clone(),
                ProducerHeaders { id: self.opts.producer_id.clone(), epoch: self.epoch, seq: b.seq },
                false,
                order,
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
                self.grow_credit += 1;
                if self.grow_credit >= GROWTH_WINDOWS * self.window {
                    self.grow_credit = 0;
                    self.window = (self.window + 1).min(self.opts.max_in_flight);
                }
                let b = &mut self.batches[idx];
                b.state = BatchState::Done;
                self.shared.stats.stored(b.count, b.body.len());
                crate::trace::batch(self.stream.url().path(), epoch, b.seq, b.count, b.body.len(), b.failures + 1);
                let acked = Acked { next_offset, duplicate, epoch, seq: b.seq };
                for ack in b.acks.drain(..) {
                    let _ = ack.send(Ok(acked.clone()));
                }
                b.msgs.clear();
                let mut freed = 0;
                while self.batches.front().is_some_and(|b| b.state == BatchState::Done) {
                    if let Some(b) = self.batches.pop_front() {
                        self.landed += b.count;
                        freed += b.cost;
                    }
                }
                if freed > 0 {
                    self.release(freed);
                }
            }
            Outcome::Gap { expected } => {
                self.shared.gaps.fetch_add(1, Ordering::Relaxed);
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
            Outcome::Transient { error, wait } => {
                self.shared.failures.fetch_add(1, Ordering::Relaxed);
                let now = Instant::now();
                let b = &mut self.batches[idx];
                let deadline = b.first_sent.unwrap_or(now) + self.opts.delivery_timeout;
                if now >= deadline {
                    self.fail(error);
                    return;
                }
                let policy = &self.stream.client.inner.retry;
                let pause = retry_delay(policy, self.opts.quick_retry_delay, wait, b.failures);
                b.failures = b.failures.saturating_add(1);
                b.state = BatchState::Retry;
                b.retry_at = Some(now + pause.min(deadline - now));
                self.shared.stats.error(&error);
                crate::trace::batch_retry(self.stream.url().path(), b.seq, b.failures, &crate::trace::reason_of_error(&error), pause);
                // The batches sent behind it will come back as gaps; fewer in flight
                // while the connection is troubled means fewer of those.
                self.window = (self.window / 2).max(1);
            }
            Outcome::Failed(e) => self.fail(e),
        }
        if let Some(current) = self.fenced_by
            && self.in_flight.is_empty()
        {
            self.reclaim(current);
        }
    }

    /// Stored messages free their buffer room; waiting messages move in, in order.
    fn release(&mut self, cost: usize) {
        let wake = {
            let mut st = self.shared.lock();
            st.buffered = st.buffered.saturating_sub(cost);
            st.admit_waiting(&self.shared)
        };
        if wake {
            // Picked up by this loop's next wait, which then returns at once.
            self.shared.wake.notify_one();
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
            b.resending = false;
            seq += 1;
        }
        self.next_seq = seq;
        self.shared.next_seq.store(seq, Ordering::Relaxed);
    }

    /// Fail the producer: every message not stored is reported lost (callback and
    /// acknowledgements), waiting enqueues get the error, later enqueues are refused.
    fn fail(&mut self, err: Error) {
        if self.failed.is_some() {
            return;
        }
        self.failed = Some(err.clone());
        self.shared.stats.error(&err);
        self.in_flight = FuturesUnordered::new();
        let (mut pending, waiting) = {
            let mut st = self.shared.lock();
            st.stopped = Some(err.clone());
            st.seal();
            st.buffered = 0;
            (std::mem::take(&mut st.sealed), std::mem::take(&mut st.waiting))
        };
        // Batches the driver already holds come first in stream order.
        self.fail_batches(&err);
        for p in pending.drain(..) {
            self.report_lost(&err, &p.msgs, p.acks);
        }
        for w in waiting {
            // Never buffered, so never accepted: its caller gets the error instead.
            let _ = w.admitted.send(Err(err.clone()));
        }
    }

    fn fail_batches(&mut self, err: &Error) {
        for b in std::mem::take(&mut self.batches) {
            if b.state != BatchState::Done {
                self.report_lost(err, &b.msgs, b.acks);
            }
        }
    }

    fn report_lost(&self, err: &Error, msgs: &[Bytes], acks: Vec<oneshot::Sender<Result<Acked>>>) {
        if let Some(cb) = &self.opts.on_error {
            // A panicking callback must not take the producer down with it.
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| cb(err, msgs)));
        }
        for ack in acks {
            let _ = ack.send(Err(err.clone()));
        }
    }

    fn settle_waiters(&mut self) {
        let failed = self.failed.clone();
        let landed = self.landed;
        let done: Vec<_> = std::mem::take(&mut self.flushes);
        for (target, reply) in done {
            if failed.is_none() && landed < target {
                self.flushes.push((target, reply));
            } else {
                let _ = reply.send(failed.clone().map_or(Ok(()), Err));
            }
        }
        if !self.detaching.is_empty() && (failed.is_some() || self.idle()) {
            for reply in self.detaching.drain(..) {
                let _ = reply.send(failed.clone().map_or(Ok(()), Err));
            }
        }
        if let Some(e) = &failed
            && self.closing.take().is_some()
        {
            for reply in self.close_replies.drain(..) {
                let _ = reply.send(Err(e.clone()));
            }
        }
    }

    async fn finish_close(&mut self) {
        let Some(data) = self.closing.take() else { return };
        let body = match data {
            None => Ok(Bytes::new()),
            Some(FinalMessage::Body(b)) => Ok(b),
            Some(FinalMessage::Raw(b)) if self.json => wrap_json_message(&b),
            Some(FinalMessage::Raw(b)) => Ok(b),
        };
        let result = match body {
            Ok(body) => self.send_close(body).await,
            Err(e) => Err(e),
        };
        self.shared.lock().stopped = Some(closed_error("stream closed by this producer"));
        self.closed = Some(result.clone());
        for reply in self.close_replies.drain(..) {
            let _ = reply.send(result.clone());
        }
    }

    async fn send_close(&mut self, body: Bytes) -> Result<CloseResult> {
        let result = loop {
            let seq = self.next_seq;
            let headers = ProducerHeaders { id: self.opts.producer_id.clone(), epoch: self.epoch, seq };
            let outcome = deliver_until_done(
                self.stream.clone(),
                body.clone(),
                self.content_type.clone().unwrap_or_default(),
                self.opts.headers.clone(),
                headers,
                &self.opts,
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
                Outcome::Failed(e) | Outcome::Transient { error: e, .. } => break Err(e),
            }
        };
        // The close used this seq; a repeated close answers from memory instead of
        // sending a new seq (which the server would refuse on a closed stream).
        self.next_seq += 1;
        self.shared.next_seq.store(self.next_seq, Ordering::Relaxed);
        result
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

/// Where a request stands in the send order: it starts only once the previous one is
/// on its connection (`after`), and reports the same for the next (`taken`).
/// Pipelined requests travel on separate connections; started at once, they reach the
/// server in any order, and each overtaking costs a `409` and a resend.
struct SendOrder {
    after: Option<oneshot::Receiver<()>>,
    taken: oneshot::Sender<()>,
}

impl SendOrder {
    fn alone() -> SendOrder {
        SendOrder { after: None, taken: oneshot::channel().0 }
    }
}

/// One attempt to send one batch (the driver schedules repeats, under the same
/// epoch and seq, so the server's deduplication makes them safe).
async fn deliver(
    stream: Stream,
    body: Bytes,
    content_type: String,
    headers: Vec<(String, String)>,
    producer: ProducerHeaders,
    close: bool,
    order: SendOrder,
) -> Outcome {
    if let Some(prev) = order.after {
        // Sent or failed, either way this request can no longer overtake it.
        let _ = prev.await;
    }
    let opts = AppendOptions { producer: Some(producer), close, headers, ..Default::default() };
    let attempt = stream.post_once(body, &content_type, &opts, order.taken).await;
    match attempt.result {
        Ok(r) => Outcome::Stored { next_offset: r.next_offset, duplicate: r.duplicate },
        Err(e) => match e.kind() {
            ErrorKind::SequenceGap { expected, .. } => Outcome::Gap { expected: *expected },
            ErrorKind::StaleEpoch { current_epoch } => Outcome::Stale { current_epoch: *current_epoch },
            _ if e.is_transient() => {
                let wait = match attempt.retry_after {
                    Some(d) => Wait::AtLeast(d),
                    None if attempt.unsent => Wait::Quick,
                    None if matches!(e.kind(), ErrorKind::Network | ErrorKind::Timeout) => Wait::Now,
                    None => Wait::Backoff,
                };
                Outcome::Transient { error: e, wait }
            }
            _ => Outcome::Failed(e),
        },
    }
}

/// [`deliver`], repeated through transient failures until `delivery_timeout` runs out
/// (the close request, which goes alone).
async fn deliver_until_done(
    stream: Stream,
    body: Bytes,
    content_type: String,
    headers: Vec<(String, String)>,
    producer: ProducerHeaders,
    opts: &ProducerOptions,
) -> Outcome {
    let deadline = Instant::now() + opts.delivery_timeout;
    let policy = stream.client.inner.retry.clone();
    let mut failures = 0u32;
    loop {
        let outcome = deliver(
            stream.clone(),
            body.clone(),
            content_type.clone(),
            headers.clone(),
            producer.clone(),
            true,
            SendOrder::alone(),
        )
        .await;
        match outcome {
            Outcome::Transient { error, wait } => {
                let now = Instant::now();
                if now >= deadline {
                    return Outcome::Failed(error);
                }
                let pause = retry_delay(&policy, opts.quick_retry_delay, wait, failures);
                failures = failures.saturating_add(1);
                tokio::time::sleep(pause.min(deadline - now)).await;
            }
            other => return other,
        }
    }
}

