// Consumers: pushed callbacks (subscribe) and pull iteration (consume).
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { Client, Chunk, CallbackFailedError, NetworkError, StreamNotFoundError } from 'durable-streams-sdk'
import { serverAndClient, uniquePath, sleep } from './helpers.mjs'

describe('consumer', () => {
  const env = serverAndClient()

  it('drives callbacks until the stream closes', async () => {
    const s = await env.jsonStream()
    await s.appendJsonBatch([{ n: 1 }, { n: 2 }])
    const items = []
    const events = []
    const handle = s.subscribe(
      {
        onBatch: async (batch) => {
          await sleep(5) // async handlers are awaited
          items.push(...batch.json())
        },
        onUpToDate: (offset) => events.push(['upToDate', typeof offset]),
        onClosed: (finalOffset) => events.push(['closed', finalOffset]),
      },
      { live: 'sse', backoffBaseMs: 50 },
    )
    await sleep(200)
    await s.appendJson({ n: 3 })
    const closed = await s.close()
    const end = await handle.done
    assert.deepEqual(items, [{ n: 1 }, { n: 2 }, { n: 3 }])
    assert.deepEqual(end, { reason: 'closed', offset: closed.finalOffset })
    assert.deepEqual(events[0], ['upToDate', 'string'])
    assert.deepEqual(events.at(-1), ['closed', closed.finalOffset])
    assert.equal(handle.checkpoint, closed.finalOffset)
  })

  it('stops on request, and when onBatch returns false', async () => {
    const s = await env.jsonStream()
    await s.appendJson({ n: 1 })
    let batches = 0
    const h1 = s.subscribe({ onBatch: () => void batches++ }, { live: 'long-poll' })
    await sleep(300)
    const end = await h1.stop()
    assert.equal(end.reason, 'stopped')
    assert.equal(batches, 1)
    assert.equal(end.offset, (await s.head()).nextOffset, 'checkpoint after the accepted batch')
    assert.deepEqual(await h1.done, end)

    await s.appendJson({ n: 2 })
    const h2 = s.subscribe({ onBatch: () => false }, { live: 'long-poll' })
    const end2 = await h2.done
    assert.equal(end2.reason, 'stopped')
  })

  it('pauses and resumes', async () => {
    const s = await env.jsonStream()
    const seen = []
    const handle = s.subscribe({ onBatch: (b) => void seen.push(...b.json()) }, { live: 'long-poll', offset: 'now' })
    await sleep(100)
    handle.pause()
    await sleep(1300) // the long-poll in flight (500 ms server timeout) ends; then nothing is fetched
    await s.appendJson({ n: 'while paused' })
    await sleep(1200)
    const duringPause = seen.length
    handle.resume()
    await sleep(1200)
    await handle.stop()
    assert.equal(duringPause, 0, "nothing is fetched while paused")
    assert.deepEqual(seen, [{ n: 'while paused' }])
  })

  it('offers a refused batch again (onBatch threw) and reports it to onError', async () => {
    const s = await env.jsonStream()
    await s.appendJson({ n: 1 })
    let calls = 0
    const errs = []
    const handle = s.subscribe(
      {
        onBatch: () => {
          calls++
          if (calls === 1) throw new Error('handler failed once')
          return false
        },
        onError: (e) => {
          errs.push(e)
          return true
        },
      },
      { live: 'long-poll', backoffBaseMs: 20, backoffMaxMs: 50 },
    )
    const end = await handle.done
    assert.equal(calls, 2)
    assert.equal(end.reason, 'stopped')
    assert.equal(errs.length, 1)
    assert.ok(errs[0] instanceof CallbackFailedError, `got ${errs[0]?.name}: ${errs[0]?.message}`)
    assert.match(errs[0].message, /handler failed once/)
  })

  it('rejects done with a permanent error (missing stream)', async () => {
    const s = env.client.stream(uniquePath())
    const handle = s.subscribe({ onBatch: () => {} }, { live: 'long-poll' })
    await assert.rejects(handle.done, StreamNotFoundError)
  })

  it('iterates events with for await (pull)', async () => {
    const s = await env.jsonStream()
    await s.appendJsonBatch([{ n: 1 }, { n: 2 }])
    const writer = (async () => {
      await sleep(200)
      await s.appendJson({ n: 3 })
      await s.close()
    })()
    const consumer = s.consume({ live: 'long-poll' })
    const events = []
    const items = []
    for await (const ev of consumer) {
      events.push(ev)
      if (ev.type === 'batch') items.push(...ev.batch.json())
    }
    await writer
    const tail = (await s.head()).nextOffset
    assert.deepEqual(items, [{ n: 1 }, { n: 2 }, { n: 3 }])
    assert.ok(events[0].batch instanceof Chunk)
    const upToDate = events.find((ev) => ev.type === 'upToDate')
    assert.deepEqual(Object.keys(upToDate), ['type', 'offset'])
    assert.equal(typeof upToDate.offset, 'string')
    assert.deepEqual(events.at(-1), { type: 'closed', finalOffset: tail })
    assert.equal(consumer.checkpoint, tail)
  })

  it('reports a reconnect as an event with its error and delay (pull)', async () => {
    const down = new Client('http://127.0.0.1:1', { retry: { maxRetries: 0 } })
    const consumer = down.stream(uniquePath()).consume({ backoffBaseMs: 10 })
    const { value: ev } = await consumer.next()
    consumer.close()
    await down.close()
    assert.equal(ev.type, 'reconnecting')
    assert.ok(ev.error instanceof NetworkError, `${ev.error}`)
    assert.equal(typeof ev.retryInMs, 'number')
  })

  it('ends a pull consumer at the tail with live: false, and on abort', async () => {
    const s = await env.jsonStream()
    await s.appendJson({ n: 1 })
    const evs = []
    for await (const ev of s.consume({ live: false })) evs.push(ev.type)
    assert.deepEqual(evs, ['batch', 'upToDate'])

    const ac = new AbortController()
    setTimeout(() => ac.abort(), 200)
    await assert.rejects(async () => {
      for await (const _ of s.consume({ offset: 'now', live: 'sse', signal: ac.signal })) void _
    }, { name: 'AbortError' })
  })

  it('client.close() stops running consumers', async () => {
    const c = new Client(env.server.url)
    const s = c.stream(uniquePath())
    await s.create({ contentType: 'application/json' })
    const handle = s.subscribe({ onBatch: () => {} }, { live: 'sse' })
    await sleep(100)
    await c.close()
    assert.equal((await handle.done).reason, 'stopped')
    assert.throws(() => c.stream('/x'), { code: 'CLOSED' })
  })
})
