'use strict'
// Error classes. Every failure of the native module arrives as a marker followed by a
// JSON payload built by the core (code, HTTP status, kind-specific data); `fromNative`
// turns it into the matching DurableStreamError subclass. Codes are the core's
// `Error::code()` values, identical in every language binding.

class DurableStreamError extends Error {
  constructor(message, details = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause })
    this.name = new.target.name
    /** Stable machine-readable code, e.g. 'STREAM_CLOSED'. */
    this.code = details.code ?? 'UNKNOWN'
    /** HTTP status of the response that caused the error, if any. */
    this.status = details.status
    /** Whether repeating the operation later may succeed (network trouble, 5xx, 429). */
    this.transient = details.transient ?? false
    /** The code in the conformance-adapter vocabulary (used by test adapters). */
    Object.defineProperty(this, 'conformanceCode', {
      value: details.conformanceCode ?? 'INTERNAL_ERROR',
      enumerable: false,
    })
  }
}

function define(name, code, extra) {
  const cls = {
    [name]: class extends DurableStreamError {
      constructor(message, details = {}) {
        super(message, { code, ...details })
        if (extra) extra(this, details)
      }
    },
  }[name]
  cls.code = code
  return cls
}

const StreamNotFoundError = define('StreamNotFoundError', 'NOT_FOUND')
const StreamClosedError = define('StreamClosedError', 'STREAM_CLOSED', (e, d) => {
  /** The stream's final offset, when the server reported it. */
  e.finalOffset = d.finalOffset ?? undefined
})
const StreamGoneError = define('StreamGoneError', 'GONE', (e, d) => {
  e.earliestOffset = d.earliestOffset ?? undefined
})
const StaleEpochError = define('StaleEpochError', 'STALE_EPOCH', (e, d) => {
  /** The epoch the server currently accepts for this producer id. */
  e.currentEpoch = d.currentEpoch
})
const SequenceGapError = define('SequenceGapError', 'SEQUENCE_GAP', (e, d) => {
  e.expectedSeq = d.expectedSeq
  e.receivedSeq = d.receivedSeq
})
const SequenceConflictError = define('SequenceConflictError', 'SEQUENCE_CONFLICT')
const ContentTypeMismatchError = define('ContentTypeMismatchError', 'CONTENT_TYPE_MISMATCH')
const ConflictError = define('ConflictError', 'CONFLICT')
const InvalidOffsetError = define('InvalidOffsetError', 'INVALID_OFFSET')
const BadRequestError = define('BadRequestError', 'BAD_REQUEST', (e, d) => {
  e.serverMessage = d.serverMessage
})
const PayloadTooLargeError = define('PayloadTooLargeError', 'PAYLOAD_TOO_LARGE')
const RateLimitedError = define('RateLimitedError', 'RATE_LIMITED', (e, d) => {
  e.retryAfterMs = d.retryAfterMs ?? undefined
})
const UnauthorizedError = define('UnauthorizedError', 'UNAUTHORIZED')
const ForbiddenError = define('ForbiddenError', 'FORBIDDEN')
const NotSupportedError = define('NotSupportedError', 'NOT_SUPPORTED')
const UnexpectedStatusError = define('UnexpectedStatusError', 'UNEXPECTED_STATUS')
const NetworkError = define('NetworkError', 'NETWORK_ERROR')
const TimeoutError = define('TimeoutError', 'TIMEOUT')
const MalformedResponseError = define('MalformedResponseError', 'PARSE_ERROR')
const InvalidArgumentError = define('InvalidArgumentError', 'INVALID_ARGUMENT', (e, d) => {
  /** The rejected option, spelled as in this API (camelCase). */
  e.field = d.field
})
const CancelledError = define('CancelledError', 'CANCELLED')
const ClosedError = define('ClosedError', 'CLOSED')
const BufferFullError = define('BufferFullError', 'BUFFER_FULL')
const CallbackError = define('CallbackError', 'CALLBACK_FAILED')
const InternalError = define('InternalError', 'INTERNAL_ERROR')

const byCode = new Map(
  [
    StreamNotFoundError, StreamClosedError, StreamGoneError, StaleEpochError, SequenceGapError,
    SequenceConflictError, ContentTypeMismatchError, ConflictError, InvalidOffsetError,
    BadRequestError, PayloadTooLargeError, RateLimitedError, UnauthorizedError, ForbiddenError,
    NotSupportedError, UnexpectedStatusError, NetworkError, TimeoutError, MalformedResponseError,
    InvalidArgumentError, CancelledError, ClosedError, BufferFullError, CallbackError, InternalError,
  ].map((cls) => [cls.code, cls]),
)

let MARKER = '\u0001durable-streams-error:'

function configure(native) {
  MARKER = native.errorMarker()
}

/** Build the error described by a native payload object. */
function errorFromPayload(p) {
  const cls = byCode.get(p.code)
  const details = { ...p }
  if (cls) return new cls(p.message, details)
  return new DurableStreamError(p.message, details)
}

function isNativeError(e) {
  return e instanceof Error && typeof e.message === 'string' && e.message.startsWith(MARKER)
}

/** Convert a native failure; `signal` (if any) supplies the abort reason. */
function fromNative(e, signal) {
  if (!isNativeError(e)) return e
  let p
  try {
    p = JSON.parse(e.message.slice(MARKER.length))
  } catch {
    return new InternalError(e.message.slice(MARKER.length))
  }
  if (p.code === 'ABORTED') {
    if (signal && signal.aborted) return signal.reason
    const err = new Error('The operation was aborted')
    err.name = 'AbortError'
    err.code = 'ABORT_ERR'
    return err
  }
  return errorFromPayload(p)
}

/** Payload string (as passed to producer/consumer callbacks) → error. */
function fromPayloadString(s) {
  try {
    return errorFromPayload(JSON.parse(s))
  } catch {
    return new InternalError(String(s))
  }
}

module.exports = {
  DurableStreamError,
  StreamNotFoundError,
  StreamClosedError,
  StreamGoneError,
  StaleEpochError,
  SequenceGapError,
  SequenceConflictError,
  ContentTypeMismatchError,
  ConflictError,
  InvalidOffsetError,
  BadRequestError,
  PayloadTooLargeError,
  RateLimitedError,
  UnauthorizedError,
  ForbiddenError,
  NotSupportedError,
  UnexpectedStatusError,
  NetworkError,
  TimeoutError,
  MalformedResponseError,
  InvalidArgumentError,
  CancelledError,
  ClosedError,
  BufferFullError,
  CallbackError,
  InternalError,
  // internal
  _internal: { configure, fromNative, fromPayloadString },
}
