// Opt-in logging (DEBUG=durable-streams*): a retried request logs its retry on stderr,
// and no header, token or query value appears in any line. Each case runs a child Node
// process, since the environment is read when the native module loads.
import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { startServer, uniquePath, injectFault, clearFaults } from './helpers.mjs'

const pkgRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const SECRET = 's3cr3t-token-4f9a'

// Runs `body` (ESM, with Client imported and URL/PATH/SECRET defined) in a child process.
function run(env, body) {
  const script = `
    import { Client } from 'durable-streams-sdk'
    const URL = process.env.T_URL, PATH = process.env.T_PATH, SECRET = process.env.T_SECRET
    ${body}
  `
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
      cwd: pkgRoot,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stderr = ''
    child.stderr.on('data', (d) => (stderr += d))
    child.once('error', reject)
    child.once('exit', (code) => (code === 0 ? resolve(stderr) : reject(new Error(`child exited ${code}: ${stderr}`))))
  })
}

describe('logging', () => {
  let server
  before(async () => {
    server = await startServer()
  })
  after(async () => {
    await clearFaults(server.url)
    await server.stop()
  })

  it('a retried request logs its retry (DEBUG=durable-streams*)', async () => {
    const p = uniquePath('node-log')
    const env = { T_URL: server.url, T_PATH: p }
    await run({ ...env, DEBUG: '' }, `await new Client(URL).stream(PATH).create({ contentType: 'text/plain' })`)
    await injectFault(server.url, { path: p, status: 503, count: 1, method: 'HEAD' })
    const stderr = await run(
      { ...env, DEBUG: 'durable-streams*' },
      `await new Client(URL, { retry: { maxRetries: 3, initialDelayMs: 20 } }).stream(PATH).head()`,
    )
    const lines = stderr.split('\n').filter((l) => l.startsWith('durable-streams:'))
    const retry = lines.find((l) => l.includes(' retry '))
    assert.ok(retry, `no retry line in:\n${stderr}`)
    assert.match(retry, /^durable-streams:http INFO retry method=HEAD path=\S+ attempt=1 reason=status 503 delay_ms=\d+$/)
    assert.ok(lines.some((l) => /request method=HEAD .*status=503/.test(l)), stderr)
    assert.ok(lines.some((l) => /request method=HEAD .*status=200/.test(l)), stderr)
  })

  it('is off without DEBUG', async () => {
    const p = uniquePath('node-log')
    const stderr = await run(
      { T_URL: server.url, T_PATH: p, DEBUG: 'express:*' },
      `await new Client(URL).stream(PATH).create({ contentType: 'text/plain' })`,
    )
    assert.equal(stderr.includes('durable-streams:'), false, stderr)
  })

  it('never writes a header, token or query value', async () => {
    const p = uniquePath('node-log')
    await injectFault(server.url, { path: p, status: 503, count: 1, method: 'PUT' })
    const stderr = await run(
      { T_URL: server.url, T_PATH: p, T_SECRET: SECRET, DEBUG: 'durable-streams*' },
      `const client = new Client(URL, {
         headers: { authorization: 'Bearer ' + SECRET },
         dynamicHeaders: { 'x-api-key': () => SECRET },
         dynamicParams: { token: () => SECRET },
         retry: { maxRetries: 3, initialDelayMs: 20 },
       })
       const s = client.stream(PATH)
       await s.create({ contentType: 'text/plain' })
       await s.append('x')
       const producer = await s.producer({ producerId: 'p-secret' })
       producer.append('y')
       await producer.flush()
       const st = producer.stats()
       if (st.messagesAcked !== 1 || st.bytesAcked !== 1 || st.inFlight !== 0 || st.lastError !== undefined) {
         throw new Error('unexpected stats ' + JSON.stringify(st))
       }
       await producer.close()
       await client.close()`,
    )
    const lines = stderr.split('\n').filter((l) => l.startsWith('durable-streams:'))
    assert.ok(lines.some((l) => l.includes(' retry ')), stderr)
    assert.ok(lines.some((l) => l.includes(' batch ')), stderr)
    const leaked = lines.filter((l) => l.includes(SECRET) || l.includes('Bearer'))
    assert.deepEqual(leaked, [])
  })
})
