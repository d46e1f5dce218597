// Dynamic headers and query parameters: JS functions (sync and async) called per request.
import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { Client, CallbackFailedError } from 'durable-streams-sdk'
import { startServer, uniquePath, injectFault, clearFaults } from './helpers.mjs'

describe('dynamic headers and parameters', () => {
  let server
  before(async () => {
    server = await startServer()
  })
  after(async () => {
    await server.stop()
  })

  it('calls sync and async functions on every request, counters increment', async () => {
    let syncCalls = 0
    let asyncCalls = 0
    const client = new Client(server.url, {
      headers: { 'x-static': 'yes' },
      dynamicHeaders: {
        'x-sync': () => `s${++syncCalls}`,
        'x-async': async () => {
          await new Promise((r) => setTimeout(r, 5))
          return `a${++asyncCalls}`
        },
      },
      dynamicParams: { n: (() => {
        let k = 0
        return () => String(++k)
      })() },
    })
    const s = client.stream(uniquePath())
    await s.create({ contentType: 'text/plain' }) // request 1
    const r2 = await s.append('x') // request 2
    const r3 = await s.append('y') // request 3
    assert.deepEqual(r2.sentHeaders, { 'x-sync': 's2', 'x-async': 'a2' })
    assert.deepEqual(r3.sentHeaders, { 'x-sync': 's3', 'x-async': 'a3' })
    assert.deepEqual(r3.sentParams, { n: '3' })
    const session = s.read()
    for await (const _ of session) void _
    assert.equal(session.sentHeaders['x-sync'], `s${syncCalls}`)
    assert.ok(syncCalls >= 4 && asyncCalls === syncCalls)
    await client.close()
  })

  it('re-evaluates the functions on retries', async () => {
    let n = 0
    const client = new Client(server.url, {
      dynamicHeaders: { 'x-attempt': () => String(++n) },
      retry: { maxRetries: 3, initialDelayMs: 10, maxDelayMs: 20 },
    })
    const s = client.stream(uniquePath())
    await s.create({ contentType: 'text/plain' })
    n = 0
    await injectFault(server.url, { path: s.path, status: 503, count: 2, method: 'POST' })
    try {
      const r = await s.append('x')
      assert.equal(r.sentHeaders['x-attempt'], '3', 'third attempt carried a fresh value')
    } finally {
      await clearFaults(server.url)
    }
    await client.close()
  })

  it('a throwing or rejecting function fails the request with CallbackFailedError', async () => {
    const client = new Client(server.url, {
      dynamicHeaders: { 'x-token': async () => Promise.reject(new Error('token service down')) },
    })
    const s = client.stream(uniquePath())
    await assert.rejects(s.create({ contentType: 'text/plain' }), (e) => {
      assert.ok(e instanceof CallbackFailedError, `${e.name}: ${e.message}`)
      assert.equal(e.code, 'CALLBACK_FAILED')
      assert.match(e.message, /x-token.*token service down/)
      return true
    })
    const c2 = new Client(server.url, {
      dynamicHeaders: {
        'x-sync-throw': () => {
          throw new TypeError('bad "quote"\nline')
        },
      },
    })
    await assert.rejects(c2.stream(uniquePath()).head(), (e) => e instanceof CallbackFailedError && /bad "quote"\nline/.test(e.message))
    // The process survived the throwing callback, and the client still works.
    const ok = new Client(server.url)
    const s2 = ok.stream(uniquePath())
    await s2.create({ contentType: 'text/plain' })
    assert.equal((await s2.head()).closed, false)
    await ok.close()
  })

  it('rejects non-function providers', () => {
    assert.throws(() => new Client(server.url, { dynamicHeaders: { x: 'static' } }), { code: 'INVALID_ARGUMENT' })
  })
})
