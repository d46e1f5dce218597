// No panic and no stray exception crosses the boundary: throws inside the callbacks the
// core calls (dynamic headers on the producer's background batches and on live reads,
// consumer handlers and error handlers) and numbers that would make the core panic come
// back as typed errors, and the process keeps working.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { CallbackFailedError, Client, DurableStreamError, InternalError, InvalidArgumentError } from 'durable-streams-sdk'
import { startServer, uniquePath } from './helpers.mjs'

describe('no panic crosses the boundary', () => {
  let server
  let client
  before(async () => {
    server = await startServer()
    client = new Client(server.url)
  })
  after(async () => {
    await client?.close?.()
    await server?.stop()
  })

  async function jsonStream() {
    const s = client.stream(uniquePath('no-panic'))
    await s.create({ contentType: 'application/json' })
    return s
  }

  it('a header function throwing on the producer\'s background batches fails flush with CallbackFailedError', async () => {
    const s = await jsonStream()
    let calls = 0
    const broken = new Client(server.url, {
      dynamicHeaders: { authorization: () => { calls++; throw new RangeError('provider failed') } },
      retry: { maxRetries: 0 },
    })
    const producer = await broken.stream(s.path).producer({ producerId: 'no-panic' })
    producer.append({ n: 1 })
    await assert.rejects(producer.flush(), (e) => e instanceof CallbackFailedError && /provider failed/.test(e.message))
    assert.ok(calls > 0)
    await producer.detach().catch(() => {})
    await s.appendJson({ after: true })
    assert.deepEqual(await s.readAllJson(), [{ after: true }])
  })

  it('a header function throwing non-Error values or rejecting on a live read gives CallbackFailedError', async () => {
    const s = await jsonStream()
    for (const f of [() => { throw 42 }, () => { throw undefined }, () => Promise.reject(new Error('async no'))]) {
      const broken = new Client(server.url, { dynamicHeaders: { 'x-token': f }, retry: { maxRetries: 0 } })
      await assert.rejects(
        (async () => {
          for await (const _ of broken.stream(s.path).read({ live: 'sse' })) throw new Error('read a chunk without its header')
        })(),
        (e) => e instanceof CallbackFailedError && !(e instanceof InternalError),
      )
    }
    await s.appendJson({ still: 'alive' })
    assert.deepEqual(await s.readAllJson(), [{ still: 'alive' }])
  })

  it('a consumer whose onBatch and onError both throw ends with a typed error', async () => {
    const s = await jsonStream()
    await s.appendJson({ n: 1 })
    const handle = s.subscribe(
      {
        onBatch: () => { throw new Error('handler bug') },
        onError: () => { throw new Error('error handler bug') },
      },
      { live: 'long-poll', backoffBaseMs: 10, backoffMaxMs: 20 },
    )
    const outcome = await handle.done.then((end) => ({ end }), (error) => ({ error }))
    if (outcome.error) assert.ok(outcome.error instanceof DurableStreamError, `${outcome.error}`)
    else assert.notEqual(outcome.end.reason, undefined)
    await s.appendJson({ n: 2 })
    assert.equal((await s.readAllJson()).length, 2)
  })

  for (const field of ['requestTimeoutMs', 'liveIdleTimeoutMs', 'connectTimeoutMs', 'poolIdleTimeoutMs']) {
    it(`${field}: 1e300 is an InvalidArgumentError, not a panic`, () => {
      assert.throws(() => new Client(server.url, { [field]: 1e300 }), (e) => e instanceof InvalidArgumentError)
    })
  }

  for (const retry of [{ initialDelayMs: 1e300, maxDelayMs: 1e301 }, { maxDelayMs: 1e300 }]) {
    it(`retry ${JSON.stringify(retry)} is an InvalidArgumentError, not a panic`, () => {
      assert.throws(() => new Client(server.url, { retry }), (e) => e instanceof InvalidArgumentError)
    })
  }

  for (const opt of [{ lingerMs: 1e300 }, { deliveryTimeoutMs: 1e300 }]) {
    it(`producer ${JSON.stringify(opt)} is an InvalidArgumentError, not a panic`, async () => {
      const s = await jsonStream()
      await assert.rejects(
        (async () => s.producer({ producerId: 'no-panic', ...opt }))(),
        (e) => e instanceof InvalidArgumentError,
      )
    })
  }
})
