// Quick start (run by ci.sh against the reference server): DS_URL=http://127.0.0.1:4437
import { Client, StreamClosedError } from 'durable-streams-sdk'

interface Order {
  id: number
  item: string
}

const client = new Client(process.env.DS_URL ?? 'http://127.0.0.1:4437', {
  // Called before every request (retries included); may be async.
  dynamicHeaders: { 'x-request-id': () => crypto.randomUUID() },
  retry: { maxRetries: 5 },
})

const orders = client.stream(`/quickstart/orders-${Date.now()}`)
await orders.create({ contentType: 'application/json' })
await orders.appendJson({ id: 1, item: 'book' } satisfies Order)

// Batched, pipelined, exactly-once writes.
const producer = await orders.producer({ producerId: 'checkout-1' })
producer.append({ id: 2, item: 'pen' }) // enqueued at once
const ack = await producer.append({ id: 3, item: 'ink' }, { ack: true })
console.log(`order 3 stored, stream tail at ${ack.nextOffset}`)
await producer.close() // flushes, then closes the stream

// Read everything, following the stream live (SSE) until it is closed.
for await (const order of orders.readJson<Order>({ live: 'sse' })) {
  console.log(`order ${order.id}: ${order.item}`)
}

try {
  await orders.appendJson({ id: 4, item: 'late' })
} catch (err) {
  if (err instanceof StreamClosedError) console.log(`closed at ${err.nextOffset} (${err.code}, HTTP ${err.status})`)
  else throw err
}
await client.close()
