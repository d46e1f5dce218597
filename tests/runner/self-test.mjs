// Unit tests for the conformance runner's pure parts (no reference server).
// Run: node --test tests/runner/
import assert from "node:assert/strict"
import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import path from "node:path"
import { describe, it } from "node:test"
import { serializeCommand } from "./adapter-process.mjs"
import { AdapterSession } from "./adapter-session.mjs"
import { selectTests } from "./cases.mjs"
import { appendBatchCommands, appendBatchResult, appendPayload, buildCommand } from "./commands.mjs"
import { AdapterFailure, StepError } from "./errors.mjs"
import { checkExpect, findToleratedError, TOLERATED_ERRORS, validateResult } from "./expect.mjs"
import { missingFeatures, skipReason } from "./features.mjs"
import { interpolate, setVariable } from "./interpolate.mjs"
import { runAssert } from "./assert-step.mjs"

const vars = (obj) => new Map(Object.entries(obj))
const read = (chunks, extra = {}) => ({ type: "read", success: true, status: 200, chunks: chunks.map((data) => ({ data })), upToDate: true, streamClosed: false, ...extra })
const error = (commandType, status, errorCode = "UNEXPECTED_STATUS", message = "boom /p") => ({ type: "error", success: false, commandType, status, errorCode, message })
const check = (expect, result, action = "read", resultType = "read", tolerated = null) => checkExpect(expect, result, { action, resultType, tolerated })

describe("interpolate", () => {
  it("substitutes plain and dotted references", () => {
    const v = vars({ p: "/s", h: { offset: "1_2", n: 5, b: false } })
    assert.equal(interpolate("${p}?o=${h.offset}&n=${h.n}&b=${h.b}", v), "/s?o=1_2&n=5&b=false")
  })
  it("yields an empty string for a missing property along a path", () => {
    assert.equal(interpolate("[${h.nope.deeper}]", vars({ h: { offset: "x" } })), "[]")
  })
  it("fails on an undefined top-level name, including one stored as undefined", () => {
    assert.throws(() => interpolate("${nothing}", vars({})), StepError)
    const v = new Map()
    setVariable(v, "off", undefined)
    assert.throws(() => interpolate("${off}", v), /Undefined variable/)
  })
  it("makes a fresh UUID at every ${randomUUID}", () => {
    const [a, b] = interpolate("${randomUUID} ${randomUUID}", new Map()).split(" ")
    assert.match(a, /^[0-9a-f-]{36}$/)
    assert.notEqual(a, b)
  })
  it("converts non-strings and leaves text without references alone", () => {
    assert.equal(interpolate(42, new Map()), "42")
    assert.equal(interpolate("$notaref {x}", new Map()), "$notaref {x}")
  })
})

describe("commands", () => {
  const interp = (s) => interpolate(s, vars({ p: "/s", x: "X" }))
  it("builds append payloads per the binaryData / json / data rules", () => {
    assert.deepEqual(appendPayload({ json: { b: 1, a: [1, 2] } }, interp), { data: '{"b":1,"a":[1,2]}', binary: false })
    assert.deepEqual(appendPayload({ binaryData: "AQID", data: "ignored" }, interp), { data: "AQID", binary: true })
    assert.deepEqual(appendPayload({ binaryData: "", data: "ignored" }, interp), { data: "", binary: false })
    assert.deepEqual(appendPayload({ data: "v=${x}" }, interp), { data: "v=X", binary: false })
    assert.deepEqual(appendPayload({}, interp), { data: "", binary: false })
  })
  it("omits absent fields and never forwards producer fields on append", () => {
    const cmd = buildCommand({ action: "append", path: "${p}", data: "d", producerId: "p", seq: 9007199254740991 }, interp)
    assert.deepEqual(cmd, { type: "append", path: "/s", data: "d", binary: false, seq: 9007199254740991 })
  })
  it("generates a create path and does not interpolate create data", () => {
    const cmd = buildCommand({ action: "create", data: "${x}", closed: true }, interp)
    assert.match(cmd.path, /^\/test-stream-[0-9a-f-]{36}$/)
    assert.equal(cmd.data, "${x}")
  })
  it("drops headers on close and defaults idempotent fields", () => {
    assert.deepEqual(buildCommand({ action: "close", path: "${p}", headers: { a: "b" }, data: "${x}" }, interp), { type: "close", path: "/s", data: "${x}" })
    assert.deepEqual(buildCommand({ action: "idempotent-append", path: "${p}", producerId: "id", data: "${x}" }, interp), {
      type: "idempotent-append", path: "/s", data: "X", producerId: "id", epoch: 0, autoClaim: false,
    })
    assert.deepEqual(buildCommand({ action: "idempotent-append-batch", path: "${p}", producerId: "id", items: [{ data: "${x}" }, { data: "2" }] }, interp).items, ["X", "2"])
  })
  it("interpolates the read offset and passes validate targets verbatim", () => {
    assert.equal(buildCommand({ action: "read", path: "${p}", offset: "${x}" }, interp).offset, "X")
    const target = { target: "retry-options", maxRetries: -1 }
    assert.equal(buildCommand({ action: "validate", target }, interp).target, target)
  })
  it("sends append-batch items uninterpolated and synthesises 200/207", () => {
    const cmds = appendBatchCommands({ path: "${p}", items: [{ data: "${x}", seq: 1 }, { binaryData: "AQ==" }] }, interp)
    assert.deepEqual(cmds, [
      { type: "append", path: "/s", data: "${x}", binary: false, seq: 1 },
      { type: "append", path: "/s", data: "AQ==", binary: true },
    ])
    assert.deepEqual(appendBatchResult([{ success: true }]).status, 200)
    const partial = appendBatchResult([{ success: true }, error("append", 409)])
    assert.equal(partial.success, false)
    assert.equal(partial.status, 207)
  })
  it("escapes U+2028/U+2029 in serialised commands", () => {
    const line = serializeCommand({ type: "append", data: "a\u2028b\u2029c" })
    assert.ok(!/[\u2028\u2029]/.test(line))
    assert.equal(JSON.parse(line).data, "a\u2028b\u2029c")
  })
})

describe("features", () => {
  it("maps requires names to init flags; unknown names are missing", () => {
    assert.deepEqual(missingFeatures(["long-poll", "dynamic-headers", "json"], { longPoll: true, dynamicHeaders: true }), ["json"])
    assert.deepEqual(missingFeatures(["sse"], { sse: "yes" }), ["sse"])
  })
  it("explains skips", () => {
    assert.equal(skipReason({ requires: ["batching"] }, {}, {}), "skip: adapter lacks feature batching")
    assert.equal(skipReason({}, { skip: "Swift implementation broken" }, {}), "skip: Swift implementation broken")
    assert.equal(skipReason({}, { requires: ["sse"] }, { sse: true }), null)
  })
})

describe("result validation", () => {
  it("accepts well-formed results", () => {
    assert.deepEqual(validateResult("read", read(["a"])), [])
    assert.deepEqual(validateResult("read", error("read", 404, "NOT_FOUND")), [])
  })
  it("rejects a type that matches neither the command nor error", () => {
    assert.match(validateResult("create", { type: "append", success: true }).join(), /does not match command "create"/)
  })
  it("requires numeric status and boolean read flags", () => {
    assert.match(validateResult("append", { type: "append", success: true, status: "200" }).join(), /"status" must be an integer/)
    assert.match(validateResult("read", read([], { upToDate: undefined })).join(), /upToDate/)
    assert.match(validateResult("read", read([], { streamClosed: "false" })).join(), /streamClosed/)
  })
  it("requires error results to name the failed command", () => {
    assert.match(validateResult("head", error("read", 404)).join(), /commandType/)
  })
})

describe("expect checks", () => {
  it("compares read data, chunks and flags", () => {
    assert.deepEqual(check({ data: "ab", dataContains: "b", dataContainsAll: ["a", "b"], dataExact: ["a", "b"], chunkCount: 2, minChunks: 1, maxChunks: 2, upToDate: true, streamClosed: false }, read(["a", "b"])), [])
    assert.equal(check({ data: "abc" }, read(["a", "b"])).length, 1)
    assert.equal(check({ maxChunks: 1 }, read(["a", "b"])).length, 1)
    assert.equal(check({ streamClosed: false }, read([], { streamClosed: undefined })).length, 1) // false ≠ absent
  })
  it("fails success-only keys on an error result (rule a)", () => {
    assert.match(check({ chunkCount: 0 }, error("read", 400, "INVALID_OFFSET")).join(), /expected a successful read result/)
  })
  it("tolerates only the listed steps and only with the listed status", () => {
    assert.equal(TOLERATED_ERRORS.length, 2)
    const t = findToleratedError("consumer-offset", "offset-zero-start", "operations", 0)
    assert.ok(t)
    assert.equal(findToleratedError("consumer-offset", "offset-zero-start", "operations", 1), null)
    assert.deepEqual(check({ data: "x" }, error("read", 400, "INVALID_OFFSET"), "read", "read", t), [])
    assert.equal(check({ data: "x" }, error("read", 404, "NOT_FOUND"), "read", "read", t).length, 1)
    assert.equal(check({ data: "x" }, read(["y"]), "read", "read", t).length, 1) // success is still checked
  })
  it("checks status strictly and only lets a successful close omit it", () => {
    assert.deepEqual(check({ status: 404 }, error("read", 404)), [])
    assert.equal(check({ status: 404 }, error("read", 400)).length, 1)
    assert.equal(check({ status: 404 }, { type: "error", success: false, commandType: "read", errorCode: "X", message: "m" }).length, 1)
    assert.deepEqual(check({ status: 200 }, { type: "close", success: true }, "close", "close"), [])
    assert.equal(check({ status: 404 }, { type: "close", success: true }, "close", "close").length, 1)
  })
  it("enforces error/success/valid and error details (rule b)", () => {
    const ok = { type: "create", success: true, status: 201 }
    assert.equal(check({ error: true }, ok, "create", "create").length, 1)
    assert.deepEqual(check({ error: true }, error("read", 500)), [])
    assert.equal(check({ success: true }, error("idempotent-append", 403), "idempotent-append", "idempotent-append").length, 1)
    assert.deepEqual(check({ valid: false, errorCode: "INVALID_ARGUMENT", errorContains: "maxRetries" }, error("validate", undefined, "INVALID_ARGUMENT", "maxRetries < 0"), "validate", "validate"), [])
    assert.equal(check({ errorContains: "MaxRetries" }, error("validate", undefined, "INVALID_ARGUMENT", "maxRetries < 0"), "validate", "validate").length, 1)
    assert.deepEqual(check({ messageContains: ["NOT-THERE"] }, error("read", 404, "NOT_FOUND", "missing /not-there")), [])
    assert.equal(check({ errorCode: "NOT_FOUND" }, read([])).length, 1)
  })
  it("checks per-item batch outcomes", () => {
    const batch = appendBatchResult([{ type: "append", success: true }, error("append", 409), { type: "append", success: true }])
    assert.deepEqual(check({ succeedIndices: [0, 2], failIndices: [1] }, batch, "append-batch", "append"), [])
    assert.equal(check({ allSucceed: true }, batch, "append-batch", "append").length, 1)
    assert.equal(check({ failIndices: [3] }, batch, "append-batch", "append").length, 1)
    assert.deepEqual(check({ allSucceed: true }, { type: "idempotent-append-batch", success: true }, "idempotent-append-batch", "idempotent-append-batch"), [])
  })
  it("checks head, append and dynamic-header keys", () => {
    const head = { type: "head", success: true, status: 200, offset: "1_1", contentType: "text/plain", streamClosed: true }
    assert.deepEqual(check({ hasOffset: true, contentType: "text/plain", streamClosed: true }, head, "head", "head"), [])
    assert.equal(check({ hasOffset: true }, { ...head, offset: "" }, "head", "head").length, 1)
    const app = { type: "append", success: true, status: 204, duplicate: true, producerEpoch: 1, headersSent: { "x-c": "1", extra: "y" } }
    assert.deepEqual(check({ duplicate: true, producerEpoch: 1, headersSent: { "x-c": "1" } }, app, "server-append", "append"), [])
    assert.equal(check({ producerEpoch: "1" }, app, "server-append", "append").length, 1)
    assert.equal(check({ paramsSent: { p: "1" } }, app, "server-append", "append").length, 1)
  })
  it("rejects unknown and inapplicable keys, and ignores storage keys", () => {
    assert.match(check({ dataa: "x" }, read([])).join(), /unknown expect key/)
    assert.match(check({ contentType: "x" }, read([])).join(), /does not apply/)
    assert.match(check({ succeedIndices: [0] }, { type: "idempotent-append-batch", success: true }, "idempotent-append-batch", "idempotent-append-batch").join(), /does not apply/)
    assert.deepEqual(check({ storeOffsetAs: "o", storeDataAs: "d" }, read([])), [])
  })
})

describe("assert action", () => {
  const interp = (s) => interpolate(s, vars({ v: "abc-123" }))
  it("passes and fails clauses on interpolated strings", () => {
    runAssert({ equals: { left: "${v}", right: "abc-123" }, contains: { value: "${v}", substring: "c-1" }, matches: { value: "${v}", pattern: "\\d{3}$" } }, interp)
    assert.throws(() => runAssert({ notEquals: { left: "${v}", right: "abc-123" }, message: "nope" }, interp), /nope/)
    assert.throws(() => runAssert({ matches: { value: "${v}", pattern: "^\\d" } }, interp), StepError)
  })
})

describe("case selection", () => {
  const suites = [
    { file: "a/x.yaml", suite: { id: "sx", category: "consumer", tests: [{ id: "t1" }, { id: "t2" }] } },
    { file: "b/y.yaml", suite: { id: "sy", category: "producer", tests: [{ id: "t1" }] } },
  ]
  const ids = (sel) => sel.map(({ suite, test }) => `${suite.id}/${test.id}`)
  it("filters by file, category and test id (bare or qualified)", () => {
    assert.deepEqual(ids(selectTests(suites)), ["sx/t1", "sx/t2", "sy/t1"])
    assert.deepEqual(ids(selectTests(suites, { tests: ["t1"] })), ["sx/t1", "sy/t1"])
    assert.deepEqual(ids(selectTests(suites, { tests: ["sy/t1"] })), ["sy/t1"])
    assert.deepEqual(ids(selectTests(suites, { files: ["a/x.yaml"], tests: ["t2"] })), ["sx/t2"])
    assert.deepEqual(ids(selectTests(suites, { categories: ["producer"] })), ["sy/t1"])
  })
})

describe("adapter session", () => {
  it("restarts and re-inits the adapter after a command timeout", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "ds-runner-selftest-"))
    const script = path.join(dir, "adapter.mjs")
    await writeFile(
      script,
      `#!${process.execPath}
import readline from "node:readline"
readline.createInterface({ input: process.stdin }).on("line", (line) => {
  const cmd = JSON.parse(line)
  if (cmd.type === "init") console.log(JSON.stringify({ type: "init", success: true, clientName: "t", clientVersion: "0", features: {} }))
  else if (cmd.type === "shutdown") { console.log(JSON.stringify({ type: "shutdown", success: true })); process.exit(0) }
  else if (cmd.type === "head") console.log(JSON.stringify({ type: "head", success: true, status: 200, streamClosed: false }))
  // anything else: never answer
})
`,
    )
    await chmod(script, 0o755)
    const session = new AdapterSession({ executable: script, serverUrl: "http://127.0.0.1:1", timeoutMs: 2000, onStderr: () => {} })
    try {
      await session.start()
      session.timeoutMs = 300
      const firstPid = session.proc.child.pid
      await assert.rejects(session.send({ type: "read", path: "/x" }), (err) => err instanceof AdapterFailure && err.kind === "timeout")
      assert.equal(session.restarts, 1)
      assert.notEqual(session.proc.child.pid, firstPid)
      assert.equal((await session.send({ type: "head", path: "/x" })).type, "head")
      assert.deepEqual(await session.shutdown(), [])
    } finally {
      await session.kill()
      await rm(dir, { recursive: true, force: true })
    }
  })
})
