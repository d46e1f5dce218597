// The producer's per-run hand-over (lib/index.js, Producer): plain appends of one
// synchronous run reach the core together. These tests hold it to what one native call
// per message guaranteed: order, exact back-pressure, synchronous input errors, and no
// silent loss.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { InvalidArgumentError } from 'durable-streams-sdk'
import { serverAndClient, uniquePath } from './helpers.mjs'

// The core's charge per buffered message beyond its bytes (core/src/producer.rs).
const OVERHEAD = 96

describe('producer: appends of one synchronous run', () => {
  const env = serverAndClient()

  async function stream(contentType = 'application/json') {
    const s = env.client.stream(uniquePath())
    await s.create({ contentType })
    return s
  }

  it('keeps call order across append, appendMany and acked appends in one run', async () => {
    const s = await stream()
    const p = await s.producer({ producerId: 'mix', lingerMs: 1 })
    const acks = []
    let n = 0
    // More than one hand-over's worth (256), with every kind of call in between.
    for (let round = 0; round < 40; round++) {
      for (let k = 0; k < 9; k++) p.append(k % 2 ? { n: n++ } : JSON.stringify({ n: n++ }))
      p.appendMany([{ n: n++ }, JSON.stringify({ n: n++ })])
      if (round % 5 === 0) acks.push({ n, ack: p.append({ n: n++ }, { ack: true }) })
    }
    for (let k = 0; k < 3; k++) p.append({ n: n++ }) // held until the run ends
    const firstAck = await acks[0].ack
    assert.equal(typeof firstAck.nextOffset, 'string')
    await p.flush()
    assert.deepEqual((await s.readAllJson()).map((m) => m.n), Array.from({ length: n }, (_, i) => i))
    for (const { ack } of acks) assert.equal((await ack).duplicate, false)
    await p.detach()
  })

  it('hands held messages over before an acked append is acknowledged', async () => {
    const s = await stream()
    const p = await s.producer({ producerId: 'ack-after', lingerMs: 50 })
    p.append({ n: 0 })
    p.append({ n: 1 }) // held
    p.append({ n: 2 }) // held
    const acked = await p.append({ n: 3 }, { ack: true })
    // No flush: the ack alone means everything before it is stored.
    assert.deepEqual((await s.readAllJson()).map((m) => m.n), [0, 1, 2, 3])
    assert.equal(acked.nextOffset, (await s.head()).nextOffset)
    await p.detach()
  })

  it('sends what a run held without any further call', async () => {
    const s = await stream()
    const p = await s.producer({ producerId: 'end-of-run', lingerMs: 1 })
    for (let i = 0; i < 10; i++) assert.equal(p.append({ i }), undefined)
    const deadline = Date.now() + 5000
    let got = []
    while (got.length < 10 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20))
      got = await s.readAllJson()
    }
    assert.deepEqual(got.map((m) => m.i), Array.from({ length: 10 }, (_, i) => i))
    await p.detach()
  })

  it('returns a Promise from exactly the appends that find the buffer full', async () => {
    const s = await stream('application/octet-stream')
    const size = 16
    const fit = 5
    // Room for `fit` messages; a long linger so nothing lands while the run lasts.
    const p = await s.producer({ producerId: 'bp-run', bufferLimitBytes: fit * (size + OVERHEAD), lingerMs: 100 })
    const results = []
    for (let i = 0; i < 12; i++) results.push(p.append(Buffer.alloc(size, i)))
    results.forEach((r, i) => {
      if (i < fit) assert.equal(r, undefined, `append ${i} fits`)
      else assert.ok(r instanceof Promise, `append ${i} finds the buffer full`)
    })
    await Promise.all(results.filter(Boolean))
    // Room again: the next run holds messages again, still in order.
    for (let i = 12; i < 40; i++) {
      const r = p.append(Buffer.alloc(size, i))
      if (r) await r
    }
    await p.flush()
    const all = await s.readAll()
    assert.equal(all.length, 40 * size)
    for (let i = 0; i < 40; i++) assert.equal(all[i * size], i, `message ${i} in order`)
    await p.detach()
  })

  it('counts an acked append against the room held messages may use', async () => {
    const s = await stream('application/octet-stream')
    const size = 16
    const p = await s.producer({ producerId: 'bp-ack', bufferLimitBytes: 5 * (size + OVERHEAD), lingerMs: 100 })
    const plain = [p.append(Buffer.alloc(size, 0))]
    const ack = p.append(Buffer.alloc(size, 1), { ack: true })
    for (let i = 2; i < 6; i++) plain.push(p.append(Buffer.alloc(size, i)))
    // Five fit: 0, the acked 1, and 2..4; 5 has to wait.
    assert.deepEqual(plain.map((r) => r instanceof Promise), [false, false, false, false, true])
    await Promise.all([ack, ...plain.filter(Boolean)])
    await p.flush()
    assert.deepEqual([...(await s.readAll())].filter((_, k) => k % size === 0), [0, 1, 2, 3, 4, 5])
    await p.detach()
  })

  it('throws InvalidArgumentError synchronously for a value that cannot be sent, held or not', async () => {
    const s = await stream()
    const p = await s.producer({ producerId: 'sync-errors' })
    const cyclic = {}
    cyclic.self = cyclic
    p.append({ n: 0 }) // the run's first append: straight to the core
    p.append({ n: 1 }) // held
    for (const bad of [undefined, () => 1, Symbol('s'), { big: 1n }, cyclic]) {
      assert.throws(() => p.append(bad), (e) => e instanceof InvalidArgumentError && e.field === 'data', String(typeof bad))
    }
    p.append({ n: 2 })
    await p.flush()
    assert.deepEqual((await s.readAllJson()).map((m) => m.n), [0, 1, 2])
    await p.detach()
  })

  it('rejects the next flush and calls onError for held JSON text the core refuses; keeps the rest', async () => {
    const s = await stream()
    const lost = []
    const p = await s.producer({ producerId: 'held-bad', onError: (err, messages) => lost.push({ err, messages }) })
    assert.throws(() => p.append('{first bad'), InvalidArgumentError, 'the first of a run is checked at once')
    p.append({ n: 0 })
    p.append('{not json') // held: checked when handed over
    p.append('{"n":1}')
    await assert.rejects(p.flush(), (e) => e instanceof InvalidArgumentError && e.field === 'data')
    assert.equal(lost.length, 1)
    assert.ok(lost[0].err instanceof InvalidArgumentError)
    assert.deepEqual(lost[0].messages.map((m) => m.toString()), ['{not json'])
    assert.deepEqual((await s.readAllJson()).map((m) => m.n), [0, 1], 'the valid messages are kept, in order')
    await p.flush() // reported once
    p.append({ n: 2 })
    p.append('{again')
    await assert.rejects(p.close(), InvalidArgumentError, 'close reports it too')
    assert.deepEqual((await s.readAllJson()).map((m) => m.n), [0, 1, 2])
    assert.equal((await s.head()).closed, true)
  })

  it('sends held strings byte for byte as one append each would, whatever their characters', async () => {
    const s = await stream('application/octet-stream')
    const p = await s.producer({ producerId: 'utf16' })
    // Lone surrogates at the ends of neighbours (the join makes a pair of them), also
    // across an empty string; a lone surrogate alone; non-ASCII of every UTF-8 length.
    const parts = ['first', 'a\uD83D', '\uDE00b', 'é€', '😀', '', 'x\uD83D', '', '\uDE00', '\uDE00', '\uD83D', 'tail', 'ascii']
    const sent = []
    for (let round = 0; round < 30; round++) for (const t of parts) sent.push(t + (round % 7 ? '' : String(round)))
    for (const t of sent) assert.equal(p.append(t), undefined)
    await p.flush()
    assert.deepEqual(await s.readAll(), Buffer.concat(sent.map((t) => Buffer.from(t, 'utf8'))))
    await p.detach()
  })

  it('sends held non-ASCII JSON text intact', async () => {
    const s = await stream()
    const p = await s.producer({ producerId: 'utf16-json' })
    const values = Array.from({ length: 600 }, (_, i) => ({ i, t: ['plain', 'é', '€uro', '😀 emoji', '\u2028'][i % 5] }))
    for (const v of values) p.append(JSON.stringify(v))
    await p.flush()
    assert.deepEqual(await s.readAllJson(), values)
    await p.detach()
  })

  it('stores a held Buffer as it was at the call, whatever the caller does to it later', async () => {
    const s = await stream('application/octet-stream')
    const p = await s.producer({ producerId: 'reuse' })
    const b = Buffer.alloc(1)
    const u = new Uint8Array(1)
    for (let i = 0; i < 50; i++) {
      b[0] = i
      p.append(i % 2 ? b : u.fill(i))
    }
    b[0] = 255
    u[0] = 255
    await p.flush()
    assert.deepEqual([...(await s.readAll())], Array.from({ length: 50 }, (_, i) => i))
    await p.detach()
  })
})
