// Reads: catch-up, every live mode, JSON items, resuming, AbortSignal cancellation.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { serverAndClient, uniquePath, rawAppend, injectFault, clearFaults, sleep, timed } from './helpers.mjs'

describe('reads', () => {
  const env = serverAndClient({ longPollMs: 500 })

  async function textStream(contentType = 'text/plain') {
    const s = env.client.stream(uniquePath())
    await s.create({ contentType })
    return s
  }

  it('catches up and ends (live: false)', async () => {
    const s = await textStream()
    await s.append('one ')
    await s.append('two')
    const chunks = []
    for await (const c of s.read()) chunks.push(c)
    assert.equal(Buffer.concat(chunks.map((c) => c.data)).toString(), 'one two')
    const last = chunks.at(-1)
    assert.equal(last.upToDate, true)
    assert.equal(last.streamClosed, false)
    assert.equal(last.partial, false)
    assert.equal(last.status, 200)
    assert.equal(last.nextOffset, (await s.head()).nextOffset)
  })

  for (const live of ['long-poll', 'sse', 'auto', true]) {
    it(`follows new data live (live: ${JSON.stringify(live)})`, async () => {
      const s = await textStream()
      await s.append('a')
      const seen = []
      const writer = (async () => {
        await sleep(150)
        await rawAppend(env.server.url, s.path, 'b', 'text/plain')
        await sleep(150)
        await s.append('c')
        await sleep(150)
        await s.close()
      })()
      for await (const c of s.read({ live })) {
        if (c.data.length) seen.push(c.text())
        if (c.streamClosed) break
      }
      await writer
      assert.equal(seen.join(''), 'abc')
    })
  }

  it('yields an empty up-to-date chunk when a long-poll times out', async () => {
    const s = await textStream()
    const session = s.read({ offset: 'now', live: 'long-poll' })
    const first = await session.next()
    assert.equal(first.done, false)
    assert.equal(first.value.status, 204)
    assert.equal(first.value.data.length, 0)
    assert.equal(first.value.upToDate, true)
    session.close()
    assert.deepEqual(await session.next(), { done: true, value: undefined })
  })

  it('reads JSON messages one by one, live over SSE', async () => {
    const s = await textStream('application/json')
    await s.appendJsonBatch([{ n: 1 }, { n: 2 }])
    const writer = (async () => {
      await sleep(150)
      await s.appendJson({ n: 3 })
      await s.close({ data: '{"n":4}' })
    })()
    const items = []
    for await (const item of s.readJson({ live: 'sse' })) items.push(item)
    await writer
    assert.deepEqual(items, [{ n: 1 }, { n: 2 }, { n: 3 }, { n: 4 }])
  })

  it('gives chunk.json() and session.json()', async () => {
    const s = await textStream('application/json')
    await s.appendJsonBatch([1, 'two', { three: 3 }])
    const chunks = []
    for await (const c of s.read()) chunks.push(...c.json())
    assert.deepEqual(chunks, [1, 'two', { three: 3 }])
    const items = []
    for await (const i of s.read().json()) items.push(i)
    assert.deepEqual(items, [1, 'two', { three: 3 }])
  })

  it('refuses JSON iteration of a byte stream', async () => {
    const s = await textStream('application/octet-stream')
    await s.append('xyz')
    await assert.rejects(async () => {
      for await (const _ of s.readJson()) void _
    }, { code: 'INVALID_ARGUMENT', field: 'contentType' })
  })

  it('resumes from a saved offset without duplicates', async () => {
    const s = await textStream()
    await s.append('first')
    const session = s.read()
    for await (const _ of session) void _
    const saved = session.offset
    await s.append('second')
    let text = ''
    for await (const c of s.read({ offset: saved })) text += c.text()
    assert.equal(text, 'second')
  })

  it('splits large responses into partial pieces', async () => {
    const s = await textStream('application/octet-stream')
    await s.append(Buffer.alloc(10_000, 7))
    const chunks = []
    for await (const c of s.read({ maxChunkBytes: 4096 })) chunks.push(c)
    assert.ok(chunks.length >= 3, `expected pieces, got ${chunks.length}`)
    assert.ok(chunks.slice(0, -1).every((c) => c.partial))
    assert.equal(chunks.at(-1).partial, false)
    assert.equal(chunks.reduce((n, c) => n + c.data.length, 0), 10_000)
  })

  for (const live of ['long-poll', 'sse']) {
    it(`an AbortSignal cancels a waiting ${live} read promptly`, async () => {
      const s = await textStream()
      const ac = new AbortController()
      const reason = new Error('user gave up')
      setTimeout(() => ac.abort(reason), 200)
      const { ms, error } = await timed(
        (async () => {
          for await (const _ of s.read({ offset: 'now', live, signal: ac.signal })) void _
        })(),
      )
      assert.equal(error, reason, 'rejects with signal.reason')
      assert.ok(ms < 2000, `took ${ms} ms`)
    })
  }

  it('an already aborted signal rejects before any I/O', async () => {
    const s = await textStream()
    await assert.rejects(s.head({ signal: AbortSignal.abort() }), { name: 'AbortError' })
    await assert.rejects(s.read({ signal: AbortSignal.abort() }).next(), { name: 'AbortError' })
  })

  it('an AbortSignal cancels an append in flight (the Rust future is dropped)', async () => {
    const s = await textStream()
    await injectFault(env.server.url, { path: s.path, delayMs: 3000, method: 'POST' })
    try {
      const { ms, error } = await timed(s.append('late', { signal: AbortSignal.timeout(200) }))
      assert.equal(error?.name, 'TimeoutError', 'AbortSignal.timeout() reason')
      assert.ok(ms < 2000, `took ${ms} ms`)
    } finally {
      await clearFaults(env.server.url)
    }
  })

  it('hands each chunk to exactly one of several concurrent next() callers', async () => {
    const s = await textStream()
    const session = s.read({ live: 'long-poll' })
    const first = await session.next() // the empty catch-up
    assert.equal(first.value.upToDate, true)
    const waiting = Array.from({ length: 4 }, () => session.next())
    for (let i = 0; i < 4; i++) {
      await rawAppend(env.server.url, s.path, `x${i};`, 'text/plain')
      await sleep(100)
    }
    const got = (await Promise.all(waiting)).map((r) => r.value.text())
    const all = got.join('')
    for (let i = 0; i < 4; i++) assert.equal(all.split(`x${i};`).length - 1, 1, `x${i} delivered once: ${JSON.stringify(got)}`)
    assert.equal(session.offset, (await s.head()).nextOffset, 'position follows the chunks taken')
    session.close()
    assert.deepEqual(await session.next(), { done: true, value: undefined })
  })

  it('break ends the session', async () => {
    const s = await textStream()
    await s.append('x')
    const session = s.read({ live: 'long-poll' })
    for await (const c of session) {
      assert.equal(c.text(), 'x')
      break
    }
    assert.equal(session.done, true)
  })
})
