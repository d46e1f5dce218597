// Consumer stats (core/src/stats.rs through the binding): counts match what was consumed,
// reconnects are counted with their cause.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { Client } from 'durable-streams-sdk'
import { serverAndClient, uniquePath, injectFault, clearFaults } from './helpers.mjs'

describe('consumer stats', () => {
  const env = serverAndClient()

  it('a pulled consumer counts the batches and bytes it handed out', async () => {
    const s = env.client.stream(uniquePath())
    await s.create({ contentType: 'text/plain' })
    for (const part of ['a', 'bb', 'ccc']) await s.append(part)
    const c = s.consume({ live: false, maxChunkBytes: 2 }) // small chunks: several batches
    const before = c.stats()
    assert.equal(before.batches, 0)
    assert.equal(before.bytes, 0)
    let batches = 0
    let data = ''
    for await (const ev of c) {
      if (ev.type === 'batch') {
        batches++
        data += ev.batch.text()
      }
    }
    const st = c.stats()
    assert.equal(data, 'abbccc')
    assert.ok(batches >= 3, `batches ${batches}`)
    assert.equal(st.batches, batches)
    assert.equal(st.bytes, 6)
    assert.equal(st.reconnects, 0)
    assert.equal(st.lastError ?? null, null)
    assert.equal(st.checkpoint, c.checkpoint)
    assert.equal(st.checkpoint, (await s.head()).nextOffset)
  })

  it('a pushed consumer counts reconnects and their cause', async (t) => {
    t.after(() => clearFaults(env.server.url))
    // No env.client retries: the injected 503 reaches the consumer, which reconnects.
    const noRetry = new Client(env.server.url, { retry: { maxRetries: 0 } })
    t.after(() => noRetry.close())
    const p = uniquePath()
    const s = noRetry.stream(p)
    await s.create({ contentType: 'text/plain' })
    await s.append('hello')
    await s.append('world!')
    await s.close()
    await injectFault(env.server.url, { path: p, status: 503, count: 1, method: 'GET' })
    let seen = 0
    const h = s.subscribe({ onBatch: (b) => void (seen += b.data.length) }, { live: 'long-poll', backoffBaseMs: 50, backoffMaxMs: 100 })
    const end = await h.done
    const st = h.stats()
    assert.equal(end.reason, 'closed')
    assert.equal(seen, 11)
    assert.equal(st.bytes, 11)
    assert.ok(st.batches >= 1, JSON.stringify(st))
    assert.equal(st.reconnects, 1, JSON.stringify(st))
    assert.match(st.lastError ?? '', /503/)
    assert.equal(st.checkpoint, end.offset)
  })
})
