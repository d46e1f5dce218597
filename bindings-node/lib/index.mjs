// ESM entry point: the same implementation as the CommonJS one (lib/index.js).
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
const sdk = require('./index.js')

export * from './index.js'

// The error classes are made at load time from the core's error table, which Node's ESM
// loader cannot see in index.js: their names are listed here (test/errors.test.mjs checks
// this list against the table).
export const {
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
  AbortedError,
  ClosedError,
  BufferFullError,
  CallbackFailedError,
  InternalError,
} = sdk

export default sdk
