// The idempotent producer: ordering, acknowledgements, backpressure, fencing, close/detach.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { StaleEpochError, ClosedError, InvalidArgumentError } from 'durable-streams-sdk'
import { serverAndClient, uniquePath, injectFault, clearFaults } from './helpers.mjs'


describe('producer', () => {
  const env = serverAndClient()

  it('enqueues synchronously and keeps call order across batches', async () => {
    const s = await env.jsonStream()
    const p = await s.producer({ producerId: 'order', maxBatchItems: 7, lingerMs: 1 })
    for (let i = 0; i < 100; i++) {
      assert.equal(p.append({ i }), undefined, 'enqueued at once')
    }
    await p.flush()
    assert.deepEqual(
      (await s.readAllJson()).map((m) => m.i),
      Array.from({ length: 100 }, (_, i) => i),
    )
    assert.ok(p.nextSeq >= 15, `100 messages in batches of 7: ${p.nextSeq} batches`)
    await p.detach()
  })

  it('keeps order per caller with several producers appended to from many async tasks', async () => {
    const s = await env.jsonStream()
    const producers = await Promise.all([0, 1, 2].map((k) => s.producer({ producerId: `many-${k}`, lingerMs: 1, bufferLimitBytes: 4096 })))
    const tasks = 24
    const perTask = 150
    await Promise.all(
      Array.from({ length: tasks }, async (_, t) => {
        const p = producers[t % producers.length]
        for (let i = 0; i < perTask; i++) {
          const r = i % 10 === 9 ? p.appendMany([{ t, i }]) : p.append({ t, i }) // a small buffer: some wait
          if (r) await r
          if (i % 7 === 0) await new Promise((r) => setImmediate(r)) // interleave the tasks
        }
      }),
    )
    await Promise.all(producers.map((p) => p.flush()))
    const got = await s.readAllJson()
    assert.equal(got.length, tasks * perTask, 'nothing lost or duplicated')
    const seen = new Set()
    const last = new Map()
    for (const { t, i } of got) {
      const key = `${t}/${i}`
      assert.ok(!seen.has(key), `duplicate ${key}`)
      seen.add(key)
      assert.equal(i, (last.get(t) ?? -1) + 1, `task ${t}: message ${i} in call order`)
      last.set(t, i)
    }
    await Promise.all(producers.map((p) => p.detach()))
  })

  it('appendMany enqueues many messages in one call, acknowledged together', async () => {
    const s = await env.jsonStream()
    const p = await s.producer({ producerId: 'many' })
    assert.equal(p.appendMany([{ n: 0 }, { n: 1 }]), undefined)
    const acked = await p.appendMany([{ n: 2 }, '{"n":3}'], { ack: true })
    assert.equal(acked.nextOffset, (await s.head()).nextOffset, 'the ack is the last message\'s')
    assert.deepEqual((await s.readAllJson()).map((m) => m.n), [0, 1, 2, 3])
    assert.throws(() => p.appendMany([{ ok: 1 }, '{bad']), (e) => e instanceof InvalidArgumentError && e.field === 'data')
    await p.detach()
  })

  it('acknowledges messages with their offset', async () => {
    const s = await env.jsonStream()
    const p = await s.producer({ producerId: 'acks' })
    const a1 = p.append({ n: 1 }, { ack: true })
    const a2 = p.append('{"n":2}', { ack: true })
    const [r1, r2] = await Promise.all([a1, a2])
    assert.equal(r1.duplicate, false)
    assert.equal(r1.epoch, 0)
    assert.equal(typeof r2.nextOffset, 'string')
    assert.equal(r2.nextOffset, (await s.head()).nextOffset)
    await p.close()
    assert.equal((await s.head()).closed, true)
  })

  it('accepts bytes and strings on byte streams', async () => {
    const s = env.client.stream(uniquePath())
    await s.create({ contentType: 'application/octet-stream' })
    const p = await s.producer({ producerId: 'bytes' })
    p.append(Buffer.from('ab'))
    p.append(new Uint8Array([99]))
    p.append('d')
    await p.flush()
    assert.equal((await s.readAll()).toString(), 'abcd')
    const closed = await p.close('e')
    assert.equal((await s.readAll()).toString(), 'abcde')
    assert.equal(closed.finalOffset, (await s.head()).nextOffset)
  })

  it('applies backpressure with a Promise once the buffer limit is reached', async () => {
    const s = env.client.stream(uniquePath())
    await s.create({ contentType: 'application/octet-stream' })
    // The core charges each buffered message its bytes plus a fixed overhead (96 bytes
    // today), so this limit holds a handful of 16-byte messages, far fewer than 40.
    const p = await s.producer({ producerId: 'bp', bufferLimitBytes: 480, lingerMs: 20, maxBatchBytes: 32 })
    const results = []
    for (let i = 0; i < 40; i++) results.push(p.append(Buffer.alloc(16, i)))
    assert.ok(results.some((r) => r instanceof Promise), 'some appends had to wait')
    await Promise.all(results.filter(Boolean))
    await p.flush()
    const all = await s.readAll()
    assert.equal(all.length, 40 * 16)
    for (let i = 0; i < 40; i++) assert.equal(all[i * 16], i, `message ${i} in order`)
    await p.detach()
  })

  it('fences a stale epoch: StaleEpochError with currentEpoch, via onError and flush', async () => {
    const s = await env.jsonStream()
    const newer = await s.producer({ producerId: 'fence', epoch: 5 })
    await newer.append({ by: 'newer' }, { ack: true })
    const errors = []
    const older = await s.producer({
      producerId: 'fence',
      epoch: 1,
      onError: (err, messages) => errors.push({ err, messages }),
    })
    const ack = older.append({ by: 'older' }, { ack: true })
    await assert.rejects(ack, (e) => e instanceof StaleEpochError && e.currentEpoch === 5 && e.status === 403)
    await assert.rejects(older.flush(), StaleEpochError)
    assert.equal(errors.length, 1)
    assert.ok(errors[0].err instanceof StaleEpochError)
    assert.deepEqual(JSON.parse(errors[0].messages[0].toString()), { by: 'older' })
    assert.throws(() => older.append({ again: true }), StaleEpochError, 'a failed producer refuses appends')
    await newer.detach()
  })

  it('auto-claims a newer epoch', async () => {
    const s = await env.jsonStream()
    const first = await s.producer({ producerId: 'claim', epoch: 3 })
    await first.append({ n: 1 }, { ack: true })
    await first.detach()
    const second = await s.producer({ producerId: 'claim', epoch: 0, autoClaim: true })
    const acked = await second.append({ n: 2 }, { ack: true })
    assert.equal(acked.epoch, 4)
    assert.equal(second.epoch, 4)
    await second.detach()
    assert.deepEqual(await s.readAllJson(), [{ n: 1 }, { n: 2 }])
  })

  it('retries through server errors without duplicates', async () => {
    const s = await env.jsonStream()
    await injectFault(env.server.url, { path: s.path, status: 503, count: 2, method: 'POST' })
    try {
      const p = await s.producer({ producerId: 'retry' })
      const acked = await p.append({ n: 1 }, { ack: true })
      assert.equal(acked.seq, 0)
      await p.detach()
      assert.deepEqual(await s.readAllJson(), [{ n: 1 }])
    } finally {
      await clearFaults(env.server.url)
    }
  })

  it('rejects invalid options and data', async () => {
    const s = await env.jsonStream()
    await assert.rejects(s.producer({ producerId: '' }), (e) => e instanceof InvalidArgumentError && e.field === 'producerId')
    await assert.rejects(s.producer({ producerId: 'x', maxBatchItems: 0 }), { field: 'maxBatchItems' })
    await assert.rejects(s.producer({ producerId: 'x', lingerMs: -1 }), { field: 'lingerMs' })
    const p = await s.producer({ producerId: 'bad-data' })
    assert.throws(() => p.append('{not json'), (e) => e instanceof InvalidArgumentError && e.field === 'data')
    await p.detach()
    assert.throws(() => p.append({ late: true }), ClosedError)
  })
})
