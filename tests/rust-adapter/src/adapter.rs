//! Session state and one handler per command.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use bytes::Bytes;
use durable_streams_sdk::{
    AppendOptions, AppendRetry, Chunk, Client, CloseOptions, CreateOptions, DEFAULT_CONTENT_TYPE, LiveMode, Offset,
    Producer, ProducerHeaders, ProducerOptions, RawProducerOptions, ReadOptions, RetryPolicy, SentValues, Stream,
    ValueProvider,
};
use serde_json::{Map, Value, json};
use tokio::time::{Instant, timeout_at};

use crate::protocol::*;

/// Per-session state; `init` resets it.
#[derive(Default)]
pub struct Adapter {
    server_url: String,
    client: Option<Client>,
    dynamic_headers: Vec<(String, Arc<dyn ValueProvider>)>,
    dynamic_params: Vec<(String, Arc<dyn ValueProvider>)>,
    /// Content type per stream path, learnt from create / connect / head.
    content_types: HashMap<String, String>,
    /// Idempotent producers reused across commands, keyed by (path, producerId, epoch).
    producers: HashMap<(String, String, u64), Producer>,
}

impl Adapter {
    pub async fn run(&mut self, command: Command) -> Outcome {
        match command {
            Command::Init(c) => self.init(c),
            Command::Create(c) => self.create(c).await,
            Command::Connect(c) => self.connect(c).await,
            Command::Append(c) => self.append(c).await,
            Command::Read(c) => self.read(c).await,
            Command::Head(c) => self.head(c).await,
            Command::Delete(c) => self.delete(c).await,
            Command::Close(c) => self.close(c).await,
            Command::SetDynamicHeader(c) => self.set_dynamic(c, true),
            Command::SetDynamicParam(c) => self.set_dynamic(c, false),
            Command::ClearDynamic => {
                self.dynamic_headers.clear();
                self.dynamic_params.clear();
                self.rebuild_client()
            }
            Command::IdempotentAppend(c) => self.idempotent_append(c).await,
            Command::IdempotentAppendBatch(c) => self.idempotent_append_batch(c).await,
            Command::IdempotentClose(c) => self.idempotent_close(c).await,
            Command::IdempotentDetach(c) => self.idempotent_detach(c).await,
            Command::Validate(c) => validate(c),
            Command::Shutdown => Ok(Map::new()),
            Command::Unknown => Err(Failure::new("NOT_SUPPORTED", "command not supported by this adapter")),
        }
    }

    fn init(&mut self, c: Init) -> Outcome {
        *self = Adapter { server_url: c.server_url, ..Default::default() };
        self.rebuild_client()?;
        Ok(fields(json!({
            "clientName": "durable-streams-sdk (rust)",
            "clientVersion": env!("CARGO_PKG_VERSION"),
            "features": {
                "sse": true,
                "longPoll": true,
                "auto": true,
                "streaming": true,
                "dynamicHeaders": true,
                "retryOptions": true,
                "batching": true,
                "batchItems": true,
                "strictZeroValidation": true,
            },
        })))
    }

    /// A new client whenever the set of dynamic headers/params changes.
    fn rebuild_client(&mut self) -> Outcome {
        // The contract expects plain appends to be retried on 5xx; the core's default
        // (`WhenUnprocessed`) never risks a duplicate and would not.
        let retry = RetryPolicy { append_retry: AppendRetry::AtLeastOnce, ..RetryPolicy::default() };
        let mut builder = Client::builder(&self.server_url).retry_policy(retry);
        for (name, provider) in &self.dynamic_headers {
            builder = builder.dynamic_header_arc(name, provider.clone());
        }
        for (name, provider) in &self.dynamic_params {
            builder = builder.dynamic_param_arc(name, provider.clone());
        }
        self.client = Some(builder.build()?);
        Ok(Map::new())
    }

    /// A handle on `path`, primed with its known content type.
    fn stream(&self, path: &str) -> Result<Stream, Failure> {
        let client = self.client.as_ref().ok_or_else(|| Failure::new("INTERNAL_ERROR", "no init received yet"))?;
        let stream = client.stream(path)?;
        Ok(match self.content_types.get(path) {
            Some(ct) => stream.with_content_type(ct.clone()),
            None => stream,
        })
    }

    fn content_type(&self, path: &str) -> String {
        self.content_types.get(path).cloned().unwrap_or_else(|| DEFAULT_CONTENT_TYPE.to_string())
    }

    async fn create(&mut self, c: Create) -> Outcome {
        let content_type = c.content_type.unwrap_or_else(|| DEFAULT_CONTENT_TYPE.to_string());
        let opts = CreateOptions {
            content_type: Some(content_type.clone()),
            ttl_seconds: c.ttl_seconds,
            expires_at: c.expires_at,
            closed: c.closed,
            body: c.data.map(Bytes::from),
            headers: header_list(c.headers),
            ..Default::default()
        };
        let res = self.stream(&c.path)?.create(opts).await?;
        self.content_types.insert(c.path, res.content_type.unwrap_or(content_type));
        let mut out = fields(json!({ "status": res.status }));
        if let Some(o) = res.next_offset {
            out.insert("offset".into(), json!(o.as_str()));
        }
        Ok(out)
    }

    async fn connect(&mut self, c: PathOnly) -> Outcome {
        let meta = self.stream(&c.path)?.head_with_headers(&header_list(c.headers)).await?;
        if let Some(ct) = meta.content_type {
            self.content_types.insert(c.path, ct);
        }
        Ok(fields(json!({ "status": 200, "offset": meta.next_offset.as_str() })))
    }

    async fn head(&mut self, c: PathOnly) -> Outcome {
        let meta = self.stream(&c.path)?.head_with_headers(&header_list(c.headers)).await?;
        let mut out = fields(json!({
            "status": 200,
            "offset": meta.next_offset.as_str(),
            "streamClosed": meta.closed,
        }));
        if let Some(ct) = meta.content_type {
            out.insert("contentType".into(), json!(ct));
            self.content_types.insert(c.path, ct);
        }
        if let Some(ttl) = meta.ttl_seconds {
            out.insert("ttlSeconds".into(), json!(ttl));
        }
        if let Some(exp) = meta.expires_at {
            out.insert("expiresAt".into(), json!(exp));
        }
        Ok(out)
    }

    async fn delete(&mut self, c: PathOnly) -> Outcome {
        self.stream(&c.path)?.delete_with_headers(&header_list(c.headers)).await?;
        self.content_types.remove(&c.path);
        Ok(fields(json!({ "status": 200 })))
    }

    async fn append(&mut self, c: Append) -> Outcome {
        let data = if c.binary {
            base64::engine::general_purpose::STANDARD
                .decode(&c.data)
                .map_err(|e| Failure::new("INVALID_ARGUMENT", format!("data is not valid base64: {e}")))?
        } else {
            c.data.into_bytes()
        };
        let producer = ProducerHeaders::from_parts(c.producer_id, c.producer_epoch, c.producer_seq)?;
        let opts = AppendOptions {
            content_type: Some(self.content_type(&c.path)),
            seq: c.seq.map(|s| match s {
                Value::String(s) => s,
                other => other.to_string(),
            }),
            producer,
            headers: header_list(c.headers),
            ..Default::default()
        };
        // On a JSON stream the core validates `data` and sends it as `[data]`.
        let res = self.stream(&c.path)?.append(data, opts).await?;
        let mut out = fields(json!({ "status": 200 }));
        if let Some(o) = res.next_offset {
            out.insert("offset".into(), json!(o.as_str()));
        }
        if res.duplicate {
            out.insert("duplicate".into(), json!(true));
        }
        if let Some(e) = res.producer_epoch {
            out.insert("producerEpoch".into(), json!(e));
        }
        if let Some(s) = res.producer_seq {
            out.insert("producerSeq".into(), json!(s));
        }
        self.report_sent(&mut out, &res.sent);
        Ok(out)
    }

    async fn close(&mut self, c: Close) -> Outcome {
        let opts = CloseOptions {
            content_type: Some(c.content_type.unwrap_or_else(|| self.content_type(&c.path))),
            data: c.data.map(Bytes::from),
            headers: Vec::new(),
        };
        let res = self.stream(&c.path)?.close(opts).await?;
        Ok(fields(json!({ "finalOffset": res.final_offset.as_str() })))
    }

    async fn read(&mut self, c: Read) -> Outcome {
        let deadline = Instant::now() + Duration::from_millis(c.timeout_ms.unwrap_or(5000));
        let max_chunks = c.max_chunks.unwrap_or(100) as usize;
        let live = match &c.live {
            None | Some(Value::Bool(false)) => LiveMode::Off,
            Some(Value::Bool(true)) => LiveMode::Auto,
            Some(Value::String(s)) if s == "long-poll" => LiveMode::LongPoll,
            Some(Value::String(s)) if s == "sse" => LiveMode::Sse,
            Some(other) => return Err(Failure::new("INVALID_ARGUMENT", format!("unknown live mode {other}"))),
        };
        let offset = match c.offset.as_deref() {
            Some(o) => Offset::parse(o)?,
            None => Offset::beginning(),
        };
        let opts = ReadOptions { offset, live, headers: header_list(c.headers), ..Default::default() };
        let mut session = self.stream(&c.path)?.read(opts);

        let mut chunks = Vec::new();
        let mut pending = Pending::default(); // pieces of one response split by the core
        let (mut status, mut up_to_date, mut closed) = (200, false, false);
        loop {
            let chunk = match timeout_at(deadline, session.next_chunk()).await {
                Err(_) => {
                    // Time budget reached: not an error (reference adapter convention).
                    up_to_date = true;
                    break;
                }
                Ok(result) => match result? {
                    Some(chunk) => chunk,
                    None => break, // session ended: caught up (catch-up mode) or stream closed
                },
            };
            status = chunk.status;
            pending.add(&chunk);
            if chunk.partial {
                continue;
            }
            if let Some(data) = pending.take() {
                chunks.push(json!({ "data": data, "offset": chunk.next_offset.as_str() }));
            }
            up_to_date = chunk.up_to_date;
            closed = chunk.stream_closed;
            if closed || chunks.len() >= max_chunks || (c.wait_for_up_to_date && up_to_date) {
                break;
            }
        }
        if let Some(data) = pending.take() {
            chunks.push(json!({ "data": data })); // a response cut short by the time budget
        }
        let mut out = fields(json!({
            "status": status,
            "chunks": chunks,
            "offset": session.offset().as_str(),
            "upToDate": up_to_date,
            "streamClosed": closed,
        }));
        if let Some(cursor) = session.cursor() {
            out.insert("cursor".into(), json!(cursor));
        }
        self.report_sent(&mut out, session.sent_values());
        Ok(out) // dropping the session aborts any request in flight
    }

    fn producer_options(&self, key: &ProducerKey, auto_claim: bool) -> ProducerOptions {
        ProducerOptions {
            epoch: key.epoch,
            auto_claim,
            content_type: Some(self.content_type(&key.path)),
            headers: header_list(key.headers.clone()),
            ..ProducerOptions::new(key.producer_id.clone())
        }
    }

    /// The session's producer for (path, producerId, epoch), started on first use.
    async fn cached_producer(&mut self, key: &ProducerKey, auto_claim: bool) -> Result<Producer, Failure> {
        let id = (key.path.clone(), key.producer_id.clone(), key.epoch);
        if let Some(p) = self.producers.get(&id) {
            return Ok(p.clone());
        }
        let producer = Producer::start(self.stream(&key.path)?, self.producer_options(key, auto_claim)).await?;
        self.producers.insert(id, producer.clone());
        Ok(producer)
    }

    /// One message, sent as one batch: enqueue, flush, wait for the acknowledgement.
    async fn idempotent_append(&mut self, c: IdempotentAppend) -> Outcome {
        let producer = self.cached_producer(&c.key, c.auto_claim).await?;
        let ack = producer.append_with_ack(c.data).await?;
        producer.flush().await?;
        let acked = ack.await?;
        let mut out = fields(json!({ "status": 200, "duplicate": acked.duplicate, "producerSeq": acked.seq }));
        if let Some(o) = acked.next_offset {
            out.insert("offset".into(), json!(o.as_str()));
        }
        Ok(out)
    }

    /// A fresh producer (seq from 0). Like the reference adapter: with maxInFlight 1 all
    /// items travel as one batch, otherwise one batch per item, pipelined.
    async fn idempotent_append_batch(&mut self, c: IdempotentAppendBatch) -> Outcome {
        let max_in_flight = c.max_in_flight.unwrap_or(1).max(1) as usize;
        let opts = ProducerOptions {
            max_in_flight,
            max_batch_items: if max_in_flight == 1 { c.items.len().max(1) } else { 1 },
            linger: Duration::from_secs(3600), // batches are cut by size or by the flush
            ..self.producer_options(&c.key, c.auto_claim)
        };
        let producer = Producer::start(self.stream(&c.key.path)?, opts).await?;
        let mut acks = Vec::with_capacity(c.items.len());
        for item in c.items {
            acks.push(producer.append_with_ack(item).await?);
        }
        producer.flush().await?;
        let mut last_seq = None;
        for ack in acks {
            last_seq = Some(ack.await?.seq);
        }
        producer.detach().await?;
        let mut out = fields(json!({ "status": 200 }));
        if let Some(seq) = last_seq {
            out.insert("producerSeq".into(), json!(seq));
        }
        Ok(out)
    }

    /// Close through the cached producer; a repeated close answers the first result.
    async fn idempotent_close(&mut self, c: IdempotentClose) -> Outcome {
        let producer = self.cached_producer(&c.key, c.auto_claim).await?;
        let res = producer.close(c.data.map(Bytes::from)).await?;
        Ok(fields(json!({ "status": 200, "finalOffset": res.final_offset.as_str() })))
    }

    /// Flush and stop the cached producer without closing the stream, then forget it.
    async fn idempotent_detach(&mut self, c: ProducerKey) -> Outcome {
        if let Some(p) = self.producers.remove(&(c.path, c.producer_id, c.epoch)) {
            p.detach().await?;
        }
        Ok(fields(json!({ "status": 200 })))
    }

    /// `headersSent` / `paramsSent`, when dynamic values of that kind are configured.
    fn report_sent(&self, out: &mut Map<String, Value>, sent: &SentValues) {
        let map = |pairs: &[(String, String)]| Value::Object(pairs.iter().map(|(n, v)| (n.clone(), json!(v))).collect());
        if !self.dynamic_headers.is_empty() {
            out.insert("headersSent".into(), map(&sent.headers));
        }
        if !self.dynamic_params.is_empty() {
            out.insert("paramsSent".into(), map(&sent.params));
        }
    }

    fn set_dynamic(&mut self, c: SetDynamic, header: bool) -> Outcome {
        let provider = value_provider(&c.value_type, c.initial_value)?;
        let list = if header { &mut self.dynamic_headers } else { &mut self.dynamic_params };
        // Setting a name again replaces it (and restarts its counter).
        list.retain(|(name, _)| if header { !name.eq_ignore_ascii_case(&c.name) } else { *name != c.name });
        list.push((c.name, provider));
        self.rebuild_client()
    }
}

/// The pieces of one response (`Chunk::partial`), merged by the core into one chunk.
#[derive(Default)]
struct Pending(Option<Chunk>);

impl Pending {
    fn add(&mut self, chunk: &Chunk) {
        match &mut self.0 {
            Some(c) => c.merge(chunk.clone()),
            None => self.0 = Some(chunk.clone()),
        }
    }

    /// The chunk text (UTF-8, lossy), or `None` if the response carried no data.
    fn take(&mut self) -> Option<String> {
        let c = self.0.take().filter(Chunk::has_data)?;
        Some(String::from_utf8_lossy(&c.data).into_owned())
    }
}

fn header_list(headers: Headers) -> Vec<(String, String)> {
    headers.map(|h| h.into_iter().collect()).unwrap_or_default()
}

/// A value computed per request: `counter` (1, 2, 3, …), `timestamp` (Unix ms) or `token`.
fn value_provider(value_type: &str, initial: Option<String>) -> Result<Arc<dyn ValueProvider>, Failure> {
    Ok(match value_type {
        "counter" => {
            let counter = Arc::new(AtomicU64::new(0));
            Arc::new(move || {
                let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
                async move { Ok(n.to_string()) }
            })
        }
        "timestamp" => Arc::new(|| async {
            let ms = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_millis();
            Ok(ms.to_string())
        }),
        "token" => {
            let token = initial.unwrap_or_default();
            Arc::new(move || {
                let t = token.clone();
                async move { Ok(t) }
            })
        }
        other => return Err(Failure::new("INVALID_ARGUMENT", format!("unknown valueType {other:?}"))),
    })
}

/// `validate`: construct the options object through the core and report its verdict.
fn validate(c: Validate) -> Outcome {
    let t = &c.target;
    let num = |k: &str| t.get(k).and_then(Value::as_f64);
    match t.get("target").and_then(Value::as_str) {
        Some("retry-options") => {
            RetryPolicy::from_parts(num("maxRetries").map(|n| n as i64), num("initialDelayMs"), num("maxDelayMs"), num("multiplier"))?;
            Ok(Map::new())
        }
        Some("idempotent-producer") => {
            let int = |k: &str| num(k).map(|n| n as i64);
            ProducerOptions::from_raw(RawProducerOptions {
                // A missing id gets a default (reference adapter); an empty one is invalid.
                producer_id: Some(t.get("producerId").and_then(Value::as_str).unwrap_or("validate-producer").to_string()),
                epoch: int("epoch"),
                max_batch_bytes: int("maxBatchBytes"),
                max_batch_items: int("maxBatchItems"),
                ..Default::default()
            })?;
            Ok(Map::new())
        }
        other => Err(Failure::new("NOT_SUPPORTED", format!("unknown validate target {other:?}"))),
    }
}
