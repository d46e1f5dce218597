/// <reference types="node" />
// Types of durable-streams-sdk (hand-written; the native module's generated types are
// internal).

/** Anything accepted as message data: bytes and strings as they are, other values as JSON. */
export type Data = Buffer | Uint8Array | ArrayBuffer | string | JsonValue
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue } | object

/** A header or query-parameter value computed for every request (retries included). */
export type ValueFunction = () => string | Promise<string>

/** `false`: catch up, then end. `true`/`'auto'`: SSE for text/JSON, long-poll for bytes. */
export type LiveMode = false | true | 'auto' | 'long-poll' | 'sse'

export interface RetryOptions {
  /** Retries after the first attempt; 0 disables retrying (default 5). */
  maxRetries?: number
  /** Backoff before the first retry (default 100). */
  initialDelayMs?: number
  /** Upper bound of one backoff (default 10000). */
  maxDelayMs?: number
  /** Growth factor per retry, >= 1 (default 2). */
  multiplier?: number
  /**
   * What a plain append may do on an ambiguous failure: `'when-unprocessed'` (default,
   * never duplicates) or `'at-least-once'` (also retries 5xx and broken connections).
   */
  appendRetry?: 'when-unprocessed' | 'at-least-once'
}

export interface ClientOptions {
  /** Headers sent on every request. */
  headers?: Record<string, string>
  /** Headers computed on every request, e.g. `{ authorization: async () => 'Bearer ' + await token() }`. */
  dynamicHeaders?: Record<string, ValueFunction>
  /** Query parameters computed on every request. */
  dynamicParams?: Record<string, ValueFunction>
  retry?: RetryOptions
  /** Deadline of one non-read request (default 30000). */
  requestTimeoutMs?: number
  /** Longest wait for a connection (default 5000); a connection that times out is not retried. */
  connectTimeoutMs?: number
  /** How long a read may receive nothing before it reconnects (default 90000). */
  liveIdleTimeoutMs?: number
  poolIdleTimeoutMs?: number
  /** Ask for compressed responses (default true). */
  compression?: boolean
}

export interface SignalOption {
  /** Aborting rejects with `signal.reason` and cancels the request in flight. */
  signal?: AbortSignal
}

export interface HeadersOption {
  /** Extra headers for this request. */
  headers?: Record<string, string>
}

export interface CreateOptions extends SignalOption, HeadersOption {
  contentType?: string
  ttlSeconds?: number
  /** RFC 3339. */
  expiresAt?: string
  /** Create the stream already closed (`body` is then its whole content). */
  closed?: boolean
  /** Initial content. */
  body?: Data
  /** Create as a fork of the stream at this path (same server). */
  forkedFrom?: string
  forkOffset?: string
  forkSubOffset?: number
}

export interface CreateResult {
  /** `true` for 201 Created, `false` when an identical stream already existed. */
  created: boolean
  status: number
  nextOffset?: string
  contentType?: string
  closed: boolean
}

export interface AppendOptions extends SignalOption, HeadersOption {
  /** Overrides the stream's content type for this request. */
  contentType?: string
  /** `Stream-Seq` writer-coordination token. */
  seq?: string | number
  /** Manual idempotent-producer headers (all three together). */
  producerId?: string
  producerEpoch?: number
  producerSeq?: number
  /** Append and close atomically. */
  close?: boolean
}

export interface AppendResult {
  status: number
  /** The new tail. */
  nextOffset?: string
  streamClosed: boolean
  /** Producer requests only: the server already had this (epoch, seq). */
  duplicate: boolean
  producerEpoch?: number
  producerSeq?: number
  /** Dynamic header values sent on the final attempt. */
  sentHeaders: Record<string, string>
  /** Dynamic query parameter values sent on the final attempt. */
  sentParams: Record<string, string>
}

export interface CloseOptions extends SignalOption, HeadersOption {
  /** A final message appended atomically with the close. */
  data?: Data
  contentType?: string
}

export interface CloseResult {
  finalOffset: string
}

export interface StreamMetadata {
  contentType?: string
  nextOffset: string
  closed: boolean
  ttlSeconds?: number
  expiresAt?: string
  etag?: string
}

export interface ReadOptions extends SignalOption, HeadersOption {
  /** A saved offset, `'-1'` (beginning, default) or `'now'` (skip history). */
  offset?: string
  live?: LiveMode
  /** A cursor saved from an earlier session. */
  cursor?: string
  /** Largest chunk handed out; bigger responses arrive in `partial` pieces. */
  maxChunkBytes?: number
}

/** One batch of stream data. */
export declare class Chunk {
  private constructor()
  /** The bytes (JSON streams: a JSON array of this chunk's messages). */
  readonly data: Buffer
  /** Where to resume after this chunk. */
  readonly nextOffset: string
  /** The reader has reached the current tail. */
  readonly upToDate: boolean
  /** The stream is closed and this is its last chunk. */
  readonly streamClosed: boolean
  readonly cursor?: string
  /** More bytes of the same response follow: checkpoint only when false. */
  readonly partial: boolean
  /** HTTP status of the response (204 for an empty long-poll). */
  readonly status: number
  /** Whether this is a JSON stream. */
  readonly isJson: boolean
  /** The data as UTF-8 text. */
  text(): string
  /** The messages of this chunk (JSON streams). */
  json<T = unknown>(): T[]
}

/** A read session: `for await (const chunk of stream.read({ live: 'sse' }))`. */
export declare class ReadSession implements AsyncIterableIterator<Chunk> {
  private constructor()
  next(): Promise<IteratorResult<Chunk, undefined>>
  return(): Promise<IteratorResult<Chunk, undefined>>
  [Symbol.asyncIterator](): ReadSession
  /** The messages of a JSON stream, one by one. */
  json<T = unknown>(): AsyncGenerator<T, void, undefined>
  /** Offset to resume from: after the last complete response taken. */
  readonly offset: string
  readonly cursor?: string
  /** The last chunk taken reached the tail. */
  readonly upToDate: boolean
  readonly done: boolean
  /** Dynamic header values sent with the request behind the last chunk taken. */
  readonly sentHeaders: Record<string, string>
  /** Dynamic query parameter values sent with the request behind the last chunk taken. */
  readonly sentParams: Record<string, string>
  /** End the session and release its connection. */
  close(): void
}

export interface ProducerOptions {
  /** Stable identity of this logical writer. */
  producerId: string
  /** Starting epoch; bump it when a writer restarts (default 0). */
  epoch?: number
  /** On a stale epoch, take over at the server's epoch + 1 instead of failing. */
  autoClaim?: boolean
  /** Most messages in one request (default: no count limit; batches are cut by bytes). */
  maxBatchItems?: number
  /** Most body bytes in one request (default 1 MiB). */
  maxBatchBytes?: number
  /** How long a non-full batch waits for more messages (default 5). */
  lingerMs?: number
  /** Most requests in flight (default 5). */
  maxInFlight?: number
  /** Most bytes appended but not yet acknowledged; `append` waits beyond it (default 64 MiB). */
  bufferLimitBytes?: number
  /** How long a batch is retried through transient failures before the producer fails. */
  deliveryTimeoutMs?: number
  /** The stream's content type, if known (saves a HEAD). */
  contentType?: string
  headers?: Record<string, string>
  /** Called with an error and the messages it lost: once per failed batch, and for held messages the core refused (see `Producer.append`). */
  onError?: (error: DurableStreamError, messages: Buffer[]) => void
}

export interface Acked {
  /** The stream's tail right after the batch holding this message. */
  nextOffset?: string
  /** The server already had this batch. */
  duplicate: boolean
  epoch: number
  seq: number
}

/** The idempotent, batching producer: every message lands exactly once, in order. */
export declare class Producer {
  private constructor()
  /**
   * Enqueue one message. Returns `undefined` when it was enqueued at once, or a Promise
   * resolving once it is enqueued (the buffer limit was reached: await it for backpressure).
   * A value that cannot be sent throws `InvalidArgumentError` here. The plain appends of one
   * synchronous run reach the core together (fewer native calls); the first of a run is
   * checked by the core at once, and if the core refuses a later one (JSON text that does
   * not parse on a JSON stream), `onError` gets it and the next `flush`/`close`/`detach`
   * rejects with that error; the other messages are kept, in order.
   */
  append(data: Data, options?: { ack?: false }): void | Promise<void>
  /** Enqueue one message; the Promise resolves once it is durably stored. */
  append(data: Data, options: { ack: true; signal?: AbortSignal }): Promise<Acked>
  /** Enqueue many messages in one call, in order (like `append` one by one). */
  appendMany(values: Iterable<Data>, options?: { ack?: false }): void | Promise<void>
  /** Enqueue many messages; the Promise resolves once all of them are stored (the last one's ack). */
  appendMany(values: Iterable<Data>, options: { ack: true; signal?: AbortSignal }): Promise<Acked>
  /** Wait until everything appended so far is stored. */
  flush(options?: SignalOption): Promise<void>
  /** Flush, then close the stream (atomically appending `finalMessage` if given). */
  close(finalMessage?: Data): Promise<CloseResult>
  /** Flush, then stop without closing the stream. */
  detach(): Promise<void>
  /** The epoch in use (changes after an auto-claim). */
  readonly epoch: number
  /** The sequence number the next batch will get. */
  readonly nextSeq: number
  /** What the producer did so far (see ProducerStats). */
  stats(): ProducerStats
}

export interface ProducerStats {
  /** Messages handed to the producer (buffered, waiting or stored). */
  messagesEnqueued: number
  /** Messages and body bytes in requests sent, repeats included. */
  messagesSent: number
  bytesSent: number
  /** Messages and body bytes the server stored. */
  messagesAcked: number
  bytesAcked: number
  batches: number
  requests: number
  /** Requests repeated after a transient failure. */
  retries: number
  /** Requests repeated because they overtook their predecessor (409). */
  sequenceGaps: number
  inFlight: number
  /** Memory held for messages not stored yet. */
  bufferedBytes: number
  /** The last failure, transient ones included (`CODE: message`). */
  lastError?: string
}

export interface ConsumerOptions extends SignalOption, HeadersOption {
  /** Where to start: a saved checkpoint, `'-1'` (default) or `'now'`. */
  offset?: string
  /** How to follow the stream once caught up (default `'auto'`); `false` ends at the tail. */
  live?: LiveMode
  /** First reconnect delay (default 1000). */
  backoffBaseMs?: number
  /** Longest reconnect delay (default 30000). */
  backoffMaxMs?: number
  maxChunkBytes?: number
}

export type ConsumerEvent =
  | { type: 'batch'; batch: Chunk }
  | { type: 'upToDate'; offset: string }
  | { type: 'closed'; finalOffset: string }
  | { type: 'reconnecting'; error: DurableStreamError; retryInMs: number }

/** A pull consumer: `for await (const event of stream.consume())`. */
export declare class Consumer implements AsyncIterableIterator<ConsumerEvent> {
  private constructor()
  next(): Promise<IteratorResult<ConsumerEvent, undefined>>
  return(): Promise<IteratorResult<ConsumerEvent, undefined>>
  [Symbol.asyncIterator](): Consumer
  /** The offset after the last batch handed out; persist it to resume later. */
  readonly checkpoint: string
  /** What the consumer received so far (see ConsumerStats). */
  stats(): ConsumerStats
  close(): void
}

export interface ConsumerStats {
  /** Batches with data received, and their bytes. */
  batches: number
  bytes: number
  /** Times the consumer re-opened its read after a failure. */
  reconnects: number
  /** The offset after the last accepted batch. */
  checkpoint: string
  /** The failure behind the last reconnect (`CODE: message`). */
  lastError?: string
}

export interface ConsumerHandlers {
  /** A batch of new data. Return `false` to stop after it; throwing refuses it (it is offered again). */
  onBatch(batch: Chunk): void | boolean | Promise<void | boolean>
  /** A failure: return `true` to reconnect, `false` to stop; nothing = reconnect only if transient. */
  onError?(error: DurableStreamError): void | boolean | Promise<void | boolean>
  /** Caught up with the tail (once per catch-up). */
  onUpToDate?(offset: string): void | Promise<void>
  /** The stream is closed; the consumer ends. */
  onClosed?(finalOffset: string): void | Promise<void>
}

export interface ConsumerEnd {
  reason: 'closed' | 'stopped' | 'caughtUp'
  /** `closed`: the final offset; otherwise the checkpoint. */
  offset: string
}

/** Controls a consumer started with `stream.subscribe`. It keeps the process alive until it ends. */
export declare class ConsumerHandle {
  private constructor()
  /** Resolves when the consumer ends; rejects if it failed. */
  readonly done: Promise<ConsumerEnd>
  /** Stop fetching after the batch in hand. */
  pause(): void
  resume(): void
  /** Stop, then resolve with how the consumer ended. */
  stop(): Promise<ConsumerEnd>
  /** The offset after the last batch the handler accepted. */
  readonly checkpoint: string
  /** What the consumer received so far (see ConsumerStats). */
  stats(): ConsumerStats
}

/** A handle on one stream. No I/O happens until an operation is called. */
export declare class Stream {
  private constructor()
  /** The path given to `client.stream()`. */
  readonly path: string
  readonly url: string
  /** The content type learnt from create/head/reads, if any. */
  readonly contentType?: string
  create(options?: CreateOptions): Promise<CreateResult>
  /** Append one message (on JSON streams: bytes/strings are the text of one JSON value). */
  append(data: Data, options?: AppendOptions): Promise<AppendResult>
  /** Append one JSON value. */
  appendJson(value: unknown, options?: AppendOptions): Promise<AppendResult>
  /** Append several JSON values in one request, one message each. */
  appendJsonBatch(values: Iterable<unknown>, options?: AppendOptions): Promise<AppendResult>
  close(options?: CloseOptions): Promise<CloseResult>
  delete(options?: SignalOption & HeadersOption): Promise<void>
  head(options?: SignalOption & HeadersOption): Promise<StreamMetadata>
  read(options?: ReadOptions): ReadSession
  /** The messages of a JSON stream, one by one. */
  readJson<T = unknown>(options?: ReadOptions): AsyncGenerator<T, void, undefined>
  /** Everything from `offset` to the current tail, in one Buffer. */
  readAll(options?: { offset?: string; signal?: AbortSignal }): Promise<Buffer>
  /** All messages of a JSON stream from `offset` to the current tail. */
  readAllJson<T = unknown>(options?: { offset?: string; signal?: AbortSignal }): Promise<T[]>
  producer(options: ProducerOptions): Promise<Producer>
  /** A pull consumer. */
  consume(options?: ConsumerOptions): Consumer
  /** A pushed consumer driving `handlers`. */
  subscribe(handlers: ConsumerHandlers, options?: ConsumerOptions): ConsumerHandle
}

/** Entry point: base URL, connection pool, headers and retries. */
export declare class Client {
  constructor(baseUrl: string, options?: ClientOptions)
  readonly baseUrl: string
  /** A handle on the stream at `path` below the base URL. */
  stream(path: string, options?: { contentType?: string }): Stream
  /** Whether `close()` was called. */
  readonly closed: boolean
  /**
   * Close the client: reads and consumers end, producers flush and detach; every call
   * through it after this one fails with `ClosedError`. Resolves once the producers have
   * flushed. `await using` closes it the same way.
   */
  close(): Promise<void>
  [Symbol.asyncDispose](): Promise<void>
}

export interface ErrorDetails {
  code?: string
  status?: number
  transient?: boolean
  [detail: string]: unknown
}

// The classes below are generated at load time from the core's error table (one table for
// every language binding); test/errors.test.mjs fails if this list and the table disagree.

/** Base class of every SDK error. */
export declare class DurableStreamError extends Error {
  constructor(message: string, details?: ErrorDetails)
  /** Stable machine-readable code, identical in every binding, e.g. `'STREAM_CLOSED'`. */
  readonly code: string
  /** HTTP status of the response that caused the error, if any. */
  readonly status?: number
  /** Whether repeating the operation later may succeed. */
  readonly transient: boolean
  /** The code in the conformance-adapter vocabulary. */
  readonly conformanceCode: string
}

/** The stream (or a fork source) does not exist (404). */
export declare class StreamNotFoundError extends DurableStreamError {}
/** The stream is closed; `nextOffset` is its final offset. */
export declare class StreamClosedError extends DurableStreamError {
  readonly nextOffset?: string
}
/** The stream was deleted, or the offset is older than retained data (410). */
export declare class StreamGoneError extends DurableStreamError {
  readonly earliestOffset?: string
}
/** Another producer holds a newer epoch (403). */
export declare class StaleEpochError extends DurableStreamError {
  readonly currentEpoch: number
}
/** The request conflicts with the stream's state (409). */
export declare class ConflictError extends DurableStreamError {}
/** A producer request arrived ahead of its predecessors. */
export declare class SequenceGapError extends ConflictError {
  readonly expectedSeq: number
  readonly receivedSeq: number
}
/** A `Stream-Seq` not greater than the last accepted one. */
export declare class SequenceConflictError extends ConflictError {}
/** The body's content type differs from the stream's. */
export declare class ContentTypeMismatchError extends ConflictError {}
/** The server rejected the request (400). */
export declare class BadRequestError extends DurableStreamError {
  readonly serverMessage?: string
}
/** The server rejected the read offset. */
export declare class InvalidOffsetError extends BadRequestError {}
/** The body is larger than the server accepts (413). */
export declare class PayloadTooLargeError extends DurableStreamError {}
/** Still rate limited (429) after retries. */
export declare class RateLimitedError extends DurableStreamError {
  readonly retryAfterMs?: number
}
/** Authentication is missing or wrong (401). */
export declare class UnauthorizedError extends DurableStreamError {}
/** Not allowed (403). */
export declare class ForbiddenError extends DurableStreamError {}
/** The server does not support this operation (405/501). */
export declare class NotSupportedError extends DurableStreamError {}
/** Any other failure status, e.g. 5xx after retries. */
export declare class UnexpectedStatusError extends DurableStreamError {}
/** The connection failed, was reset, or the body was cut off. */
export declare class NetworkError extends DurableStreamError {
  /** What failed: `'connection_refused'`, `'dns'`, `'reset'`, `'tls'`, `'timeout'`, ... */
  readonly cause?: string
}
/** A deadline passed. */
export declare class TimeoutError extends DurableStreamError {
  readonly cause?: string
}
/** The server's answer does not follow the protocol (code `PARSE_ERROR`). */
export declare class MalformedResponseError extends DurableStreamError {}
/** A value given by the caller was rejected before any I/O. */
export declare class InvalidArgumentError extends DurableStreamError {
  /** The option or argument, spelled as in this API. */
  readonly field?: string
}
/** The operation was cancelled. */
export declare class CancelledError extends DurableStreamError {}
/** The caller aborted the operation (with an `AbortSignal`, the rejection is `signal.reason`). */
export declare class AbortedError extends CancelledError {}
/** The client, producer or consumer has already failed or been closed. */
export declare class ClosedError extends DurableStreamError {}
/** The producer's buffer limit is reached (handled internally by `append`). */
export declare class BufferFullError extends DurableStreamError {}
/** Application code called by the SDK (a dynamic header function, a consumer handler) failed. */
export declare class CallbackFailedError extends DurableStreamError {}
/** A bug in the SDK (a Rust panic caught at the boundary). */
export declare class InternalError extends DurableStreamError {}

/** Version of the native module. */
export declare const version: string
