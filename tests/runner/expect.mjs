// Result validation and `expect` checking (conformance README §7), including
// this runner's stricter rules (README §8):
//   (a) success-only keys fail on an error result (except TOLERATED_ERRORS);
//   (b) `error`, `success`, `allSucceed`, `succeedIndices`/`failIndices` and
//       `maxChunks` are enforced;
//   (c) a result whose `type` is neither the command's type nor `error` fails;
//   (f) `status` must be a number; successful reads need boolean
//       `upToDate`/`streamClosed` and a `chunks` array of `{data: string}`.

/**
 * Steps whose read may legitimately fail with the listed HTTP status: the
 * reference server rejects the offset with 400 and the case was written to
 * accept "empty or 400" (README §10). When the result is an error with this
 * status, the step's success-only keys are not evaluated; a successful result
 * is checked normally. Keep every exception to strictness rule (a) here.
 */
export const TOLERATED_ERRORS = [
  {
    suite: "consumer-offset",
    test: "offset-zero-start",
    phase: "operations",
    index: 0, // read with offset "0" (not a valid offset for the reference server)
    status: 400,
  },
  {
    suite: "consumer-errors",
    test: "read-future-offset",
    phase: "operations",
    index: 0, // read with offset "ffffffffffffffff" ("server should either return empty or 400")
    status: 400,
  },
]

export function findToleratedError(suite, test, phase, index) {
  return TOLERATED_ERRORS.find((t) => t.suite === suite && t.test === test && t.phase === phase && t.index === index) ?? null
}

/** Keys evaluated only on a successful result, with the result types they apply to. */
export const SUCCESS_ONLY_KEYS = {
  data: ["read"],
  dataContains: ["read"],
  dataContainsAll: ["read"],
  dataExact: ["read"],
  chunkCount: ["read"],
  minChunks: ["read"],
  maxChunks: ["read"],
  upToDate: ["read"],
  streamClosed: ["read", "head"],
  contentType: ["head"],
  hasOffset: ["head"],
  finalOffset: ["close"],
  headersSent: ["append", "read"],
  paramsSent: ["append", "read"],
  duplicate: ["append"],
  producerEpoch: ["append"],
  producerSeq: ["append"],
  producerExpectedSeq: ["append"],
  producerReceivedSeq: ["append"],
}

/** Keys about per-item outcomes, with the actions they apply to. */
export const BATCH_KEYS = {
  allSucceed: ["append-batch", "idempotent-append-batch"],
  succeedIndices: ["append-batch"],
  failIndices: ["append-batch"],
}

export const OUTCOME_KEYS = ["status", "errorCode", "messageContains", "errorContains", "valid", "error", "success"]
export const STORAGE_KEYS = ["storeOffsetAs", "storeDataAs", "storeAs"]

const KNOWN_KEYS = new Set([...Object.keys(SUCCESS_ONLY_KEYS), ...Object.keys(BATCH_KEYS), ...OUTCOME_KEYS, ...STORAGE_KEYS])

/** Short, bounded rendering of a value for failure messages. */
export function preview(value, max = 160) {
  let text
  try {
    text = value === undefined ? "undefined" : JSON.stringify(value)
  } catch {
    text = String(value)
  }
  if (text === undefined) text = String(value)
  return text.length > max ? `${text.slice(0, max)}…(${text.length} chars)` : text
}

export function describeResult(result) {
  if (result?.type === "error") {
    const status = result.status === undefined ? "" : ` status ${result.status}`
    return `error ${result.errorCode ?? "?"}${status}: ${preview(result.message ?? "", 200)}`
  }
  return preview(result, 240)
}

const isPlainObject = (v) => typeof v === "object" && v !== null && !Array.isArray(v)

/**
 * Structural checks on any adapter (or synthetic) result. `commandType` is the
 * command that was sent. Returns a list of problems (empty = fine).
 */
export function validateResult(commandType, result) {
  if (!isPlainObject(result)) return [`result is not a JSON object: ${preview(result)}`]
  const problems = []
  if (typeof result.success !== "boolean") problems.push(`"success" must be a boolean, got ${preview(result.success)}`)
  if ("status" in result && (typeof result.status !== "number" || !Number.isInteger(result.status))) {
    problems.push(`"status" must be an integer number, got ${preview(result.status)}`)
  }
  if (result.type === "error") {
    if (result.success !== false) problems.push(`error result must have "success": false`)
    if (typeof result.errorCode !== "string") problems.push(`error result needs a string "errorCode"`)
    if (typeof result.message !== "string") problems.push(`error result needs a string "message"`)
    if (result.commandType !== commandType) {
      problems.push(`error result "commandType" is ${preview(result.commandType)}, expected "${commandType}"`)
    }
    return problems
  }
  if (result.type !== commandType) {
    problems.push(`result type ${preview(result.type)} does not match command "${commandType}" (nor is it "error")`)
    return problems
  }
  if (result.success !== true) problems.push(`a "${commandType}" result must have "success": true (failures use type "error")`)
  if (commandType === "read" && result.success === true) {
    if (!Array.isArray(result.chunks)) problems.push(`read result needs a "chunks" array`)
    else if (!result.chunks.every((c) => isPlainObject(c) && typeof c.data === "string")) {
      problems.push(`every read chunk needs a string "data"`)
    }
    if (typeof result.upToDate !== "boolean") problems.push(`read result "upToDate" must be a boolean, got ${preview(result.upToDate)}`)
    if (typeof result.streamClosed !== "boolean") {
      problems.push(`read result "streamClosed" must be a boolean, got ${preview(result.streamClosed)}`)
    }
  }
  return problems
}

/** Checks the `init` reply; returns a list of problems. */
export function validateInitResult(result) {
  const problems = validateResult("init", result)
  if (problems.length) return problems
  if (typeof result.clientName !== "string") problems.push(`init result needs a string "clientName"`)
  if (typeof result.clientVersion !== "string") problems.push(`init result needs a string "clientVersion"`)
  if ("features" in result && !isPlainObject(result.features)) problems.push(`init "features" must be an object`)
  return problems
}

const chunkText = (result) => result.chunks.map((c) => c.data).join("")

function checkSuccessKey(key, want, result, fail) {
  switch (key) {
    case "data": {
      const got = chunkText(result)
      if (got !== want) fail(`data: expected ${preview(want)}, got ${preview(got)}`)
      return
    }
    case "dataContains": {
      const got = chunkText(result)
      if (!got.includes(String(want))) fail(`dataContains: ${preview(want)} not found in ${preview(got)}`)
      return
    }
    case "dataContainsAll": {
      const got = chunkText(result)
      const missing = (Array.isArray(want) ? want : [want]).filter((s) => !got.includes(String(s)))
      if (missing.length) fail(`dataContainsAll: missing ${preview(missing)} in ${preview(got)}`)
      return
    }
    case "dataExact": {
      const got = result.chunks.map((c) => c.data)
      const same = Array.isArray(want) && want.length === got.length && want.every((w, i) => w === got[i])
      if (!same) fail(`dataExact: expected chunks ${preview(want)}, got ${preview(got)}`)
      return
    }
    case "chunkCount":
      if (result.chunks.length !== want) fail(`chunkCount: expected ${want}, got ${result.chunks.length}`)
      return
    case "minChunks":
      if (!(result.chunks.length >= want)) fail(`minChunks: expected at least ${want}, got ${result.chunks.length}`)
      return
    case "maxChunks":
      if (!(result.chunks.length <= want)) fail(`maxChunks: expected at most ${want}, got ${result.chunks.length}`)
      return
    case "hasOffset": {
      const has = typeof result.offset === "string" && result.offset !== ""
      if (has !== want) fail(`hasOffset: expected ${want}, got offset ${preview(result.offset)}`)
      return
    }
    case "headersSent":
    case "paramsSent": {
      const sent = result[key]
      if (!isPlainObject(sent)) {
        fail(`${key}: result has no "${key}" map`)
        return
      }
      for (const [name, value] of Object.entries(want ?? {})) {
        if (sent[name] !== value) fail(`${key}.${name}: expected ${preview(value)}, got ${preview(sent[name])}`)
      }
      return
    }
    default: // upToDate, streamClosed, contentType, finalOffset, duplicate, producer*
      if (result[key] !== want) fail(`${key}: expected ${preview(want)}, got ${preview(result[key])}`)
  }
}

function checkOutcomeKey(key, want, result, fail) {
  const failed = result.success !== true
  switch (key) {
    case "status":
      if ("status" in result) {
        if (result.status !== want) fail(`status: expected ${want}, got ${result.status} (${describeResult(result)})`)
      } else if (!(result.type === "close" && result.success === true && want >= 200 && want < 300)) {
        // Only a successful close may omit status (the protocol's close result has none).
        fail(`status: expected ${want}, but the result has no "status" (${describeResult(result)})`)
      }
      return
    case "errorCode":
      if (!failed) fail(`errorCode: expected a failure with ${want}, but the command succeeded: ${describeResult(result)}`)
      else if (result.errorCode !== want) fail(`errorCode: expected ${want}, got ${describeResult(result)}`)
      return
    case "messageContains": {
      if (!failed) {
        fail(`messageContains: expected a failure, but the command succeeded: ${describeResult(result)}`)
        return
      }
      const message = String(result.message ?? "").toLowerCase()
      for (const part of Array.isArray(want) ? want : [want]) {
        if (!message.includes(String(part).toLowerCase())) fail(`messageContains: ${preview(part)} not in message ${preview(result.message)}`)
      }
      return
    }
    case "errorContains":
      if (!failed) fail(`errorContains: expected a failure, but the command succeeded: ${describeResult(result)}`)
      else if (!String(result.message ?? "").includes(String(want))) {
        fail(`errorContains: ${preview(want)} not in message ${preview(result.message)} (case-sensitive)`)
      }
      return
    case "valid":
      if (result.success !== want) fail(`valid: expected ${want ? "success" : "failure"}, got ${describeResult(result)}`)
      return
    case "error":
      if (failed !== want) fail(`error: expected ${want ? "a failure" : "success"}, got ${describeResult(result)}`)
      return
    case "success":
      if (result.success !== want) fail(`success: expected ${want}, got ${describeResult(result)}`)
      return
  }
}

function checkBatchKey(key, want, result, action, fail) {
  if (action === "idempotent-append-batch") {
    // One result for the whole batch: every item succeeded ⇔ the command succeeded.
    if ((result.success === true) !== want) fail(`allSucceed: expected ${want}, got ${describeResult(result)}`)
    return
  }
  const items = result.itemResults ?? []
  const ok = (i) => items[i]?.success === true
  const itemText = (i) => (i < items.length ? describeResult(items[i]) : "no such item")
  if (key === "allSucceed") {
    const bad = items.map((_, i) => i).filter((i) => !ok(i))
    if ((bad.length === 0) !== want) {
      fail(`allSucceed: expected ${want}; failed items: ${bad.length ? bad.map((i) => `#${i} ${itemText(i)}`).join("; ") : "none"}`)
    }
    return
  }
  for (const i of Array.isArray(want) ? want : [want]) {
    if (!(Number.isInteger(i) && i >= 0 && i < items.length)) fail(`${key}: item #${i} does not exist (${items.length} items)`)
    else if (key === "succeedIndices" && !ok(i)) fail(`succeedIndices: item #${i} should succeed, got ${itemText(i)}`)
    else if (key === "failIndices" && ok(i)) fail(`failIndices: item #${i} should fail, got ${itemText(i)}`)
  }
}

/**
 * Checks an operation's `expect` block against its result.
 * @param {object} expect      the YAML expect mapping
 * @param {object} result      the (validated) result
 * @param {object} ctx         { action, resultType, tolerated } — `tolerated`
 *                             is a TOLERATED_ERRORS entry or null
 * @returns {string[]} failure messages (empty = pass)
 */
export function checkExpect(expect, result, { action, resultType, tolerated = null }) {
  const failures = []
  const fail = (msg) => failures.push(msg)
  if (expect === undefined || expect === null) return failures
  if (!isPlainObject(expect)) return [`expect must be a mapping, got ${preview(expect)}`]

  const keys = Object.keys(expect)
  for (const key of keys) {
    if (!KNOWN_KEYS.has(key)) fail(`unknown expect key "${key}"`)
    else if (key in SUCCESS_ONLY_KEYS && !SUCCESS_ONLY_KEYS[key].includes(resultType)) {
      fail(`expect key "${key}" does not apply to ${action} (result type ${resultType})`)
    } else if (key in BATCH_KEYS && !BATCH_KEYS[key].includes(action)) fail(`expect key "${key}" does not apply to ${action}`)
  }
  if (failures.length) return failures

  for (const key of keys.filter((k) => OUTCOME_KEYS.includes(k))) checkOutcomeKey(key, expect[key], result, fail)
  for (const key of keys.filter((k) => k in BATCH_KEYS)) checkBatchKey(key, expect[key], result, action, fail)

  const successKeys = keys.filter((k) => k in SUCCESS_ONLY_KEYS)
  if (successKeys.length === 0) return failures
  if (result.success !== true) {
    const excused = tolerated && result.type === "error" && result.status === tolerated.status
    if (!excused) fail(`expected a successful ${resultType} result for ${successKeys.join(", ")}, got ${describeResult(result)}`)
    return failures
  }
  for (const key of successKeys) checkSuccessKey(key, expect[key], result, fail)
  return failures
}
