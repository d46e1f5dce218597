// Stream operations against the real reference server.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { Client, ClosedError, Consumer, ConsumerHandle, Producer, ReadSession, Stream, StreamNotFoundError, version } from 'durable-streams-sdk'
import { setTimeout as sleep } from 'node:timers/promises'
import { serverAndClient, uniquePath } from './helpers.mjs'

describe('stream operations', () => {
  const env = serverAndClient()

  it('exposes the native version', () => {
    assert.match(version, /^\d+\.\d+\.\d+/)
  })

  it('hands out instances of the exported classes, which cannot be constructed directly', async () => {
    const s = env.client.stream(uniquePath())
    await s.create({ contentType: 'text/plain' })
    assert.ok(s instanceof Stream)
    const session = s.read()
    const consumer = s.consume({ live: false })
    const handle = s.subscribe({ onBatch: () => {} }, { live: false })
    const producer = await s.producer({ producerId: 'classes' })
    assert.ok(session instanceof ReadSession)
    assert.ok(consumer instanceof Consumer)
    assert.ok(handle instanceof ConsumerHandle)
    assert.ok(producer instanceof Producer)
    session.close()
    consumer.close()
    assert.equal((await handle.done).reason, 'caughtUp')
    await producer.detach()
    for (const cls of [ReadSession, Consumer, ConsumerHandle]) assert.throws(() => new cls(), `new ${cls.name}() throws`)
  })

  it('creates, confirms, heads and deletes a stream', async () => {
    const s = env.client.stream(uniquePath())
    const c1 = await s.create({ contentType: 'text/plain' })
    assert.equal(c1.created, true)
    assert.equal(c1.status, 201)
    assert.equal(typeof c1.nextOffset, 'string')
    const c2 = await s.create({ contentType: 'text/plain' })
    assert.equal(c2.created, false, 'identical re-create is confirmed, not created')
    const meta = await s.head()
    assert.equal(meta.contentType, 'text/plain')
    assert.equal(meta.closed, false)
    assert.equal(meta.nextOffset, c1.nextOffset)
    assert.equal(s.contentType, 'text/plain')
    await s.delete()
    await assert.rejects(s.head(), StreamNotFoundError)
  })

  it('accepts Buffer, Uint8Array, ArrayBuffer and string data', async () => {
    const s = env.client.stream(uniquePath())
    await s.create({ contentType: 'application/octet-stream' })
    const r1 = await s.append(Buffer.from([1, 2]))
    await s.append(new Uint8Array([3, 4]))
    await s.append(new Uint8Array([9, 5, 6, 9]).subarray(1, 3))
    await s.append(new Uint8Array([7]).buffer)
    const r5 = await s.append('AB')
    assert.equal(typeof r1.nextOffset, 'string')
    assert.ok(r5.nextOffset > r1.nextOffset, 'offsets advance')
    const all = await s.readAll()
    assert.deepEqual([...all], [1, 2, 3, 4, 5, 6, 7, 65, 66])
  })

  it('stores JSON values as one message each', async () => {
    const s = env.client.stream(uniquePath())
    await s.create({ contentType: 'application/json' })
    await s.appendJson({ a: 1 })
    await s.appendJson([1, 2]) // an array is one message
    await s.appendJson('text') // a JSON string
    await s.append('{"b":2}') // strings are JSON text on JSON streams
    await s.append({ c: 3 }) // objects are encoded
    await s.appendJsonBatch([{ d: 4 }, { e: 5 }])
    assert.deepEqual(await s.readAllJson(), [{ a: 1 }, [1, 2], 'text', { b: 2 }, { c: 3 }, { d: 4 }, { e: 5 }])
  })

  it('creates with an initial body and reads from a saved offset', async () => {
    const s = env.client.stream(uniquePath())
    const created = await s.create({ contentType: 'text/plain', body: 'hello ' })
    const mid = created.nextOffset
    await s.append('world')
    assert.equal((await s.readAll()).toString(), 'hello world')
    assert.equal((await s.readAll({ offset: mid })).toString(), 'world')
  })

  it('closes a stream, atomically with a final message', async () => {
    const s = env.client.stream(uniquePath())
    await s.create({ contentType: 'text/plain' })
    await s.append('a')
    const closed = await s.close({ data: 'z' })
    assert.equal(typeof closed.finalOffset, 'string')
    const meta = await s.head()
    assert.equal(meta.closed, true)
    assert.equal(meta.nextOffset, closed.finalOffset)
    assert.equal((await s.readAll()).toString(), 'az')
    const again = await s.close()
    assert.equal(again.finalOffset, closed.finalOffset, 'closing again without data succeeds')
  })

  it('appends and closes in one request', async () => {
    const s = env.client.stream(uniquePath())
    await s.create({ contentType: 'text/plain' })
    const r = await s.append('last', { close: true })
    assert.equal(r.streamClosed, true)
    assert.equal((await s.head()).closed, true)
  })

  it('creates a TTL stream and reports it', async () => {
    const s = env.client.stream(uniquePath())
    await s.create({ contentType: 'text/plain', ttlSeconds: 600 })
    assert.equal((await s.head()).ttlSeconds, 600)
  })

  it('exposes url and path', () => {
    const s = env.client.stream('/a/b')
    assert.equal(s.path, '/a/b')
    assert.equal(s.url, `${env.server.url}/a/b`)
    assert.equal(env.client.baseUrl, env.server.url)
  })

  it('close() and async dispose close the env.client: later calls fail with ClosedError', async () => {
    const c = new Client(env.server.url)
    const s = c.stream(uniquePath())
    await s.create({ contentType: 'text/plain' })
    assert.equal(c.closed, false)
    await c.close()
    assert.equal(c.closed, true)
    assert.throws(() => c.stream('/x'), (e) => e instanceof ClosedError && e.code === 'CLOSED')
    await assert.rejects(s.append('late'), ClosedError)
    assert.throws(() => s.read(), ClosedError)
    await c.close() // closing again does nothing
    const d = new Client(env.server.url)
    const ds = d.stream(uniquePath())
    await d[Symbol.asyncDispose]()
    await assert.rejects(ds.head(), ClosedError)
  })

  it('close() closes the client when called; what a producer held is stored, a live read ends', async () => {
    const c = new Client(env.server.url)
    const s = c.stream(uniquePath())
    await s.create({ contentType: 'application/json' })
    const p = await s.producer({ producerId: 'at-close', lingerMs: 1000 })
    const live = s.read({ offset: 'now', live: 'long-poll' })
    const pending = live.next()
    for (let i = 0; i < 1000; i++) p.append({ i }) // held in JavaScript until this run ends
    const closing = c.close()
    assert.equal(c.closed, true)
    assert.throws(() => s.read(), ClosedError)
    await closing
    const got = await env.client.stream(s.path).readAllJson()
    assert.deepEqual(got.map((m) => m.i), Array.from({ length: 1000 }, (_, i) => i))
    const ended = (async () => {
      await pending
      for await (const _ of live) void _
      return 'ended'
    })()
    assert.equal(await Promise.race([ended, sleep(5000).then(() => 'still reading')]), 'ended')
  })

  it('works through the CommonJS entry point too', async () => {
    const { createRequire } = await import('node:module')
    const require = createRequire(import.meta.url)
    const cjs = require('durable-streams-sdk')
    assert.equal(typeof cjs.Client, 'function')
    assert.equal(cjs.Client, Client, 'ESM and CommonJS share one implementation')
    const s = new cjs.Client(env.server.url).stream(uniquePath())
    await s.create({ contentType: 'text/plain' })
    await s.append('cjs')
    assert.equal((await s.readAll()).toString(), 'cjs')
  })
})
