// Compiled with `tsc --noEmit` (never run): the public types must cover real usage.
import {
  Client,
  DurableStreamError,
  StaleEpochError,
  StreamClosedError,
  type Acked,
  type Chunk,
  type ConsumerEnd,
  type ConsumerEvent,
  type ConsumerStats,
  type StreamMetadata,
} from 'durable-streams-sdk'

interface Order {
  id: number
  item: string
}

export async function usage(baseUrl: string): Promise<void> {
  const client = new Client(baseUrl, {
    headers: { 'x-app': 'demo' },
    dynamicHeaders: { authorization: async () => `Bearer ${await Promise.resolve('t')}`, 'x-req': () => 'r' },
    dynamicParams: { tenant: () => 'acme' },
    retry: { maxRetries: 3, initialDelayMs: 50, maxDelayMs: 1000, multiplier: 2, appendRetry: 'when-unprocessed' },
    requestTimeoutMs: 10_000,
  })
  const stream = client.stream('/orders', { contentType: 'application/json' })
  const created = await stream.create({ contentType: 'application/json', ttlSeconds: 3600 })
  const isNew: boolean = created.created
  void isNew

  const r1 = await stream.appendJson({ id: 1, item: 'book' } satisfies Order)
  const next: string | undefined = r1.nextOffset
  void next
  await stream.append(Buffer.from('{"id":2,"item":"pen"}'))
  await stream.append(new Uint8Array([123, 125]))
  await stream.append({ id: 3, item: 'cup' })
  await stream.appendJsonBatch([{ id: 4, item: 'ink' }])

  const meta: StreamMetadata = await stream.head()
  const tail: string = meta.nextOffset
  void tail

  const ac = new AbortController()
  for await (const chunk of stream.read({ offset: '-1', live: 'sse', signal: ac.signal })) {
    const c: Chunk = chunk
    const bytes: Buffer = c.data
    const orders: Order[] = c.json<Order>()
    void bytes
    void orders
    if (c.upToDate) break
  }
  for await (const order of stream.readJson<Order>({ live: false })) {
    const id: number = order.id
    void id
  }
  const session = stream.read({ live: 'long-poll' })
  const first = await session.next()
  if (!first.done) console.log(first.value.nextOffset, session.offset)
  session.close()
  const all: Order[] = await stream.readAllJson<Order>()
  const raw: Buffer = await stream.readAll({ offset: '-1' })
  void all
  void raw

  const producer = await stream.producer({
    producerId: 'writer-1',
    epoch: 0,
    autoClaim: true,
    lingerMs: 5,
    onError: (err, messages) => console.error(err.code, messages.length),
  })
  const maybe = producer.append({ id: 5, item: 'mug' })
  if (maybe) await maybe
  const acked: Acked = await producer.append({ id: 6, item: 'lamp' }, { ack: true })
  const seq: number = acked.seq
  void seq
  await producer.appendMany([{ id: 7, item: 'cup' }, { id: 8, item: 'jar' }])
  const manyAcked: Acked = await producer.appendMany([{ id: 9, item: 'pot' }], { ack: true })
  void manyAcked
  await producer.flush()
  await producer.close()

  for await (const ev of stream.consume({ offset: '-1', live: false })) {
    const e: ConsumerEvent = ev
    if (e.type === 'batch') console.log(e.batch.json<Order>())
    else if (e.type === 'reconnecting') console.log(e.error.code, e.retryInMs)
  }
  const handle = stream.subscribe(
    {
      onBatch: async (batch) => {
        console.log(batch.json<Order>().length)
      },
      onError: (err) => err.transient,
      onUpToDate: (offset) => console.log(offset),
      onClosed: (finalOffset) => console.log(finalOffset),
    },
    { live: 'auto' },
  )
  handle.pause()
  const cs: ConsumerStats = handle.stats()
  const reconnects: number = cs.reconnects
  const lastError: string | undefined = cs.lastError
  void [reconnects, lastError]
  handle.resume()
  const end: ConsumerEnd = await handle.stop()
  const done: ConsumerEnd = await handle.done
  console.log(end.reason, done.offset, handle.checkpoint)

  try {
    await stream.append('x', { signal: AbortSignal.timeout(100) })
  } catch (err) {
    if (err instanceof StreamClosedError) console.log(err.nextOffset, err.status)
    else if (err instanceof StaleEpochError) console.log(err.currentEpoch)
    else if (err instanceof DurableStreamError) console.log(err.code, err.transient)
  }
  await client.close()
}
