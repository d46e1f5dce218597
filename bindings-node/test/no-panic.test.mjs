// No panic and no stray exception crosses the boundary: throws inside the callbacks the
// core calls (dynamic headers on the producer's background batches and on live reads,
// consumer handlers and error handlers) and numbers that would make the core panic come
// back as typed errors, and the process keeps working.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { CallbackFailedError, Client, DurableStreamError, InternalError, InvalidArgumentError } from 'durable-streams-sdk'
import { serverAndClient, uniquePath } from './helpers.mjs'

describe('no panic crosses the boundary', () => {
  const env = serverAndClient()

  it('a header function throwing on the producer\'s background batches fails flush with CallbackFailedError', async () => {
    const s = await env.jsonStream('no-panic')
    let calls = 0
    const broken = new Client(env.server.url, {
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

  // No 'uncaughtException' / 'unhandledRejection' may escape a callback that threw: the
  // process would otherwise die (or the runner report it) after the assertion passed.
  function noStrayErrors() {
    const stray = []
    const record = (e) => stray.push(e)
    process.on('uncaughtException', record)
    process.on('unhandledRejection', record)
    return () => {
      process.off('uncaughtException', record)
      process.off('unhandledRejection', record)
      return stray
    }
  }

  it('a header function throwing non-Error values or rejecting on a live read gives CallbackFailedError naming what was thrown', async () => {
    const s = await env.jsonStream('no-panic')
    const cases = [
      [() => { throw 42 }, /: threw number 42$/],
      [() => { throw undefined }, /: threw undefined$/],
      [() => { throw 'no token' }, /: threw string "no token"$/],
      [() => { throw { code: 7 } }, /: threw object \{"code":7\}$/],
      [() => Promise.reject(new Error('async no')), /: async no$/],
      [() => { throw new TypeError('') }, /: threw TypeError without a message$/],
    ]
    const done = noStrayErrors()
    for (const [f, message] of cases) {
      const broken = new Client(env.server.url, { dynamicHeaders: { 'x-token': f }, retry: { maxRetries: 0 } })
      await assert.rejects(
        (async () => {
          for await (const _ of broken.stream(s.path).read({ live: 'sse' })) throw new Error('read a chunk without its header')
        })(),
        (e) => {
          assert.ok(e instanceof CallbackFailedError && !(e instanceof InternalError), `${e?.constructor?.name}: ${e}`)
          assert.equal(e.code, 'CALLBACK_FAILED')
          assert.match(e.message, message)
          return true
        },
      )
    }
    assert.deepEqual(done(), [])
    await s.appendJson({ still: 'alive' })
    assert.deepEqual(await s.readAllJson(), [{ still: 'alive' }])
  })

  it('a header value returned before the function threw never shows in the error', async () => {
    const s = await env.jsonStream('no-panic')
    let calls = 0
    const secret = 'Bearer secret-token-0123456789'
    const flaky = new Client(env.server.url, {
      dynamicHeaders: { authorization: () => { if (calls++ === 0) return secret; throw 42 } },
      retry: { maxRetries: 0 },
    })
    const st = flaky.stream(s.path)
    await st.appendJson({ n: 1 }) // first call: the header is sent
    await assert.rejects(st.appendJson({ n: 2 }), (e) => {
      assert.ok(e instanceof CallbackFailedError, `${e}`)
      assert.match(e.message, /threw number 42/)
      assert.ok(!e.message.includes('secret-token'), e.message)
      assert.ok(!JSON.stringify(e).includes('secret-token'))
      return true
    })
    assert.deepEqual(await s.readAllJson(), [{ n: 1 }])
  })

  for (const [what, handlers, message] of [
    ['onBatch throws an Error', { onBatch: () => { throw new Error('handler bug') } }, /onBatch: handler bug$/],
    ['onBatch throws 42', { onBatch: () => { throw 42 } }, /onBatch: threw number 42$/],
    ['onBatch rejects', { onBatch: async () => { throw new RangeError('async handler bug') } }, /onBatch: async handler bug$/],
    [
      'onBatch and onError both throw',
      { onBatch: () => { throw new Error('handler bug') }, onError: () => { throw new Error('error handler bug') } },
      /onBatch: handler bug$/,
    ],
  ]) {
    it(`a consumer whose ${what} ends with CallbackFailedError and the process keeps working`, async () => {
      const s = await env.jsonStream('no-panic')
      await s.appendJson({ n: 1 })
      const done = noStrayErrors()
      const handle = s.subscribe(handlers, { live: 'long-poll', backoffBaseMs: 10, backoffMaxMs: 20 })
      const outcome = await handle.done.then((end) => ({ end }), (error) => ({ error }))
      assert.ok(outcome.error, `the consumer ended without an error: ${JSON.stringify(outcome.end)}`)
      assert.ok(outcome.error instanceof CallbackFailedError, `${outcome.error?.constructor?.name}: ${outcome.error}`)
      assert.ok(outcome.error instanceof DurableStreamError)
      assert.equal(outcome.error.code, 'CALLBACK_FAILED')
      assert.match(outcome.error.message, message)
      assert.deepEqual(done(), [])
      // The batch was not accepted: the checkpoint did not move past it.
      assert.notEqual(handle.checkpoint, (await s.head()).nextOffset)
      await s.appendJson({ n: 2 })
      assert.equal((await s.readAllJson()).length, 2)
    })
  }

  for (const field of ['requestTimeoutMs', 'liveIdleTimeoutMs', 'connectTimeoutMs', 'poolIdleTimeoutMs']) {
    it(`${field}: 1e300 is an InvalidArgumentError, not a panic`, () => {
      assert.throws(() => new Client(env.server.url, { [field]: 1e300 }), (e) => e instanceof InvalidArgumentError)
    })
  }

  for (const retry of [{ initialDelayMs: 1e300, maxDelayMs: 1e301 }, { maxDelayMs: 1e300 }]) {
    it(`retry ${JSON.stringify(retry)} is an InvalidArgumentError, not a panic`, () => {
      assert.throws(() => new Client(env.server.url, { retry }), (e) => e instanceof InvalidArgumentError)
    })
  }

  for (const opt of [{ lingerMs: 1e300 }, { deliveryTimeoutMs: 1e300 }]) {
    it(`producer ${JSON.stringify(opt)} is an InvalidArgumentError, not a panic`, async () => {
      const s = await env.jsonStream('no-panic')
      await assert.rejects(
        (async () => s.producer({ producerId: 'no-panic', ...opt }))(),
        (e) => e instanceof InvalidArgumentError,
      )
    })
  }
})
