'use strict'
// durable-streams-sdk for Node.js: the public API over the native module.
//
// This layer only adapts: data conversion (Buffer / Uint8Array / string / JSON values),
// Promises, async iterators, AbortSignal, callbacks and error classes. Every protocol
// and lifecycle decision (ordering, read-ahead, cancellation, outcomes) is the core's.

const native = require('./native.js')
const errors = require('./errors.js')

const { fromNative, errorFromPayload, local } = errors._internal
const DONE = Object.freeze({ done: true, value: undefined })
const asyncDispose = Symbol.asyncDispose ?? Symbol.for('nodejs.asyncDispose')

const invalid = (field, why, cause) => local('InvalidArgument', `invalid ${field}: ${why}`, { field, cause })

/** Buffer, Uint8Array, ArrayBuffer and strings are bytes; any other value is sent as JSON.
 * Strings (and the JSON text of other values) stay strings: the native side copies them
 * straight into the message (no Buffer per message). */
function toData(data, what = 'data') {
  if (typeof data === 'string' || Buffer.isBuffer(data)) return data
  if (ArrayBuffer.isView(data)) return Buffer.from(data.buffer, data.byteOffset, data.byteLength)
  if (data instanceof ArrayBuffer) return Buffer.from(data)
  if (data === undefined || typeof data === 'function' || typeof data === 'symbol') {
    throw invalid(what, `${typeof data} cannot be sent`)
  }
  return jsonText(data, what)
}

function jsonText(value, what = 'data') {
  let text
  try {
    text = JSON.stringify(value)
  } catch (e) {
    throw invalid(what, `value cannot be encoded as JSON: ${e.message}`)
  }
  if (text === undefined) throw invalid(what, 'value cannot be encoded as JSON')
  return text
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

/** Run `start(token)` with a native abort token tied to `signal` (the core future is
 * dropped when the signal fires; the Promise then rejects with `signal.reason`). */
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

/** Tie a pull handle's `cancel()` to `signal`; returns the detach function. */
function onAbort(signal, cancel) {
  if (!signal) return () => {}
  if (signal.aborted) cancel()
  signal.addEventListener('abort', cancel, { once: true })
  return () => signal.removeEventListener('abort', cancel)
}

const liveOption = (live) => (live === undefined || live === null || live === false ? 'off' : live === true ? 'auto' : String(live))

function mapValueFns(fns, what) {
  if (!fns) return undefined
  const out = {}
  for (const [name, fn] of Object.entries(fns)) {
    if (typeof fn !== 'function') throw invalid(what, `value of ${JSON.stringify(name)} must be a function`)
    // Always a Promise<string> for the native side; sync and async functions alike.
    out[name] = promised(async () => {
      const v = await fn()
      return typeof v === 'string' ? v : String(v)
    })
  }
  return out
}

/** `f` as the native side calls a callback: always a Promise, rejected with what
 * `thrownAsError` makes of a throw. */
const promised = (f) => (arg) => Promise.resolve().then(() => f(arg)).catch((e) => { throw thrownAsError(e) })

/**
 * What a callback (value function, consumer handler) threw, as an Error whose message says
 * what it was: the native side keeps only an Error's message, so `throw 42` used to end as
 * "callback failed: ...: " with nothing after. Only the thrown value is described, never a
 * header value (a function that threw returned none).
 */
function thrownAsError(e) {
  if (e instanceof Error) return e.message ? e : new Error(`threw ${e.name || 'an Error'} without a message`)
  if (e === undefined) return new Error('threw undefined')
  let shown
  if (typeof e === 'string') shown = JSON.stringify(e)
  else if (e !== null && typeof e === 'object') {
    try { shown = JSON.stringify(e) } catch { shown = undefined }
    shown ??= Object.prototype.toString.call(e)
  } else shown = String(e)
  if (shown.length > 200) shown = `${shown.slice(0, 200)}…`
  return new Error(`threw ${e === null ? 'null' : typeof e} ${shown}`)
}

/** A JSON array's bytes as its elements (no bytes: none). */
const jsonArray = (buf) => (buf.length === 0 ? [] : JSON.parse(buf.toString('utf8')))

/** One batch of stream data: the native chunk's fields (declared in index.d.ts) and two
 * views of its bytes. */
class Chunk {
  constructor(n) {
    Object.assign(this, n)
  }

  /** The data as UTF-8 text. */
  text() {
    return this.data.toString('utf8')
  }

  /** The JSON messages of this chunk (JSON streams): one JSON.parse of the whole array. */
  json() {
    if (this.data.length !== 0 && !this.isJson) throw invalid('contentType', 'not a JSON stream')
    return jsonArray(this.data)
  }
}

/** `methods` (getters included) added to `cls`'s prototype: the native classes below
 * are the public ones, these add what is JavaScript's own (iterators, Promises). */
const extend = (cls, ...methods) => {
  for (const m of methods) Object.defineProperties(cls.prototype, Object.getOwnPropertyDescriptors(m))
  return cls
}

/** `_end()`: true the first time only. (Closing the client ends reads and consumers in
 * the core; only a producer's held messages are the client's to hand over first.) */
const ending = {
  _end() {
    if (this._ended) return false
    this._ended = true
    return true
  },
}

/** A native pull handle (read session or consumer) as an async iterator: each `next()` is
 * one native `take()`; concurrent calls are served by the core in call order. */
function pulled(n, signal) {
  n._ended = false
  n._signal = signal
  n._waiting = 0
  n._detach = onAbort(signal, () => n.cancel())
  return n
}
const pull = {
  async next() {
    if (this._ended) return DONE
    let v
    try {
      v = await this._take()
    } catch (e) {
      this.close()
      throw fromNative(e, this._signal)
    }
    if (v === null || v === true) {
      this.close()
      if (this._signal?.aborted) throw this._signal.reason
      return DONE
    }
    return { done: false, value: this._wrap(v) }
  },

  _take() {
    return this.take()
  },

  [Symbol.asyncIterator]() {
    return this
  },

  /** Stop (called by `break` in `for await`). */
  async return() {
    this.close()
    return DONE
  },

  close() {
    if (!this._end()) return
    this._detach()
    this.cancel()
  },
}

/** A read session: `for await (const chunk of session)`; offset, cursor, upToDate,
 * sentHeaders and sentParams are the native getters. */
const ReadSession = extend(native.ReadSession, ending, pull, {
  /** A chunk read ahead is taken without a Promise from the native side, unless an
   * earlier caller is still waiting (it is served first). */
  async _take() {
    if (this._waiting === 0) {
      const v = this.tryNext()
      if (v !== false) return v
    }
    this._waiting++
    try {
      return await this.take()
    } finally {
      this._waiting--
    }
  },

  _wrap(n) {
    return new Chunk(n)
  },

  /** The messages of a JSON stream, one by one (each chunk parsed once). */
  async *json() {
    try {
      for (;;) {
        const r = await this.next()
        if (r.done) return
        for (const item of r.value.json()) yield item
      }
    } finally {
      this.close()
    }
  },

  get done() {
    return this._ended || this.streamClosed
  },
})

/** A pull consumer: `for await (const event of consumer)`; checkpoint and stats() are native. */
const Consumer = extend(native.Consumer, ending, pull, {
  /** The native event has the public shape; its batch and error get their classes. */
  _wrap(n) {
    if (n.batch) n.batch = new Chunk(n.batch)
    else if (n.error) n.error = errorFromPayload(JSON.parse(n.error))
    return n
  },
})

const toVoid = (p) => p.then(() => undefined)

/** The idempotent, batching producer. */
//
// Plain appends of one synchronous run (a loop with no `await`) are handed to the core
// together, one native `appendMany` per BURST_ITEMS messages (and the rest in a microtask
// at the end of the run), instead of one native call per message: the crossing, not the
// message, was most of an append's CPU. What stays exact:
// - order: every other operation (acked appends, appendMany, flush, close, detach,
//   stats) hands the held messages over first;
// - back-pressure: a message is held only while it surely fits the buffer room the core
//   reported (room only grows until the next enqueue, and a held message is charged at
//   least its cost); any other goes straight to the core, which answers with a Promise
//   exactly as before. So does every append while one waits, and the first of each run,
//   which is how a stopped producer or invalid data is still seen by that very call;
// - loss: what the core refuses of a hand-over (invalid JSON text, a producer that
//   stopped meanwhile) goes to `onError` with the messages, and the next flush, close or
//   detach rejects with it.
const BURST_ITEMS = 256
// Strings are charged 3 bytes per UTF-16 unit: never less than their UTF-8 size.
const heldCost = (d) => (typeof d === 'string' ? 3 * d.length : d.length) + native.MESSAGE_OVERHEAD_BYTES

class Producer {
  constructor(n, client, report) {
    this._n = n
    this._client = client
    client._producers.add(this)
    /** `(error, messages)` to the user's onError, if any. */
    this._report = report
    /** Messages of this run not handed to the core yet, in call order, and their cost. */
    this._held = []
    this._heldCost = 0
    /** The held strings' lengths; whether some held message is bytes (then no join). */
    this._lens = new Uint32Array(BURST_ITEMS)
    this._heldBytes = false
    /** Buffer room the core reported last (a lower bound of the room now). */
    this._room = 0
    /** A run is open: its first append went to the core, and a microtask ends it. */
    this._open = false
    /** A Promise of buffer room is pending: appends go straight to the core until it settles. */
    this._waiting = null
    /** The first loss of a hand-over, for the next flush/close/detach. */
    this._lost = null
    this._endRun = () => {
      this._open = false
      this._handOver()
    }
  }

  /**
   * Enqueue one message; its place in the stream is fixed by this call. Returns
   * `undefined` when it was buffered at once, or a Promise that resolves once it is
   * (the buffer limit was reached). With `{ack: true}` returns a Promise of the
   * acknowledgement (`{nextOffset, duplicate, epoch, seq}`).
   */
  append(data, options) {
    if (options?.ack === true) return this._acked(() => toData(data), (d, t) => this._n.append(d, true, t), options)
    let d = toData(data)
    if (this._open && this._waiting === null) {
      const cost = heldCost(d)
      if (this._heldCost + cost <= this._room) {
        if (typeof d === 'string') this._lens[this._held.length] = d.length
        else this._heldBytes = true
        // A held message must not change if the caller reuses its buffer.
        this._held.push(typeof d === 'string' ? d : Buffer.from(d))
        this._heldCost += cost
        if (this._held.length >= BURST_ITEMS) this._handOver()
        return undefined
      }
      this._handOver() // what is held fits; this one is the core's to judge
    }
    const r = sync(() => this._n.append(d, false))
    if (!this._open) {
      this._open = true
      queueMicrotask(this._endRun)
    }
    return this._settled(r, null)
  }

  /** Enqueue many messages in one call, in order (as `append` one by one would); with
   * `{ack: true}` the Promise resolves once all of them are stored. */
  appendMany(values, options) {
    const convert = () => Array.from(values, (v) => toData(v))
    if (options?.ack === true) return this._acked(convert, (d, t) => this._n.appendMany(d, true, t), options)
    const d = convert()
    this._handOver()
    return this._settled(sync(() => this._n.appendMany(d, false)), null)
  }

  _acked(convert, enqueue, options) {
    try {
      const d = convert()
      this._handOver()
      this._room = 0 // an acked enqueue answers with a Promise, not the room it left
      return withSignal(options.signal, (t) => enqueue(d, t))
    } catch (e) {
      return Promise.reject(fromNative(e))
    }
  }

  /** Hand the held messages to the core in one call. */
  _handOver() {
    const msgs = this._held
    if (msgs.length === 0) return
    const joinable = !this._heldBytes
    this._held = []
    this._heldCost = 0
    this._heldBytes = false
    let r
    try {
      // Strings only (the common case): one string for all of them, split by the core side.
      r = joinable ? this._n.appendJoined(msgs.join(''), this._lens.subarray(0, msgs.length)) : this._n.appendMany(msgs, false)
    } catch (e) {
      this._refused(fromNative(e), msgs)
      return
    }
    this._settled(r, msgs)
  }

  /** The core refused a whole hand-over. One invalid message refuses the call: then hand
   * the messages over one by one, so only the invalid ones are lost. Otherwise the
   * producer refuses everything: the run ends, so the next append sees the error itself. */
  _refused(err, msgs) {
    if (!(err instanceof errors.InvalidArgumentError)) {
      this._open = false
      this._lose(err, msgs)
      return
    }
    for (const m of msgs) {
      let r
      try {
        r = this._n.append(m, false)
      } catch (e) {
        this._lose(fromNative(e), [m])
        continue
      }
      this._settled(r, [m])
    }
  }

  /** A native enqueue's result: the room left (buffered at once), or a Promise of buffer
   * room. `held`: the held messages it carried; no caller watches that Promise, so its
   * failure is reported as their loss. */
  _settled(r, held) {
    if (typeof r === 'number') {
      this._room = r
      return undefined
    }
    this._room = 0
    const w = toVoid(settle(r))
    this._waiting = w
    const done = () => {
      if (this._waiting === w) this._waiting = null
    }
    w.then(done, (e) => {
      done()
      if (held) this._lose(e, held)
    })
    return w
  }

  _lose(err, msgs) {
    this._lost ??= err
    const report = this._report
    if (report) {
      const bufs = msgs.map((m) => (typeof m === 'string' ? Buffer.from(m, 'utf8') : m))
      queueMicrotask(() => report(err, bufs)) // never from inside the append that handed over
    }
  }

  /** Throw the first loss of a deferred hand-over since the last call, if any. */
  _checkLost() {
    const lost = this._lost
    if (lost === null) return
    this._lost = null
    throw lost
  }

  /** Wait until everything appended so far is stored. */
  async flush(options) {
    this._handOver()
    try {
      await withSignal(options?.signal, (t) => this._n.flush(t))
    } finally {
      this._checkLost() // messages lost on the way in come first
    }
  }

  /** Flush, then close the stream (atomically appending `finalMessage` if given). */
  async close(finalMessage) {
    const d = finalMessage === undefined ? undefined : toData(finalMessage, 'finalMessage')
    this._handOver()
    try {
      return await settle(this._n.close(d))
    } finally {
      this._end()
      this._checkLost()
    }
  }

  /** Flush, then stop without closing the stream. */
  async detach() {
    this._handOver()
    try {
      await settle(this._n.detach())
    } finally {
      this._end()
      this._checkLost()
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

  /** Messages/bytes enqueued, sent and acknowledged, batches, requests, retries, in flight,
   * buffered bytes, last error. */
  stats() {
    this._handOver()
    return this._n.stats()
  }

  _end() {
    this._client._producers.delete(this)
  }
}

/** Controls a consumer started with `stream.subscribe`: pause(), resume(), checkpoint and
 * stats() are native; `done` resolves with `{reason, offset}` when it ends, rejects on failure. */
function subscribed(n, signal) {
  n.done = settle(n.wait())
  const detach = onAbort(signal, () => n.requestStop())
  n.done.catch(() => {}).finally(() => {
    detach()
  })
  return n
}
const ConsumerHandle = extend(native.ConsumerHandle, {
  /** Stop and resolve with how the consumer ended. */
  stop() {
    this.requestStop()
    return this.done
  },
})

function handlerFns(h) {
  if (!h || typeof h.onBatch !== 'function') throw invalid('onBatch', 'a function is required')
  // Each handler as a method call on `h`.
  const wrap = (name, call) => (typeof h[name] === 'function' ? promised((arg) => call(h[name].bind(h), arg)) : undefined)
  const notify = (name) => wrap(name, async (f, offset) => { await f(offset) })
  return {
    onBatch: wrap('onBatch', async (f, n) => (await f(new Chunk(n))) !== false),
    onError: wrap('onError', async (f, payload) => {
      const r = await f(errorFromPayload(JSON.parse(payload)))
      return typeof r === 'boolean' ? r : null
    }),
    onUpToDate: notify('onUpToDate'),
    onClosed: notify('onClosed'),
  }
}

// Option objects go to the native side as they are (it reads the fields it knows);
// only values JavaScript spells differently are converted here.
const consumerOptions = (o = {}) => ({ ...o, live: o.live === undefined ? undefined : liveOption(o.live) })
const appendOptions = (o) => ({ ...o, seq: o.seq === undefined ? undefined : String(o.seq) })

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

  _call(options, start) {
    try {
      const n = this._n
      return withSignal(options.signal, (t) => start(n, t))
    } catch (e) {
      return Promise.reject(e)
    }
  }

  /** Create the stream, or confirm that an identical one exists. */
  create(options = {}) {
    return this._call(options, (n, t) => {
      const body = options.body ?? options.data
      return n.create({ ...options, body: body === undefined ? undefined : toData(body, 'body') }, t)
    })
  }

  /**
   * Append one message. Bytes (Buffer, Uint8Array) and strings are sent as they are (on a
   * JSON stream: the text of one JSON value); other values are sent as JSON.
   */
  append(data, options = {}) {
    return this._call(options, (n, t) => n.append(toData(data), appendOptions(options), t))
  }

  /** Append one JSON value (strings included: `appendJson("x")` stores the JSON string "x"). */
  appendJson(value, options = {}) {
    return this.appendJsonBatch([value], options)
  }

  /** Append several JSON values in one request; each is stored as its own message. */
  appendJsonBatch(values, options = {}) {
    return this._call(options, (n, t) => n.appendJson(Array.from(values, (v) => jsonText(v)), appendOptions(options), t))
  }

  /** Close the stream, optionally appending a final message atomically. */
  close(options = {}) {
    return this._call(options, (n, t) => {
      const data = options.data === undefined ? undefined : toData(options.data)
      return n.close({ data, contentType: options.contentType, headers: options.headers }, t)
    })
  }

  delete(options = {}) {
    return this._call(options, (n, t) => n.delete(options.headers, t))
  }

  /** Metadata: content type, tail offset, closure, TTL / expiry. */
  head(options = {}) {
    return this._call(options, (n, t) => n.head(options.headers, t))
  }

  /**
   * Read from `offset` (default: the beginning). `live`: `false` (catch up, then end),
   * `true`/`'auto'`, `'long-poll'` or `'sse'`.
   */
  read(options = {}) {
    const n = sync(() => this._n.read({ ...options, live: liveOption(options.live) }))
    return pulled(n, options.signal)
  }

  /** The messages of a JSON stream, one by one. */
  readJson(options = {}) {
    return this.read(options).json()
  }

  /** Everything from `offset` to the current tail, in one Buffer. */
  readAll(options = {}) {
    return this._call(options, (n, t) => n.readAll(options.offset, t))
  }

  /** All messages of a JSON stream from `offset` to the current tail. */
  async readAllJson(options = {}) {
    return jsonArray(await this.readAll(options))
  }

  /** Start an idempotent producer on this stream (no I/O until its first batch). */
  async producer(options) {
    if (!options || typeof options.producerId !== 'string') throw invalid('producerId', 'a string is required')
    const { onError, ...opts } = options
    const report =
      typeof onError === 'function'
        ? (err, messages) => {
            try {
              onError(err, messages)
            } catch (e) {
              process.nextTick(() => {
                throw e
              })
            }
          }
        : undefined
    const cb = report && ((ev) => report(errorFromPayload(JSON.parse(ev.error)), ev.messages))
    return new Producer(sync(() => this._n.producer(opts, cb)), this._client, report)
  }

  /** A pull consumer: `for await (const event of stream.consume())`. */
  consume(options = {}) {
    const n = sync(() => this._n.consumer(consumerOptions(options)))
    return pulled(n, options.signal)
  }

  /** A pushed consumer driving `handlers` until the stream closes or `stop()`. */
  subscribe(handlers, options = {}) {
    const fns = handlerFns(handlers)
    const n = sync(() => this._n.subscribe(fns, consumerOptions(options)))
    return subscribed(n, options.signal)
  }
}

/** Entry point: base URL, connection pool, headers, retries. */
class Client {
  constructor(baseUrl, options = {}) {
    const opts = {
      ...options,
      dynamicHeaders: mapValueFns(options.dynamicHeaders, 'dynamicHeaders'),
      dynamicParams: mapValueFns(options.dynamicParams, 'dynamicParams'),
    }
    this._n = sync(() => new native.NativeClient(String(baseUrl), opts))
    /** Producers not closed or detached: their held messages go to the core before it closes. */
    this._producers = new Set()
  }

  get baseUrl() {
    return this._n.baseUrl
  }

  /** Whether `close()` was called. */
  get closed() {
    return this._n.isClosed
  }

  /** A handle on the stream at `path` below the base URL. */
  stream(path, options = {}) {
    return new Stream(sync(() => this._n.stream(String(path), options.contentType)), this, path)
  }

  /**
   * Close the client: reads and pull consumers end, pushed consumers stop, producers
   * flush and detach. Every later call through it fails with `ClosedError`. Closing
   * again does nothing. `await using client = new Client(...)` closes it the same way.
   */
  close() {
    for (const p of this._producers) p._handOver()
    return settle(this._n.close())
  }

  [asyncDispose]() {
    return this.close()
  }
}

/** Version of the native module. */
const version = native.VERSION

// Written as a literal of names so that Node's ESM loader sees them (lib/index.mjs
// re-exports them); the error classes, made at load time, are spread in last.
module.exports = {
  Client,
  Stream,
  ReadSession,
  Chunk,
  Producer,
  Consumer,
  ConsumerHandle,
  version,
  ...Object.fromEntries(Object.entries(errors).filter(([k]) => k !== '_internal')),
}
