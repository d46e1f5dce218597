// ESM entry point: the same implementation as the CommonJS one (lib/index.js).
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
const sdk = require('./index.js')

export const {
  Client,
  Stream,
  ReadSession,
  Chunk,
  Producer,
  Consumer,
  ConsumerHandle,
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
  version,
} = sdk

export default sdk
