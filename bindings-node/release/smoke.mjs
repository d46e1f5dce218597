// Smoke test of the installed release packages (run by bindings-node/ci.sh from an empty
// project where only the main and the linux-x64-gnu tarballs were `npm install`ed): the
// platform package's binary loads, and the main operations work against a real
// reference server.
//
//   node smoke.mjs REF_SERVER_MJS
//
// Prints one line per check and `summary: ...: N passed, N failed, N skipped`.
import { spawn } from 'node:child_process'
import { createRequire } from 'node:module'
import { randomUUID } from 'node:crypto'
import { once } from 'node:events'
import { createInterface } from 'node:readline'
import assert from 'node:assert/strict'
import { Client, DurableStreamError, StreamNotFoundError } from 'durable-streams-sdk'

const results = []
async function check(name, fn) {
  try {
    await fn()
    results.push([name, null])
    console.log(`ok   ${name}`)
  } catch (e) {
    results.push([name, e])
    console.log(`FAIL ${name}: ${e?.stack ?? e}`)
  }
}

// The reference server prints its URL first and stops when its stdin closes.
const server = spawn(process.execPath, [process.argv[2]], { stdio: ['pipe', 'pipe', 'inherit'] })
const [url] = await once(createInterface({ input: server.stdout }), 'line')

const client = new Client(url)
const s = client.stream(`/release-smoke/${randomUUID()}`)
const require = createRequire(import.meta.url)

await check('the binary comes from the installed platform package', () => {
  const plat = require.resolve('durable-streams-sdk-linux-x64-gnu/package.json')
  const main = require.resolve('durable-streams-sdk/package.json')
  assert.match(plat, /node_modules\/durable-streams-sdk-linux-x64-gnu\//)
  assert.match(main, /node_modules\/durable-streams-sdk\//)
})

await check('create, append, read back', async () => {
  await s.create({ contentType: 'text/plain' })
  await s.append('hello ')
  await s.append('world')
  let text = ''
  for await (const chunk of s.read({ live: false })) text += chunk.text()
  assert.equal(text, 'hello world')
})

await check('producer: append, flush, stats', async () => {
  const p = await s.producer({ producerId: `smoke-${randomUUID().slice(0, 8)}` })
  for (let i = 0; i < 100; i++) p.append(`${i},`)
  await p.flush()
  const st = p.stats()
  assert.equal(st.messagesAcked, 100, JSON.stringify(st))
  assert.equal(st.inFlight, 0, JSON.stringify(st))
  await p.close()
})

await check('typed error classes', async () => {
  await assert.rejects(client.stream(`/release-smoke/missing-${randomUUID()}`).head(), (e) => {
    assert.ok(e instanceof StreamNotFoundError && e instanceof DurableStreamError, String(e))
    assert.equal(e.code, 'NOT_FOUND')
    return true
  })
})

await client.close()
server.stdin.end()
await once(server, 'exit')
const failed = results.filter(([, e]) => e).length
console.log(`summary: release npm packages smoke (empty project): ${results.length - failed} passed, ${failed} failed, 0 skipped`)
process.exitCode = failed || results.length === 0 ? 1 : 0
