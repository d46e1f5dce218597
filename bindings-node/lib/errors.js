'use strict'
// Error classes, generated at load time from the core's error table
// (`native.errorTableJson()`): the same names, codes, parents and detail fields as in
// every other binding. A class is the table's stem + "Error" (`StreamClosed` →
// `StreamClosedError`); detail fields are the table's, in camelCase, durations in ms.
// Every native failure arrives as a marker followed by the core's flat error record as
// JSON; `fromNative` turns it into the class that record names.

const native = require('./native.js')

const camel = (s) => s.replace(/_([a-z])/g, (_, c) => c.toUpperCase())

const table = JSON.parse(native.errorTableJson())
const classes = {}
const byStem = new Map()

for (const row of table) {
  const name = `${row.name}Error`
  const details = row.details.map(camel)
  const Parent = row.parent === null ? Error : byStem.get(row.parent)
  const cls =
    row.parent === null
      ? class extends Parent {
          constructor(message, d = {}) {
            super(message)
            this.name = new.target.name
            /** Stable machine-readable code, e.g. 'STREAM_CLOSED'. */
            this.code = d.code ?? new.target.code
            /** HTTP status of the response that caused the error, if any. */
            this.status = d.status
            /** Whether repeating the operation later may succeed (network trouble, 5xx, 429). */
            this.transient = d.transient ?? false
            for (const k of new.target.details) this[k] = d[k]
            Object.defineProperty(this, 'conformanceCode', { value: d.conformanceCode ?? 'INTERNAL_ERROR', enumerable: false })
          }
        }
      : class extends Parent {}
  Object.defineProperty(cls, 'name', { value: name })
  cls.code = row.code
  cls.details = details
  cls.doc = row.doc
  classes[name] = cls
  byStem.set(row.name, cls)
}

const MARKER = native.ERROR_MARKER

/** Build the error described by a native payload: the core's flat record, whose keys are
 * the table's (snake_case, `null` when absent). */
function errorFromPayload(record) {
  const d = {}
  for (const [k, v] of Object.entries(record)) if (v !== null) d[camel(k)] = v
  const cls = byStem.get(d.class) ?? classes.DurableStreamError
  return new cls(d.message, d)
}

/** Convert a native failure; `signal` (if aborted) supplies the rejection reason. */
function fromNative(e, signal) {
  if (!(e instanceof Error) || typeof e.message !== 'string' || !e.message.startsWith(MARKER)) return e
  const record = JSON.parse(e.message.slice(MARKER.length))
  if (record.code === 'ABORTED' && signal?.aborted) return signal.reason
  return errorFromPayload(record)
}

/** An error raised by this JavaScript layer itself, e.g. `local('InvalidArgument', msg, {field})`. */
function local(stem, message, details = {}) {
  const cls = byStem.get(stem)
  return new cls(message, { conformanceCode: cls.code === 'INVALID_ARGUMENT' ? cls.code : 'INTERNAL_ERROR', ...details })
}

module.exports = { ...classes, _internal: { fromNative, errorFromPayload, local, table } }
