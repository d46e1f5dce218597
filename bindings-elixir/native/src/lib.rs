//! The NIF behind the Elixir binding (`DurableStreams.Native`).
//!
//! Every function here converts terms and calls the core. Nothing blocks a scheduler:
//! network work is spawned on the core's shared runtime ([`ffi::spawn`]) and answers
//! the calling process with a `{:ds_reply, ref, result}` message. Each such call
//! returns a task resource; when the caller dies the resource is garbage-collected and
//! the task is aborted (the core's `Task` aborts on drop), so no work outlives it.
//! Long-lived objects (streams, producers, read and consumer handles) are resources
//! freed — and their work cancelled — when their last term is collected.

mod convert;
mod json;

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use durable_streams_sdk::ffi::{self, ConsumerEvents, ReadHandle};
use durable_streams_sdk::{
    Client, CloseOptions, ConsumerOptions, Consumer, Enqueued, LiveMode, Producer, ReadOptions, Result,
    Stream,
};
use rustler::env::OwnedEnv;
use rustler::{Binary, Encoder, Env, LocalPid, ResourceArc, Term};

use crate::convert::*;

pub mod atoms {
    rustler::atoms! { ok, error, nil, ds_reply, ds_producer_error, wait, ack }
}

pub struct ClientRes(Client);
pub struct StreamRes(Stream);
/// One operation in flight for one caller; dropping it aborts the operation.
pub struct TaskRes(Mutex<Option<ffi::Task<()>>>);
pub struct ReadRes(Arc<ReadHandle>);
pub struct ProducerRes(Producer);
pub struct ConsumerRes(Arc<ConsumerEvents>);

#[rustler::resource_impl]
impl rustler::Resource for ClientRes {}
#[rustler::resource_impl]
impl rustler::Resource for StreamRes {}
#[rustler::resource_impl]
impl rustler::Resource for TaskRes {}
#[rustler::resource_impl]
impl rustler::Resource for ReadRes {}
#[rustler::resource_impl]
impl rustler::Resource for ProducerRes {}
#[rustler::resource_impl]
impl rustler::Resource for ConsumerRes {}

type Reply = Box<dyn for<'a> FnOnce(Env<'a>) -> Term<'a> + Send>;

/// Run `fut` on the shared runtime; send `{:ds_reply, reference, {:ok, v} | {:error, e}}`
/// to the caller when it ends. The returned resource aborts the work when collected.
fn reply_later<F>(env: Env, reference: Term, fut: F) -> ResourceArc<TaskRes>
where
    F: Future<Output = Result<Reply>> + Send + 'static,
{
    let pid = env.pid();
    let mut owned = OwnedEnv::new();
    let tag = owned.save(reference);
    let live = Live::new();
    let task = ffi::spawn(async move {
        let _live = live;
        let result = ffi::guard(fut).await;
        let _ = owned.send_and_clear(&pid, |env| {
            let result = match result {
                Ok(encode) => (atoms::ok(), encode(env)).encode(env),
                Err(e) => (atoms::error(), error_term(env, &e)).encode(env),
            };
            (atoms::ds_reply(), tag.load(env), result)
        });
        Ok(())
    });
    ResourceArc::new(TaskRes(Mutex::new(Some(task))))
}

/// A reply built later, in the message's environment.
fn later<F: for<'a> FnOnce(Env<'a>) -> Term<'a> + Send + 'static>(f: F) -> Reply {
    Box::new(f)
}

/// Operations whose future still exists (running or waiting), for tests that check
/// that a dead caller's work is gone.
static LIVE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

struct Live;

impl Live {
    fn new() -> Live {
        LIVE.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Live
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        LIVE.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

#[rustler::nif]
fn live_operations() -> usize {
    LIVE.load(std::sync::atomic::Ordering::SeqCst)
}

fn boxed<T: Encoder + Send + 'static>(v: T) -> Reply {
    Box::new(move |env| v.encode(env))
}

/// A synchronous result as `{:ok, v}` / `{:error, e}`.
fn now<'a, T: Encoder>(env: Env<'a>, r: Result<T>) -> Term<'a> {
    match ffi::catch_panic(|| r) {
        Ok(v) => (atoms::ok(), v).encode(env),
        Err(e) => (atoms::error(), error_term(env, &e)).encode(env),
    }
}

// ---- client and stream handles ----

#[rustler::nif(schedule = "DirtyCpu")]
fn client_new<'a>(env: Env<'a>, base_url: String, opts: ClientOpts) -> Term<'a> {
    now(env, build_client(base_url, opts).map(|c| ResourceArc::new(ClientRes(c))))
}

#[rustler::nif]
fn stream_new<'a>(env: Env<'a>, client: ResourceArc<ClientRes>, path: String, content_type: Option<String>) -> Term<'a> {
    let r = client.0.stream(&path).map(|s| match content_type {
        Some(ct) => s.with_content_type(ct),
        None => s,
    });
    now(env, r.map(|s| ResourceArc::new(StreamRes(s))))
}

#[rustler::nif]
fn stream_content_type(stream: ResourceArc<StreamRes>) -> Option<String> {
    stream.0.known_content_type()
}

/// Keeps a task resource alive until the caller has its reply (see `Native.await`).
#[rustler::nif]
fn task_done(task: ResourceArc<TaskRes>) -> rustler::Atom {
    task.0.lock().unwrap_or_else(|p| p.into_inner()).take();
    atoms::ok()
}

// ---- one-shot stream operations ----

#[rustler::nif]
fn create(env: Env, stream: ResourceArc<StreamRes>, reference: Term, opts: CreateOpts) -> ResourceArc<TaskRes> {
    let s = stream.0.clone();
    reply_later(env, reference, async move { Ok(boxed(CreateOut::from(s.create(opts.into_core()).await?))) })
}

#[rustler::nif]
fn append(
    env: Env,
    stream: ResourceArc<StreamRes>,
    reference: Term,
    data: Binary,
    opts: AppendOpts,
) -> ResourceArc<TaskRes> {
    let s = stream.0.clone();
    let data = Bytes::copy_from_slice(data.as_slice());
    let opts = opts.into_core();
    reply_later(env, reference, async move { Ok(boxed(AppendOut::from(s.append(data, opts?).await?))) })
}

#[rustler::nif]
fn head(env: Env, stream: ResourceArc<StreamRes>, reference: Term, headers: Vec<(String, String)>) -> ResourceArc<TaskRes> {
    let s = stream.0.clone();
    reply_later(env, reference, async move { Ok(boxed(HeadOut::from(s.head_with_headers(&headers).await?))) })
}

#[rustler::nif]
fn delete(env: Env, stream: ResourceArc<StreamRes>, reference: Term, headers: Vec<(String, String)>) -> ResourceArc<TaskRes> {
    let s = stream.0.clone();
    reply_later(env, reference, async move {
        s.delete_with_headers(&headers).await?;
        Ok(boxed(atoms::ok()))
    })
}

#[rustler::nif]
fn close(
    env: Env,
    stream: ResourceArc<StreamRes>,
    reference: Term,
    data: Option<Binary>,
    content_type: Option<String>,
) -> ResourceArc<TaskRes> {
    let s = stream.0.clone();
    let opts = CloseOptions { data: data.map(|d| Bytes::copy_from_slice(d.as_slice())), content_type, headers: Vec::new() };
    reply_later(env, reference, async move { Ok(boxed(s.close(opts).await?.final_offset.to_string())) })
}

/// One response's worth of data (pieces of a large response joined), as the seed's
/// `read/2` returns it; `timeout_ms` bounds how long a live read waits for data.
#[rustler::nif]
fn read_once(env: Env, stream: ResourceArc<StreamRes>, reference: Term, opts: ReadOpts) -> ResourceArc<TaskRes> {
    let wait = opts.timeout_ms.map(Duration::from_millis);
    let opts = match opts.into_core() {
        Ok(o) => o,
        Err(e) => return reply_later(env, reference, async move { Err(e) }),
    };
    let live = opts.live != LiveMode::Off;
    let offset = opts.offset.clone();
    let mut session = stream.0.read(opts);
    reply_later(env, reference, async move {
        let mut acc = ChunkAcc::default();
        let collect = async {
            loop {
                match session.next_chunk().await? {
                    None => return Ok::<_, durable_streams_sdk::Error>(()),
                    Some(c) => {
                        let partial = c.partial;
                        acc.add(c);
                        // Live reads wait for data (empty long-polls are skipped).
                        if !partial && (acc.has_data() || !live || acc.closed()) {
                            return Ok(());
                        }
                    }
                }
            }
        };
        match wait {
            Some(w) if live => {
                if tokio_timeout(w, collect).await.transpose()?.is_none() {
                    acc.timed_out(session.offset().clone());
                }
            }
            _ => collect.await?,
        }
        Ok(later(move |env| acc.into_term(env, offset)))
    })
}

#[rustler::nif]
fn read_all(env: Env, stream: ResourceArc<StreamRes>, reference: Term, offset: String) -> ResourceArc<TaskRes> {
    let offset = match parse_offset(&offset) {
        Ok(o) => o,
        Err(e) => return reply_later(env, reference, async move { Err(e) }),
    };
    let mut session = stream.0.read(ReadOptions { offset: offset.clone(), live: LiveMode::Off, ..Default::default() });
    reply_later(env, reference, async move {
        let mut chunks = Vec::new();
        let mut acc = ChunkAcc::default();
        while let Some(c) = session.next_chunk().await? {
            let partial = c.partial;
            acc.add(c);
            if !partial && acc.has_data() {
                chunks.push(std::mem::take(&mut acc));
            }
        }
        Ok(later(move |env| {
            let list: Vec<Term> = chunks.into_iter().map(|c| c.into_term(env, offset.clone())).collect();
            list.encode(env)
        }))
    })
}

// ---- read handles (live reads driven chunk by chunk) ----

#[rustler::nif]
fn read_open<'a>(env: Env<'a>, stream: ResourceArc<StreamRes>, opts: ReadOpts) -> Term<'a> {
    let r = opts.into_core().map(|o| ResourceArc::new(ReadRes(Arc::new(ReadHandle::new(stream.0.read(o))))));
    now(env, r)
}

/// The next whole response (pieces joined), `nil` at the end.
#[rustler::nif]
fn read_next(env: Env, read: ResourceArc<ReadRes>, reference: Term) -> ResourceArc<TaskRes> {
    let handle = read.0.clone();
    let start = handle.position().offset;
    reply_later(env, reference, async move {
        let mut acc = ChunkAcc::default();
        loop {
            match handle.next().await? {
                None if acc.is_empty() => return Ok(boxed(atoms::nil())),
                None => break,
                Some(c) => {
                    let partial = c.partial;
                    acc.add(c);
                    if !partial {
                        break;
                    }
                }
            }
        }
        let sent = handle.sent_values();
        Ok(later(move |env| {
            let t = acc.into_term(env, start);
            let sent_term = sent_term(env, &sent);
            t.map_put(rustler::types::atom::Atom::from_str(env, "sent").unwrap(), sent_term).unwrap_or(t)
        }))
    })
}

#[rustler::nif]
fn read_position(read: ResourceArc<ReadRes>) -> PositionOut {
    PositionOut::from(read.0.position())
}

#[rustler::nif]
fn read_cancel(read: ResourceArc<ReadRes>) -> rustler::Atom {
    read.0.cancel();
    atoms::ok()
}

// ---- producer (the Writer) ----

/// A producer on `stream`; failed batches are reported to `notify` (the Writer) as
/// `{:ds_producer_error, error, message_count}`.
#[rustler::nif]
fn producer_start<'a>(env: Env<'a>, stream: ResourceArc<StreamRes>, opts: ProducerOpts, notify: Option<LocalPid>) -> Term<'a> {
    let r = opts.into_core(stream.0.known_content_type()).and_then(|mut o| {
        if let Some(pid) = notify {
            let cb: durable_streams_sdk::ErrorCallback = Arc::new(move |err, msgs| {
                let info = ffi::ErrorInfo::new(err, ffi::Naming::SnakeMs);
                let n = msgs.len();
                // Called on a runtime thread, never a scheduler thread.
                let _ = OwnedEnv::new().send_and_clear(&pid, |env| {
                    (atoms::ds_producer_error(), error_info_term(env, &info), n)
                });
            });
            o.on_error = Some(cb);
        }
        Producer::start_now(stream.0.clone(), o)
    });
    now(env, r.map(|p| ResourceArc::new(ProducerRes(p))))
}

/// Enqueue one or more messages (their place is fixed by this call). Answers `:ok`
/// when buffered; otherwise `{:wait | :ack, task}` and a later `{:ds_reply, ref, _}`:
/// `:ok` once buffered, or the acknowledgement of the last message when `want_ack`.
#[rustler::nif]
fn producer_enqueue<'a>(env: Env<'a>, p: ResourceArc<ProducerRes>, msgs: Vec<Binary>, want_ack: bool, reference: Term<'a>) -> Term<'a> {
    let msgs: Vec<Bytes> = msgs.iter().map(|b| Bytes::copy_from_slice(b.as_slice())).collect();
    let r = ffi::catch_panic(|| if msgs.len() == 1 {
        p.0.enqueue(msgs.into_iter().next().expect("one"), want_ack)
    } else {
        p.0.enqueue_many(msgs, want_ack)
    });
    match r {
        Ok(Enqueued::Accepted) => atoms::ok().encode(env),
        Ok(Enqueued::Ack(ack)) => {
            let t = reply_later(env, reference, async move { Ok(boxed(AckOut::from(ack.await?))) });
            (atoms::ack(), t).encode(env)
        }
        Ok(Enqueued::Wait(w)) => {
            let t = reply_later(env, reference, async move {
                Ok(match w.await? {
                    Some(ack) => boxed(AckOut::from(ack.await?)),
                    None => boxed(atoms::ok()),
                })
            });
            (atoms::wait(), t).encode(env)
        }
        Err(e) => (atoms::error(), error_term(env, &e)).encode(env),
    }
}

#[rustler::nif]
fn producer_flush(env: Env, p: ResourceArc<ProducerRes>, reference: Term) -> ResourceArc<TaskRes> {
    let p = p.0.clone();
    reply_later(env, reference, async move {
        p.flush().await?;
        Ok(boxed(atoms::ok()))
    })
}

#[rustler::nif]
fn producer_close(env: Env, p: ResourceArc<ProducerRes>, reference: Term, data: Option<Binary>) -> ResourceArc<TaskRes> {
    let p = p.0.clone();
    let data = data.map(|d| Bytes::copy_from_slice(d.as_slice()));
    reply_later(env, reference, async move { Ok(boxed(p.close(data).await?.final_offset.to_string())) })
}

#[rustler::nif]
fn producer_detach(env: Env, p: ResourceArc<ProducerRes>, reference: Term) -> ResourceArc<TaskRes> {
    let p = p.0.clone();
    reply_later(env, reference, async move {
        p.detach().await?;
        Ok(boxed(atoms::ok()))
    })
}

#[rustler::nif]
fn producer_epoch(p: ResourceArc<ProducerRes>) -> u64 {
    p.0.epoch()
}

// ---- consumer (pull handle; the Consumer GenServer drives it) ----

#[rustler::nif]
fn consumer_open<'a>(env: Env<'a>, stream: ResourceArc<StreamRes>, opts: ConsumerOpts) -> Term<'a> {
    let r = (|| {
        let live: LiveMode = opts.live.parse()?;
        let o = ConsumerOptions {
            offset: parse_offset(&opts.offset)?,
            live,
            backoff_base: Duration::from_millis(opts.backoff_base),
            backoff_max: Duration::from_millis(opts.backoff_max),
            ..Default::default()
        };
        Ok(ResourceArc::new(ConsumerRes(Arc::new(ConsumerEvents::new(Consumer::new(stream.0.clone(), o)?)))))
    })();
    now(env, r)
}

#[rustler::nif]
fn consumer_next(env: Env, c: ResourceArc<ConsumerRes>, reference: Term) -> ResourceArc<TaskRes> {
    let c = c.0.clone();
    reply_later(env, reference, async move {
        let ev = c.next().await?;
        Ok(later(move |env| event_term(env, ev)))
    })
}

#[rustler::nif]
fn consumer_cancel(c: ResourceArc<ConsumerRes>) -> rustler::Atom {
    c.0.cancel();
    atoms::ok()
}

// ---- errors, validation and JSON ----

/// The core's error table: `[%{code, name, parent, details}]`.
#[rustler::nif]
fn error_table(env: Env) -> Term {
    let rows: Vec<Term> = ffi::ERROR_TABLE
        .iter()
        .map(|c| {
            let details: Vec<&str> = c.details.to_vec();
            Term::map_from_pairs(
                env,
                &[
                    (atom(env, "code"), c.code.encode(env)),
                    (atom(env, "name"), c.name.encode(env)),
                    (atom(env, "parent"), c.parent.encode(env)),
                    (atom(env, "details"), details.encode(env)),
                ],
            )
            .expect("unique keys")
        })
        .collect();
    rows.encode(env)
}

#[rustler::nif]
fn validate_producer<'a>(env: Env<'a>, opts: ProducerOpts) -> Term<'a> {
    now(env, opts.into_core(None).map(|_| atoms::ok()))
}

#[rustler::nif]
fn validate_retry<'a>(
    env: Env<'a>,
    max_retries: Option<i64>,
    initial_delay_ms: Option<f64>,
    max_delay_ms: Option<f64>,
    multiplier: Option<f64>,
) -> Term<'a> {
    now(env, durable_streams_sdk::RetryPolicy::from_parts(max_retries, initial_delay_ms, max_delay_ms, multiplier).map(|_| atoms::ok()))
}

/// JSON text → Elixir terms (objects become maps with string keys). Large documents
/// are CPU work: Elixir sends them to `json_decode_dirty`.
#[rustler::nif]
fn json_decode<'a>(env: Env<'a>, data: Binary) -> Term<'a> {
    json::decode(env, data.as_slice())
}

#[rustler::nif(schedule = "DirtyCpu")]
fn json_decode_dirty<'a>(env: Env<'a>, data: Binary) -> Term<'a> {
    json::decode(env, data.as_slice())
}

/// Elixir terms → compact JSON text.
#[rustler::nif]
fn json_encode<'a>(env: Env<'a>, term: Term<'a>) -> Term<'a> {
    json::encode(env, term)
}

rustler::init!("Elixir.DurableStreams.Native");
