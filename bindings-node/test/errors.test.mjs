// Error classes: one per core error kind, with .code (the core's code) and .status.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import * as sdk from 'durable-streams-sdk'
import { createRequire } from 'node:module'
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { serverAndClient, uniquePath, injectFault, clearFaults } from './helpers.mjs'

const require = createRequire(import.meta.url)
const pkgDir = path.dirname(require.resolve('durable-streams-sdk/package.json'))
const native = require(path.join(pkgDir, 'lib/native.js'))

const { Client, DurableStreamError } = sdk

describe('errors', () => {
  const env = serverAndClient({ clientOptions: { retry: { maxRetries: 1, initialDelayMs: 10, maxDelayMs: 20 } } })

  // The classes are generated from the core's error table; the TypeScript declarations and
  // the ESM export list are written by hand. Both must agree with the table: a class
  // renamed (or re-parented) anywhere but in the core fails here.
  const table = JSON.parse(native.errorTableJson())
  const camel = (s) => s.replace(/_([a-z])/g, (_, c) => c.toUpperCase())
  const errorName = (stem) => `${stem}Error`

  it('exports one class per row of the core error table, with its code, parent and details', () => {
    assert.ok(table.length >= 27, `table has ${table.length} rows`)
    for (const row of table) {
      const name = errorName(row.name)
      const cls = sdk[name]
      assert.equal(typeof cls, 'function', `${name} is exported (ESM)`)
      assert.equal(cls.name, name)
      assert.equal(cls.code, row.code)
      const parent = row.parent === null ? Error : sdk[errorName(row.parent)]
      assert.equal(Object.getPrototypeOf(cls), parent, `${name} extends ${parent.name}`)
      const e = new cls('m', Object.fromEntries(row.details.map((d) => [camel(d), `v-${d}`])))
      assert.ok(e instanceof DurableStreamError && e instanceof Error, name)
      assert.equal(e.name, name)
      assert.equal(e.code, row.code)
      for (const d of row.details) assert.equal(e[camel(d)], `v-${d}`, `${name}.${camel(d)}`)
    }
    const exported = Object.keys(sdk).filter((k) => k.endsWith('Error'))
    assert.deepEqual(exported.sort(), table.map((r) => errorName(r.name)).sort(), 'no class outside the table')
    assert.equal(sdk.SequenceGapError.prototype instanceof sdk.ConflictError, true)
    assert.equal(sdk.AbortedError.prototype instanceof sdk.CancelledError, true)
  })

  it('declares the same classes in lib/index.d.ts (names, parents, detail fields)', () => {
    const dts = readFileSync(path.join(pkgDir, 'lib/index.d.ts'), 'utf8')
    const declared = new Map()
    for (const m of dts.matchAll(/export declare class (\w+Error) extends (\w+) \{([^}]*)\}/g)) {
      declared.set(m[1], { parent: m[2], body: m[3] })
    }
    const expected = table.map((r) => errorName(r.name))
    assert.deepEqual([...declared.keys()].sort(), expected.sort())
    for (const row of table) {
      const d = declared.get(errorName(row.name))
      assert.equal(d.parent, row.parent === null ? 'Error' : errorName(row.parent), `${row.name}: parent`)
      // A detail may be declared on the class or inherited from an ancestor.
      const bodies = []
      for (let c = errorName(row.name); declared.has(c); c = declared.get(c).parent) bodies.push(declared.get(c).body)
      for (const f of row.details) assert.match(bodies.join('\n'), new RegExp(`readonly ${camel(f)}\\??:`), `${row.name}.${camel(f)} declared`)
    }
  })

  it('turns every native failure into the class the core names', async () => {
    // A network failure names its cause (from the core) in the message and in `.cause`.
    const c = new Client('http://127.0.0.1:9', { retry: { maxRetries: 0 } })
    const e = await c.stream('/x').head().catch((e) => e)
    assert.ok(e instanceof sdk.NetworkError, `${e.name}: ${e.message}`)
    assert.equal(e.code, 'NETWORK_ERROR')
    assert.equal(e.cause, 'connection_refused')
    assert.match(e.message, /connection refused/i)
    assert.equal(e.conformanceCode, 'NETWORK_ERROR')
  })

  it('404 → StreamNotFoundError', async () => {
    const e = await env.client.stream(uniquePath()).head().catch((e) => e)
    assert.ok(e instanceof sdk.StreamNotFoundError)
    assert.equal(e.code, 'NOT_FOUND')
    assert.equal(e.status, 404)
    assert.equal(e.transient, false)
    assert.match(e.message, new RegExp(env.server.url.replace(/[.:/]/g, '\\$&')), 'names the stream URL')
  })

  it('closed stream → StreamClosedError with nextOffset', async () => {
    const s = env.client.stream(uniquePath())
    await s.create({ contentType: 'text/plain' })
    const { finalOffset } = await s.close()
    const e = await s.append('x').catch((e) => e)
    assert.ok(e instanceof sdk.StreamClosedError)
    assert.equal(e.status, 409)
    assert.equal(e.nextOffset, finalOffset)
  })

  it('different configuration → ConflictError; wrong content type → ContentTypeMismatchError', async () => {
    const s = env.client.stream(uniquePath())
    await s.create({ contentType: 'text/plain' })
    await assert.rejects(s.create({ contentType: 'application/json' }), (e) => e instanceof sdk.ConflictError && e.status === 409)
    const j = env.client.stream(uniquePath())
    await j.create({ contentType: 'application/json' })
    await assert.rejects(j.append('x', { contentType: 'text/plain' }), (e) => e instanceof sdk.ContentTypeMismatchError && e.status === 409)
  })

  it('Stream-Seq regression → SequenceConflictError', async () => {
    const s = env.client.stream(uniquePath())
    await s.create({ contentType: 'text/plain' })
    await s.append('a', { seq: 5 })
    await assert.rejects(s.append('b', { seq: 5 }), sdk.SequenceConflictError)
  })

  it('producer sequence gap (manual headers) → SequenceGapError', async () => {
    const s = env.client.stream(uniquePath())
    await s.create({ contentType: 'text/plain' })
    await s.append('a', { producerId: 'p', producerEpoch: 0, producerSeq: 0 })
    const e = await s.append('c', { producerId: 'p', producerEpoch: 0, producerSeq: 2 }).catch((e) => e)
    assert.ok(e instanceof sdk.SequenceGapError, `${e.name}`)
    assert.equal(e.expectedSeq, 1)
    assert.equal(e.receivedSeq, 2)
  })

  it('bad offset → InvalidArgumentError before I/O, or InvalidOffsetError from the server', async () => {
    const s = env.client.stream(uniquePath())
    await s.create({ contentType: 'text/plain' })
    assert.throws(() => s.read({ offset: 'a,b' }), (e) => e instanceof sdk.InvalidArgumentError && e.field === 'offset')
    await assert.rejects(s.readAll({ offset: 'not-an-offset' }), (e) => e instanceof sdk.InvalidOffsetError && e.status === 400)
  })

  it('invalid arguments name the option', () => {
    assert.throws(() => new Client('ftp://x'), { code: 'INVALID_ARGUMENT', field: 'baseUrl' })
    assert.throws(() => new Client(env.server.url, { retry: { multiplier: 0.5 } }), { field: 'multiplier' })
    assert.throws(() => new Client(env.server.url, { retry: { maxRetries: 1.5 } }), { field: 'maxRetries' })
    assert.throws(() => new Client(env.server.url, { requestTimeoutMs: 0 }), { field: 'requestTimeoutMs' })
    assert.throws(() => env.client.stream('/__ds/x'), { field: 'path' })
    assert.throws(() => env.client.stream('/a').read({ live: 'sometimes' }), { field: 'live' })
  })

  it('Promise-returning methods reject (never throw) on invalid arguments', async () => {
    const s = env.client.stream('/a')
    const p = s.create({ ttlSeconds: 1.5 })
    assert.ok(p instanceof Promise)
    await assert.rejects(p, (e) => e instanceof sdk.InvalidArgumentError && e.field === 'ttlSeconds')
    await assert.rejects(s.append('x', { producerId: 'p' }), { field: 'producerId' })
    await assert.rejects(s.close({ data: Symbol('x') }), { code: 'INVALID_ARGUMENT' })
  })

  it('5xx after retries → UnexpectedStatusError (transient)', async () => {
    const s = env.client.stream(uniquePath())
    await s.create({ contentType: 'text/plain' })
    await injectFault(env.server.url, { path: s.path, status: 500, count: 5, method: 'HEAD' })
    try {
      const e = await s.head().catch((e) => e)
      assert.ok(e instanceof sdk.UnexpectedStatusError, `${e.name}`)
      assert.equal(e.status, 500)
      assert.equal(e.transient, true)
    } finally {
      await clearFaults(env.server.url)
    }
  })

  it('429 after retries → RateLimitedError', async () => {
    const s = env.client.stream(uniquePath())
    await s.create({ contentType: 'text/plain' })
    await injectFault(env.server.url, { path: s.path, status: 429, count: 5, retryAfter: 0, method: 'HEAD' })
    try {
      await assert.rejects(s.head(), (e) => e instanceof sdk.RateLimitedError && e.status === 429)
    } finally {
      await clearFaults(env.server.url)
    }
  })

  it('refused connection → NetworkError', async () => {
    const c = new Client('http://127.0.0.1:9', { retry: { maxRetries: 0 } })
    const e = await c.stream('/x').head().catch((e) => e)
    assert.ok(e instanceof sdk.NetworkError, `${e.name}: ${e.message}`)
    assert.equal(e.transient, true)
    assert.equal(e.status, undefined)
  })

  it('request deadline → TimeoutError', async () => {
    const c = new Client(env.server.url, { requestTimeoutMs: 200, retry: { maxRetries: 0 } })
    const s = c.stream(uniquePath())
    await s.create({ contentType: 'text/plain' })
    await injectFault(env.server.url, { path: s.path, delayMs: 2000, method: 'HEAD' })
    try {
      await assert.rejects(s.head(), sdk.TimeoutError)
    } finally {
      await clearFaults(env.server.url)
    }
  })

  it('unencodable data → InvalidArgumentError', async () => {
    const s = env.client.stream(uniquePath())
    const cyclic = {}
    cyclic.self = cyclic
    await assert.rejects(s.appendJson(cyclic), { code: 'INVALID_ARGUMENT', field: 'data' })
    await assert.rejects(s.append(undefined), { code: 'INVALID_ARGUMENT' })
  })
})
