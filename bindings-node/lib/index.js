'use strict'
// durable-streams-sdk for Node.js: the public API over the native module.
//
// This layer only adapts: data conversion (Buffer / Uint8Array / string / JSON values),
// Promises, async iterators, AbortSignal, callbacks and error classes. Every protocol
// decision is made by the Rust core.

const native = require('./native.js')
const errors = require('./errors.js')

const { fromNative, fromPayloadString, configure } = errors._internal
configure(native)


/** Buffer, Uint8Array, ArrayBuffer and strings are bytes; any other value is sent as JSON. */
function toBuffer(data, what = 'data') {
  if (Buffer.isBuffer(data)) return data
  if (typeof data === 'string') return Buffer.from(data, 'utf8')
  if (data instanceof Uint8Array) return Buffer.from(data.buffer, data.byteOffset, data.byteLength)
  if (data instanceof ArrayBuffer) return Buffer.from(data)
  if (ArrayBuffer.isView(data)) return Buffer.from(data.buffer, data.byteOffset, data.byteLength)
  if (data === undefined || typeof data === 'function' || typeof data === 'symbol') {
    throw new errors.InvalidArgumentError(`invalid ${what}: ${typeof data} cannot be sent`, {
      field: what,
      conformanceCode: 'INVALID_ARGUMENT',
    })
  }
  return jsonBuffer(data, what)
}

/** Like `toBuffer`, but strings (and the JSON text of other values) stay strings: the
 * native side copies them straight into the message (no Buffer per message). */
function toData(data, what = 'data') {
  if (typeof data === 'string') return data
  if (Buffer.isBuffer(data) || data instanceof Uint8Array || data instanceof ArrayBuffer || ArrayBuffer.isView(data)) return toBuffer(data, what)
  if (data === undefined || typeof data === 'function' || typeof data === 'symbol') return toBuffer(data, what)
  return jsonText(data, what)
}

function jsonText(value, what = 'data') {
  let text
  try {
    text = JSON.stringify(value)
  } catch (e) {
    throw new errors.InvalidArgumentError(`invalid ${what}: value cannot be encoded as JSON: ${e.message}`, {
      field: what,
      conformanceCode: 'INVALID_ARGUMENT',
      cause: e,
    })
  }
  if (text === undefined) {
    throw new errors.InvalidArgumentError(`invalid ${what}: value cannot be encoded as JSON`, {
      field: what,
      conformanceCode: 'INVALID_ARGUMENT',
    })
  }
  return text
}

function jsonBuffer(value, what) {
  return Buffer.from(jsonText(value, what), 'utf8')
}

function sync(fn) {
  try {
    return fn()
  } catch (e) {
    throw fromNative(e)
  }
}

/** Await a native Promise, converting its failure. */
async function settle(promise, signal) {
  try {
    return await promise
  } catch (e) {
    throw fromNative(e, signal)
  }
}

/**
 * Run `start(token)` with a native abort token tied to `signal`. The Rust future is
 * dropped when the signal fires; the Promise then rejects with `signal.reason`.
 */
async function withSignal(signal, start) {
  if (!signal) return settle(sync(() => start(undefined)))
  if (signal.aborted) throw signal.reason
  const token = new native.AbortToken()
  const onAbort = () => token.abort()
  signal.addEventListener('abort', onAbort, { once: true })
  try {
    return await settle(sync(() => start(token)), signal)
  } finally {
    signal.removeEventListener('abort', onAbort)
  }
}

function liveOption(live) {
  if (live === undefined || live === false || live === null) return undefined
  if (live === true) return 'auto'
  return String(live)
}

function mapValueFns(fns, what) {
  if (!fns) return undefined
  const out = {}
  for (const [name, fn] of Object.entries(fns)) {
    if (typeof fn !== 'function') {
      throw new errors.InvalidArgumentError(`invalid ${what}: value of ${JSON.stringify(name)} must be a function`, {
        field: what,
        conformanceCode: 'INVALID_ARGUMENT',
      })
    }
    // Always a Promise<string> for the native side; sync and async functions alike.
    out[name] = () =>
      Promise.resolve()
        .then(() => fn())
        .then((v) => (typeof v === 'string' ? v : String(v)))
  }
  return out
}

/** One batch of stream data. */
class Chunk {
  constructor(n) {
    /** The bytes (for JSON streams: a JSON array of this chunk's messages). */
    this.data = n.data
    /** Where to resume after this chunk. */
    this.nextOffset = n.nextOffset
    /** The reader has reached the current tail. */
    this.upToDate = n.upToDate
    /** The stream is closed and this is its last chunk. */
    this.streamClosed = n.streamClosed
    this.cursor = n.cursor ?? undefined
    /** More bytes of the same response follow; checkpoint only when false. */
    this.partial = n.partial
    /** HTTP status of the response (204 for an empty long-poll). */
    this.status = n.status
    /** Whether the stream is a JSON stream (then `json()` gives its messages). */
    this.isJson = n.json
  }

  /** The data as UTF-8 text. */
  text() {
    return this.data.toString('utf8')
  }

  /** The JSON messages of this chunk (JSON streams). */
  json() {
    if (this.data.length === 0) return []
    if (!this.isJson) {
      throw new errors.InvalidArgumentError('invalid contentType: not a JSON stream', {
        field: 'contentType',
        conformanceCode: 'INVALID_ARGUMENT',
      })
    }
    return JSON.parse(this.data.toString('utf8'))
  }
}

/** A read session: `for await (const chunk of session)`. */
class ReadSession {
  constructor(nativeSession, signal, owner) {
    this._n = nativeSession
    this._signal = signal
    this._owner = owner
    this._ended = false
    this._token = undefined
    this._onAbort = undefined
    if (signal) {
      this._token = new native.AbortToken()
      this._onAbort = () => {
        this._token.abort()
      }
      if (signal.aborted) this._token.abort()
      else signal.addEventListener('abort', this._onAbort, { once: true })
    }
    owner?._track(this)
  }

  /** The next chunk; `{done: true}` once the session has ended. */
  async next() {
    if (this._ended) return { done: true, value: undefined }
    if (this._signal?.aborted) {
      this._end()
      throw this._signal.reason
    }
    let n
    try {
      n = await this._n.next(this._token)
    } catch (e) {
      this._end()
      throw fromNative(e, this._signal)
    }
    if (n === null || n === undefined) {
      this._end()
      return { done: true, value: undefined }
    }
    return { done: false, value: new Chunk(n) }
  }

  /** Stop reading (called by `break` in `for await`). */
  async return() {
    this._end()
    return { done: true, value: undefined }
  }

  [Symbol.asyncIterator]() {
    return this
  }

  /** The messages of a JSON stream, one by one. */
  async *json() {
    try {
      for (;;) {
        const r = await this.next()
        if (r.done) return
        const chunk = r.value
        if (chunk.data.length === 0) continue
        for (const item of chunk.json()) yield item
      }
    } finally {
      this._end()
    }
  }

  /** Offset to resume from: after the last complete response delivered. */
  get offset() {
    return this._n.offset
  }

  get cursor() {
    return this._n.cursor ?? undefined
  }

  get done() {
    return this._ended || this._n.done
  }

  /** Dynamic header/parameter values sent on the most recent request. */
  get sent() {
    return this._n.sent
  }

  /** End the session and release its connection. */
  close() {
    this._end()
  }

  _end() {
    if (this._ended) return
    this._ended = true
    if (this._signal && this._onAbort) this._signal.removeEventListener('abort', this._onAbort)
    this._token?.abort()
    this._n.close()
    this._owner?._untrack(this)
  }
}

/** The idempotent, batching producer. */
class Producer {
  constructor(n, owner) {
    this._n = n
    this._owner = owner
    this._queue = null // Promise of the last append that had to wait for buffer space
    this._closed = false
    owner?._track(this)
  }

  /**
   * Enqueue one message. Returns `undefined` when it was enqueued at once, or a Promise
   * that resolves once it is enqueued (the buffer limit was reached). With `{ack: true}`
   * returns a Promise of the acknowledgement (`{nextOffset, duplicate, epoch, seq}`).
   */
  append(data, options) {
    const ack = Boolean(options && options.ack)
    const signal = options?.signal
    let buf
    try {
      buf = toData(data)
    } catch (e) {
      if (ack) return Promise.reject(e)
      throw e
    }
    if (this._queue === null) {
      // `null` from the native side: the buffer limit is reached (no exception on this
      // path, which a producer at its limit takes once per freed batch).
      if (ack) {
        let handle
        try {
          handle = this._n.tryAppendAck(buf)
        } catch (e) {
          // The caller holds a Promise: reject it.
          return Promise.reject(fromNative(e))
        }
        if (handle !== null) return withSignal(signal, (t) => handle.wait(t))
      } else if (sync(() => this._n.tryAppend(buf))) {
        return undefined
      }
    }
    // Buffer full: wait for space, keeping the order of the calls. The queue is cleared as
    // soon as the last waiting append is admitted, before its caller resumes, so that a
    // caller awaiting each append goes back to the synchronous path right away.
    const previous = this._queue ?? Promise.resolve()
    let tail
    const admitted = previous
      .catch(() => {})
      .then(() => (ack ? settle(this._n.appendAck(buf)) : settle(this._n.append(buf))))
      .finally(() => {
        if (this._queue === tail) this._queue = null
      })
    tail = admitted.then(
      () => {},
      () => {},
    )
    this._queue = tail
    if (ack) return admitted.then((handle) => withSignal(signal, (t) => handle.wait(t)))
    return admitted
  }

  /** Wait until everything appended so far is stored. */
  async flush(options) {
    if (this._queue) await this._queue
    return withSignal(options?.signal, (t) => this._n.flush(t))
  }

  /** Flush, then close the stream (atomically appending `finalMessage` if given). */
  async close(finalMessage) {
    if (this._queue) await this._queue
    const buf = finalMessage === undefined ? undefined : toData(finalMessage, 'finalMessage')
    try {
      return await settle(this._n.close(buf))
    } finally {
      this._closed = true
      this._owner?._untrack(this)
    }
  }

  /** Flush, then stop without closing the stream. */
  async detach() {
    if (this._queue) await this._queue
    try {
      await settle(this._n.detach())
    } finally {
      this._closed = true
      this._owner?._untrack(this)
    }
  }

  /** The epoch in use (changes after an auto-claim). */
  get epoch() {
    return this._n.epoch
  }

  /** The sequence number the next batch will get. */
  get nextSeq() {
    return this._n.nextSeq
  }

  async _shutdown() {
    if (!this._closed) await this.detach().catch(() => {})
  }
}

function consumerEvent(n) {
  switch (n.kind) {
    case 'batch':
      return { type: 'batch', batch: new Chunk(n.batch) }
    case 'upToDate':
      return { type: 'upToDate', offset: n.offset }
    case 'closed':
      return { type: 'closed', finalOffset: n.offset }
    default:
      return { type: 'reconnecting', error: fromPayloadString(n.error), retryInMs: n.retryInMs }
  }
}

/** A pull consumer: `for await (const event of consumer)`. */
class Consumer {
  constructor(n, signal, owner) {
    this._n = n
    this._signal = signal
    this._owner = owner
    this._ended = false
    this._token = signal ? new native.AbortToken() : undefined
    this._onAbort = () => this._token.abort()
    if (signal) {
      if (signal.aborted) this._token.abort()
      else signal.addEventListener('abort', this._onAbort, { once: true })
    }
    owner?._track(this)
  }

  async next() {
    if (this._ended) return { done: true, value: undefined }
    if (this._signal?.aborted) {
      this._end()
      throw this._signal.reason
    }
    let n
    try {
      n = await this._n.next(this._token)
    } catch (e) {
      this._end()
      throw fromNative(e, this._signal)
    }
    if (n === null || n === undefined) {
      this._end()
      return { done: true, value: undefined }
    }
    return { done: false, value: consumerEvent(n) }
  }

  async return() {
    this._end()
    return { done: true, value: undefined }
  }

  [Symbol.asyncIterator]() {
    return this
  }

  /** The offset after the last batch handed out; persist it to resume later. */
  get checkpoint() {
    return this._n.checkpoint
  }

  close() {
    this._end()
  }

  _end() {
    if (this._ended) return
    this._ended = true
    if (this._signal) this._signal.removeEventListener('abort', this._onAbort)
    this._token?.abort()
    this._n.close()
    this._owner?._untrack(this)
  }

  async _shutdown() {
    this._end()
  }
}

/** Controls a consumer started with `stream.subscribe`. */
class ConsumerHandle {
  constructor(n, signal, owner) {
    this._n = n
    this._owner = owner
    /** Resolves with `{reason, offset}` when the consumer ends; rejects on failure. */
    this.done = settle(n.done())
    this.done.catch(() => {}) // the caller may never look; no unhandled rejection
    this.done.finally(() => owner?._untrack(this)).catch(() => {})
    if (signal) {
      const onAbort = () => {
        this.stop().catch(() => {})
      }
      if (signal.aborted) onAbort()
      else {
        signal.addEventListener('abort', onAbort, { once: true })
        this.done.finally(() => signal.removeEventListener('abort', onAbort)).catch(() => {})
      }
    }
    owner?._track(this)
  }

  /** Stop fetching after the batch in hand. */
  pause() {
    this._n.pause()
  }

  resume() {
    this._n.resume()
  }

  /** Stop and resolve with how the consumer ended. */
  stop() {
    return settle(this._n.stop())
  }

  /** The offset after the last batch the handler accepted. */
  get checkpoint() {
    return this._n.checkpoint
  }

  async _shutdown() {
    await this.stop().catch(() => {})
  }
}

function handlerFns(h) {
  if (!h || typeof h.onBatch !== 'function') {
    throw new errors.InvalidArgumentError('invalid onBatch: a function is required', {
      field: 'onBatch',
      conformanceCode: 'INVALID_ARGUMENT',
    })
  }
  const wrap = (f, map) => (typeof f === 'function' ? (arg) => Promise.resolve().then(() => map(f, arg)) : undefined)
  return {
    onBatch: (n) =>
      Promise.resolve()
        .then(() => h.onBatch(new Chunk(n)))
        .then((r) => r !== false),
    onError: wrap(h.onError, async (f, payload) => {
      const r = await f(fromPayloadString(payload))
      return typeof r === 'boolean' ? r : null
    }),
    onUpToDate: wrap(h.onUpToDate, async (f, offset) => {
      await f(offset)
    }),
    onClosed: wrap(h.onClosed, async (f, offset) => {
      await f(offset)
    }),
  }
}

function consumerOptions(o = {}) {
  return {
    offset: o.offset,
    live: o.live === undefined ? undefined : (liveOption(o.live) ?? 'false'),
    backoffBaseMs: o.backoffBaseMs,
    backoffMaxMs: o.backoffMaxMs,
    headers: o.headers,
    maxChunkBytes: o.maxChunkBytes,
  }
}

/** A handle on one stream. No I/O happens until an operation is called. */
class Stream {
  constructor(n, client, path) {
    this._n = n
    this._client = client
    /** The path given to `client.stream()`. */
    this.path = path
  }

  /** The stream's full URL. */
  get url() {
    return this._n.url
  }

  /** The content type learnt from create/head/reads, if any. */
  get contentType() {
    return this._n.contentType ?? undefined
  }

  /** Create the stream, or confirm that an identical one exists. */
  async create(options = {}) {
    const body = options.body ?? options.data
    const opts = {
      contentType: options.contentType,
      ttlSeconds: options.ttlSeconds,
      expiresAt: options.expiresAt,
      closed: options.closed,
      body: body === undefined ? undefined : toBuffer(body, 'body'),
      forkedFrom: options.forkedFrom,
      forkOffset: options.forkOffset,
      forkSubOffset: options.forkSubOffset,
      headers: options.headers,
    }
    return withSignal(options.signal, (t) => this._n.create(opts, t))
  }

  /**
   * Append one message. Bytes (Buffer, Uint8Array) and strings are sent as they are (on a
   * JSON stream: the text of one JSON value); other values are sent as JSON.
   */
  append(data, options = {}) {
    let buf
    try {
      buf = toBuffer(data)
    } catch (e) {
      return Promise.reject(e)
    }
    return withSignal(options.signal, (t) => this._n.append(buf, appendOptions(options), t))
  }

  /** Append one JSON value (strings included: `appendJson("x")` stores the JSON string "x"). */
  appendJson(value, options = {}) {
    let text
    try {
      text = jsonText(value)
    } catch (e) {
      return Promise.reject(e)
    }
    return withSignal(options.signal, (t) => this._n.appendJson([text], appendOptions(options), t))
  }

  /** Append several JSON values in one request; each is stored as its own message. */
  appendJsonBatch(values, options = {}) {
    let texts
    try {
      texts = Array.from(values, (v) => jsonText(v))
    } catch (e) {
      return Promise.reject(e)
    }
    return withSignal(options.signal, (t) => this._n.appendJson(texts, appendOptions(options), t))
  }

  /** Close the stream, optionally appending a final message atomically. */
  async close(options = {}) {
    const opts = {
      data: options.data === undefined ? undefined : toBuffer(options.data),
      contentType: options.contentType,
      headers: options.headers,
    }
    return withSignal(options.signal, (t) => this._n.close(opts, t))
  }

  delete(options = {}) {
    return withSignal(options.signal, (t) => this._n.delete(options.headers, t))
  }

  /** Metadata: content type, tail offset, closure, TTL / expiry. */
  async head(options = {}) {
    const m = await withSignal(options.signal, (t) => this._n.head(options.headers, t))
    return {
      contentType: m.contentType ?? undefined,
      nextOffset: m.nextOffset,
      closed: m.closed,
      ttlSeconds: m.ttlSeconds ?? undefined,
      expiresAt: m.expiresAt ?? undefined,
      etag: m.etag ?? undefined,
    }
  }

  /**
   * Read from `offset` (default: the beginning). `live`: `false` (catch up, then end),
   * `true`/`'auto'`, `'long-poll'` or `'sse'`.
   */
  read(options = {}) {
    const n = sync(() =>
      this._n.read({
        offset: options.offset,
        live: liveOption(options.live),
        cursor: options.cursor,
        headers: options.headers,
        maxChunkBytes: options.maxChunkBytes,
      }),
    )
    return new ReadSession(n, options.signal, this._client)
  }

  /** The messages of a JSON stream, one by one. */
  readJson(options = {}) {
    return this.read(options).json()
  }

  /** Everything from `offset` to the current tail, in one Buffer. */
  readAll(options = {}) {
    return withSignal(options.signal, (t) => this._n.readAll(options.offset, t))
  }

  /** All messages of a JSON stream from `offset` to the current tail. */
  async readAllJson(options = {}) {
    const buf = await this.readAll(options)
    return buf.length === 0 ? [] : JSON.parse(buf.toString('utf8'))
  }

  /** Start an idempotent producer on this stream. */
  async producer(options) {
    if (!options || typeof options.producerId !== 'string') {
      throw new errors.InvalidArgumentError('invalid producerId: a string is required', {
        field: 'producerId',
        conformanceCode: 'INVALID_ARGUMENT',
      })
    }
    const { onError, ...rest } = options
    const cb =
      typeof onError === 'function'
        ? (ev) => {
            try {
              onError(fromPayloadString(ev.error), ev.messages)
            } catch (e) {
              process.nextTick(() => {
                throw e
              })
            }
          }
        : undefined
    const opts = {
      producerId: rest.producerId,
      epoch: rest.epoch,
      autoClaim: rest.autoClaim,
      maxBatchItems: rest.maxBatchItems,
      maxBatchBytes: rest.maxBatchBytes,
      lingerMs: rest.lingerMs,
      maxInFlight: rest.maxInFlight,
      bufferLimitBytes: rest.bufferLimitBytes,
      deliveryTimeoutMs: rest.deliveryTimeoutMs,
      contentType: rest.contentType,
      headers: rest.headers,
    }
    const n = await settle(sync(() => this._n.producer(opts, cb)))
    return new Producer(n, this._client)
  }

  /** A pull consumer: `for await (const event of stream.consume())`. */
  consume(options = {}) {
    const n = sync(() => this._n.consumer(consumerOptions(options)))
    return new Consumer(n, options.signal, this._client)
  }

  /** A pushed consumer driving `handlers` until the stream closes or `stop()`. */
  subscribe(handlers, options = {}) {
    const fns = handlerFns(handlers)
    const n = sync(() => this._n.subscribe(fns, consumerOptions(options)))
    return new ConsumerHandle(n, options.signal, this._client)
  }
}

function appendOptions(o) {
  return {
    contentType: o.contentType,
    seq: o.seq === undefined ? undefined : String(o.seq),
    producerId: o.producerId,
    producerEpoch: o.producerEpoch,
    producerSeq: o.producerSeq,
    close: o.close,
    headers: o.headers,
  }
}

/** Entry point: base URL, connection pool, headers, retries. */
class Client {
  constructor(baseUrl, options = {}) {
    const opts = {
      headers: options.headers,
      dynamicHeaders: mapValueFns(options.dynamicHeaders, 'dynamicHeaders'),
      dynamicParams: mapValueFns(options.dynamicParams, 'dynamicParams'),
      retry: options.retry,
      requestTimeoutMs: options.requestTimeoutMs,
      connectTimeoutMs: options.connectTimeoutMs,
      liveIdleTimeoutMs: options.liveIdleTimeoutMs,
      poolIdleTimeoutMs: options.poolIdleTimeoutMs,
      compression: options.compression,
    }
    this._n = sync(() => new native.NativeClient(String(baseUrl), opts))
    this._open = new Set()
    this._closed = false
  }

  get baseUrl() {
    return this._n.baseUrl
  }

  /** A handle on the stream at `path` below the base URL. */
  stream(path, options = {}) {
    if (this._closed) throw new errors.ClosedError('client is closed', { conformanceCode: 'INTERNAL_ERROR' })
    return new Stream(sync(() => this._n.stream(String(path), options.contentType)), this, path)
  }

  /**
   * Stop everything started through this client: reads and pull consumers end, pushed
   * consumers stop, producers flush and detach. Later `stream()` calls throw.
   */
  async close() {
    this._closed = true
    const open = [...this._open]
    this._open.clear()
    await Promise.all(open.map((r) => (r._shutdown ? r._shutdown() : r.close())))
  }

  _track(r) {
    this._open.add(r)
  }

  _untrack(r) {
    this._open.delete(r)
  }
}

module.exports = {
  Client,
  Stream,
  ReadSession,
  Chunk,
  Producer,
  Consumer,
  ConsumerHandle,
  ...Object.fromEntries(Object.entries(errors).filter(([k]) => k !== '_internal')),
  version: native.nativeVersion(),
}
