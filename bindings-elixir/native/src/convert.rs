//! Terms in, terms out: option maps from Elixir (built complete by the Elixir side,
//! `nil` for "not given") into core options, core results into maps and structs.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use durable_streams_sdk::ffi::{ErrorInfo, Naming, Position};
use durable_streams_sdk::{
    Acked, AppendOptions, AppendResult, AppendRetry, Chunk, Client, ConsumerEvent, CreateOptions, CreateResult, Error,
    LiveMode, Offset, ProducerHeaders, ProducerOptions, RawProducerOptions, ReadOptions, Result, RetryPolicy, SentValues,
    StreamMetadata, ValueProvider,
};
use rustler::types::atom::Atom;
use rustler::{Encoder, Env, NifMap, Term};

pub fn atom<'a>(env: Env<'a>, name: &str) -> Term<'a> {
    Atom::from_str(env, name).expect("valid atom").encode(env)
}

fn map<'a>(env: Env<'a>, pairs: &[(&str, Term<'a>)]) -> Term<'a> {
    let pairs: Vec<(Term, Term)> = pairs.iter().map(|(k, v)| (atom(env, k), *v)).collect();
    Term::map_from_pairs(env, &pairs).expect("unique keys")
}

pub fn parse_offset(s: &str) -> Result<Offset> {
    Offset::parse(s)
}

// ---- options ----

#[derive(NifMap)]
pub struct ClientOpts {
    pub headers: Vec<(String, String)>,
    /// `{name, "counter" | "timestamp" | "token", initial}` evaluated per request.
    pub dynamic_headers: Vec<(String, String, Option<String>)>,
    pub dynamic_params: Vec<(String, String, Option<String>)>,
    pub append_retry: Option<String>,
    /// Per-request and live-idle timeouts in ms, and the retry budget (nil: core defaults).
    pub request_timeout_ms: Option<u64>,
    pub live_idle_timeout_ms: Option<u64>,
    pub max_retries: Option<u32>,
}

pub fn build_client(base_url: String, o: ClientOpts) -> Result<Client> {
    let mut retry = RetryPolicy::default();
    if let Some(r) = &o.append_retry {
        retry.append_retry = r.parse::<AppendRetry>()?;
    }
    if let Some(n) = o.max_retries {
        retry.max_retries = n;
    }
    let mut b = Client::builder(base_url).retry_policy(retry);
    if let Some(ms) = o.request_timeout_ms {
        b = b.request_timeout(Duration::from_millis(ms));
    }
    if let Some(ms) = o.live_idle_timeout_ms {
        b = b.live_idle_timeout(Duration::from_millis(ms));
    }
    for (k, v) in o.headers {
        b = b.header(k, v);
    }
    for (name, kind, initial) in o.dynamic_headers {
        b = b.dynamic_header_arc(name, value_provider(&kind, initial)?);
    }
    for (name, kind, initial) in o.dynamic_params {
        b = b.dynamic_param_arc(name, value_provider(&kind, initial)?);
    }
    b.build()
}

/// A value computed per request: `counter` (1, 2, 3, …), `timestamp` (Unix ms), `token`.
fn value_provider(kind: &str, initial: Option<String>) -> Result<Arc<dyn ValueProvider>> {
    Ok(match kind {
        "counter" => {
            let n = Arc::new(AtomicU64::new(0));
            Arc::new(move || {
                let v = n.fetch_add(1, Ordering::SeqCst) + 1;
                async move { Ok(v.to_string()) }
            })
        }
        "timestamp" => Arc::new(|| async {
            Ok(SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_millis().to_string())
        }),
        "token" => {
            let t = initial.unwrap_or_default();
            Arc::new(move || {
                let t = t.clone();
                async move { Ok(t) }
            })
        }
        other => return Err(Error::invalid_argument("valueType", format!("unknown value type {other:?}"))),
    })
}

#[derive(NifMap)]
pub struct CreateOpts {
    pub content_type: Option<String>,
    pub ttl_seconds: Option<u64>,
    pub expires_at: Option<String>,
    pub closed: bool,
    pub data: Option<String>,
    pub headers: Vec<(String, String)>,
}

impl CreateOpts {
    pub fn into_core(self) -> CreateOptions {
        CreateOptions {
            content_type: self.content_type,
            ttl_seconds: self.ttl_seconds,
            expires_at: self.expires_at,
            closed: self.closed,
            body: self.data.map(Bytes::from),
            headers: self.headers,
            ..Default::default()
        }
    }
}

#[derive(NifMap)]
pub struct AppendOpts {
    pub content_type: Option<String>,
    pub seq: Option<String>,
    pub producer_id: Option<String>,
    pub producer_epoch: Option<u64>,
    pub producer_seq: Option<u64>,
    pub close: bool,
    pub headers: Vec<(String, String)>,
}

impl AppendOpts {
    pub fn into_core(self) -> Result<AppendOptions> {
        let producer = ProducerHeaders::from_parts(self.producer_id, self.producer_epoch, self.producer_seq)?;
        Ok(AppendOptions { content_type: self.content_type, seq: self.seq, producer, close: self.close, headers: self.headers })
    }
}

#[derive(NifMap)]
pub struct ReadOpts {
    pub offset: String,
    /// `off`, `long_poll`, `sse` or `auto` (the core parses every spelling).
    pub live: String,
    pub cursor: Option<String>,
    pub timeout_ms: Option<u64>,
    pub headers: Vec<(String, String)>,
}

impl ReadOpts {
    pub fn into_core(self) -> Result<ReadOptions> {
        Ok(ReadOptions {
            offset: parse_offset(&self.offset)?,
            live: self.live.parse::<LiveMode>()?,
            cursor: self.cursor,
            headers: self.headers,
            ..Default::default()
        })
    }
}

#[derive(NifMap)]
pub struct ProducerOpts {
    pub producer_id: Option<String>,
    pub epoch: Option<i64>,
    pub auto_claim: Option<bool>,
    pub max_batch_size: Option<i64>,
    pub max_batch_bytes: Option<i64>,
    pub linger_ms: Option<f64>,
    pub max_in_flight: Option<i64>,
    pub content_type: Option<String>,
    pub headers: Vec<(String, String)>,
}

impl ProducerOpts {
    /// Validated by the core; errors name options as Elixir spells them.
    pub fn into_core(self, known_content_type: Option<String>) -> Result<ProducerOptions> {
        ProducerOptions::from_raw(RawProducerOptions {
            producer_id: self.producer_id,
            epoch: self.epoch,
            auto_claim: self.auto_claim,
            max_batch_items: self.max_batch_size,
            max_batch_bytes: self.max_batch_bytes,
            linger_ms: self.linger_ms,
            max_in_flight: self.max_in_flight,
            buffer_limit_bytes: None,
            delivery_timeout_ms: None,
            content_type: self.content_type.or(known_content_type),
            headers: self.headers,
        })
    }
}

#[derive(NifMap)]
pub struct ConsumerOpts {
    pub offset: String,
    pub live: String,
    pub backoff_base: u64,
    pub backoff_max: u64,
}

// ---- results ----

#[derive(NifMap)]
pub struct CreateOut {
    status: u16,
    created: bool,
    next_offset: Option<String>,
    content_type: Option<String>,
}

impl From<CreateResult> for CreateOut {
    fn from(r: CreateResult) -> Self {
        CreateOut {
            status: r.status,
            created: r.created,
            next_offset: r.next_offset.map(|o| o.to_string()),
            content_type: r.content_type,
        }
    }
}

pub struct AppendOut(AppendResult);

impl From<AppendResult> for AppendOut {
    fn from(r: AppendResult) -> Self {
        AppendOut(r)
    }
}

impl Encoder for AppendOut {
    fn encode<'a>(&self, env: Env<'a>) -> Term<'a> {
        let r = &self.0;
        map(
            env,
            &[
                ("status", r.status.encode(env)),
                ("next_offset", r.next_offset.as_ref().map(|o| o.to_string()).encode(env)),
                ("duplicate", r.duplicate.encode(env)),
                ("stream_closed", r.stream_closed.encode(env)),
                ("producer_epoch", r.producer_epoch.encode(env)),
                ("producer_seq", r.producer_seq.encode(env)),
                ("sent", sent_term(env, &r.sent)),
            ],
        )
    }
}

#[derive(NifMap)]
pub struct HeadOut {
    content_type: Option<String>,
    next_offset: String,
    stream_closed: bool,
    ttl_seconds: Option<u64>,
    expires_at: Option<String>,
    etag: Option<String>,
}

impl From<StreamMetadata> for HeadOut {
    fn from(m: StreamMetadata) -> Self {
        HeadOut {
            content_type: m.content_type,
            next_offset: m.next_offset.to_string(),
            stream_closed: m.closed,
            ttl_seconds: m.ttl_seconds,
            expires_at: m.expires_at,
            etag: m.etag,
        }
    }
}

#[derive(NifMap)]
pub struct AckOut {
    next_offset: Option<String>,
    duplicate: bool,
    epoch: u64,
    seq: u64,
}

impl From<Acked> for AckOut {
    fn from(a: Acked) -> Self {
        AckOut { next_offset: a.next_offset.map(|o| o.to_string()), duplicate: a.duplicate, epoch: a.epoch, seq: a.seq }
    }
}

#[derive(NifMap)]
pub struct PositionOut {
    offset: String,
    cursor: Option<String>,
    up_to_date: bool,
    stream_closed: bool,
}

impl From<Position> for PositionOut {
    fn from(p: Position) -> Self {
        PositionOut { offset: p.offset.to_string(), cursor: p.cursor, up_to_date: p.up_to_date, stream_closed: p.stream_closed }
    }
}

pub fn sent_term<'a>(env: Env<'a>, s: &SentValues) -> Term<'a> {
    map(env, &[("headers", s.headers.encode(env)), ("params", s.params.encode(env))])
}

/// The pieces of one response, merged by the core into one `%DurableStreams.Chunk{}`.
#[derive(Default)]
pub struct ChunkAcc(Option<Chunk>);

impl ChunkAcc {
    pub fn add(&mut self, c: Chunk) {
        match &mut self.0 {
            Some(acc) => acc.merge(c),
            None => self.0 = Some(c),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_none()
    }

    pub fn partial(&self) -> bool {
        self.0.as_ref().is_some_and(|c| c.partial)
    }

    pub fn closed(&self) -> bool {
        self.0.as_ref().is_some_and(|c| c.stream_closed)
    }

    pub fn has_data(&self) -> bool {
        self.0.as_ref().is_some_and(Chunk::has_data)
    }

    /// A live read whose time budget ran out: nothing new, caught up at `offset` (the
    /// pieces taken so far are kept).
    pub fn timed_out(&mut self, offset: Offset) {
        if self.0.is_none() || self.partial() {
            let (data, json, cursor) = match self.0.take() {
                Some(c) => (c.data, c.json, c.cursor),
                None => (Bytes::new(), false, None),
            };
            self.0 = Some(Chunk { data, json, next_offset: offset, up_to_date: true, stream_closed: false, cursor, partial: false, status: 204 });
        }
    }

    /// `%DurableStreams.Chunk{}`; JSON streams also get `messages` decoded here (on
    /// the runtime thread, not a scheduler), from the chunk's one array.
    pub fn into_term<'a>(self, env: Env<'a>, start: Offset) -> Term<'a> {
        let (data, messages) = match &self.0 {
            Some(c) if c.json && !c.has_data() => (Bytes::from_static(b"[]"), Vec::<Term>::new().encode(env)),
            Some(c) if c.json => (c.data.clone(), crate::json::value_term(env, &c.data)),
            Some(c) => (c.data.clone(), atom(env, "nil")),
            None => (Bytes::new(), atom(env, "nil")),
        };
        let mut bin = rustler::NewBinary::new(env, data.len());
        bin.as_mut_slice().copy_from_slice(&data);
        let data: Term = rustler::Binary::from(bin).encode(env);
        let (next_offset, up_to_date, closed, cursor, status) = match &self.0 {
            Some(c) => (c.next_offset.to_string(), c.up_to_date, c.stream_closed, c.cursor.clone(), c.status),
            None => (start.to_string(), true, false, None, 200),
        };
        let pairs = [
            (atom(env, "__struct__"), atom(env, "Elixir.DurableStreams.Chunk")),
            (atom(env, "data"), data),
            (atom(env, "messages"), messages),
            (atom(env, "next_offset"), next_offset.encode(env)),
            (atom(env, "up_to_date"), up_to_date.encode(env)),
            (atom(env, "stream_closed"), closed.encode(env)),
            (atom(env, "cursor"), cursor.encode(env)),
            (atom(env, "status"), status.encode(env)),
        ];
        Term::map_from_pairs(env, &pairs).expect("unique keys")
    }
}

/// `nil` (the end), `{:batch, chunk}`, `{:up_to_date, offset}`, `{:closed, offset}`,
/// `{:reconnecting, error, retry_in_ms}`.
pub fn event_term<'a>(env: Env<'a>, ev: Option<ConsumerEvent>) -> Term<'a> {
    match ev {
        None => atom(env, "nil"),
        Some(ConsumerEvent::Batch(c)) => {
            let start = c.next_offset.clone();
            let mut acc = ChunkAcc::default();
            acc.add(c);
            (atom(env, "batch"), acc.into_term(env, start)).encode(env)
        }
        Some(ConsumerEvent::UpToDate { offset }) => (atom(env, "up_to_date"), offset.to_string()).encode(env),
        Some(ConsumerEvent::Closed { final_offset }) => (atom(env, "closed"), final_offset.to_string()).encode(env),
        Some(ConsumerEvent::Reconnecting { error, retry_in }) => {
            let ms = u64::try_from(retry_in.as_millis()).unwrap_or(u64::MAX);
            (atom(env, "reconnecting"), error_term(env, &error), ms).encode(env)
        }
    }
}

// ---- errors ----

pub fn error_term<'a>(env: Env<'a>, e: &Error) -> Term<'a> {
    error_info_term(env, &ErrorInfo::new(e, Naming::SnakeMs))
}

/// The flat record as a map; `DurableStreams.Error` turns it into the seed's reasons.
pub fn error_info_term<'a>(env: Env<'a>, i: &ErrorInfo) -> Term<'a> {
    map(
        env,
        &[
            ("code", i.code.encode(env)),
            ("class", i.class.encode(env)),
            ("conformance_code", i.conformance_code.encode(env)),
            ("message", i.message.encode(env)),
            ("status", i.status.encode(env)),
            ("transient", i.transient.encode(env)),
            ("next_offset", i.next_offset.encode(env)),
            ("earliest_offset", i.earliest_offset.encode(env)),
            ("current_epoch", i.current_epoch.encode(env)),
            ("expected_seq", i.expected_seq.encode(env)),
            ("received_seq", i.received_seq.encode(env)),
            ("retry_after_ms", i.retry_after_ms.encode(env)),
            ("field", i.field.encode(env)),
            ("server_message", i.server_message.encode(env)),
            ("cause", i.cause.encode(env)),
        ],
    )
}

/// `fut` with a deadline; `None` when it ran out.
pub async fn tokio_timeout<F: std::future::Future>(d: Duration, fut: F) -> Option<F::Output> {
    tokio::time::timeout(d, fut).await.ok()
}
