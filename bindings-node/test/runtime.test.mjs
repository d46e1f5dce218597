// Process lifecycle and the native boundary: the process exits by itself, panics become errors.
import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { createRequire } from 'node:module'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { InternalError } from 'durable-streams-sdk'
import { startServer } from './helpers.mjs'

const here = path.dirname(fileURLToPath(import.meta.url))

function runChild(args, timeoutMs) {
  return new Promise((resolve) => {
    const t0 = performance.now()
    const child = spawn(process.execPath, [path.join(here, 'fixtures/exit-child.mjs'), ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let out = ''
    child.stdout.on('data', (d) => (out += d))
    child.stderr.on('data', (d) => (out += d))
    const killer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
    child.on('exit', (code, signal) => {
      clearTimeout(killer)
      resolve({ code, signal, out, ms: performance.now() - t0 })
    })
  })
}

describe('runtime', () => {
  let server
  before(async () => {
    server = await startServer()
  })
  after(async () => {
    await server.stop()
  })

  for (const mode of ['finished', 'close']) {
    it(`the process exits by itself after use (${mode === 'close' ? 'client.close()' : 'everything ended'})`, async () => {
      const r = await runChild([server.url, mode], 10_000)
      assert.equal(r.signal, null, `child had to be killed; output:\n${r.out}`)
      assert.equal(r.code, 0, r.out)
      assert.match(r.out, /done true/)
      assert.ok(r.ms < 5000, `exit took ${r.ms} ms`)
    })
  }

  it('a Rust panic becomes an InternalError, not a crash', async () => {
    const require = createRequire(import.meta.url)
    const native = require(path.join(path.dirname(require.resolve('durable-streams-sdk')), 'native.js'))
    const { _internal } = require(path.join(path.dirname(require.resolve('durable-streams-sdk')), 'errors.js'))
    const sync = (() => {
      try {
        native.debugPanic('sync')
      } catch (e) {
        return _internal.fromNative(e)
      }
    })()
    assert.ok(sync instanceof InternalError, `${sync}`)
    assert.match(sync.message, /deliberate panic \(sync\)/)
    const asyncErr = await native.debugPanic('async').catch((e) => _internal.fromNative(e))
    assert.ok(asyncErr instanceof InternalError)
    assert.match(asyncErr.message, /deliberate panic \(async\)/)
  })
})
