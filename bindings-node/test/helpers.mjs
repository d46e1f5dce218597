// Test helpers: a real reference server (tests/server/ref-server.mjs) in a child process.
import { spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { randomUUID } from 'node:crypto'
import { before, after } from 'node:test'
import { Client } from 'durable-streams-sdk'

const here = path.dirname(fileURLToPath(import.meta.url))

/** Path of the reference server launcher (DS_REF_SERVER when the tests run elsewhere). */
export const refServerPath = process.env.DS_REF_SERVER || path.resolve(here, '../../tests/server/ref-server.mjs')

/** Start the reference server; `stop()` closes its stdin and waits for it to exit. */
export async function startServer({ longPollMs = 500 } = {}) {
  const child = spawn(process.execPath, [refServerPath], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, DS_PORT: '0', DS_LONGPOLL_MS: String(longPollMs) },
  })
  let stderr = ''
  child.stderr.on('data', (d) => {
    stderr += d
  })
  const url = await new Promise((resolve, reject) => {
    const rl = createInterface({ input: child.stdout })
    rl.once('line', (line) => {
      rl.close()
      resolve(line.trim())
    })
    child.once('exit', (code) => reject(new Error(`ref-server exited (${code}): ${stderr}`)))
  })
  return {
    url,
    async stop() {
      if (child.exitCode !== null) return
      const exited = new Promise((r) => child.once('exit', r))
      child.stdin.end()
      const t = setTimeout(() => child.kill('SIGKILL'), 5000)
      await exited
      clearTimeout(t)
    },
  }
}

/**
 * A reference server and a Client on it for the enclosing `describe`: started before its
 * tests, closed after them. `env.server` / `env.client` are set once the tests run.
 */
export function serverAndClient({ longPollMs, clientOptions } = {}) {
  const env = {
    server: undefined,
    client: undefined,
    /** A new stream of type application/json. */
    async jsonStream(prefix) {
      const s = env.client.stream(uniquePath(prefix))
      await s.create({ contentType: 'application/json' })
      return s
    },
  }
  before(async () => {
    env.server = await startServer({ longPollMs })
    env.client = new Client(env.server.url, clientOptions)
  })
  after(async () => {
    await env.client?.close()
    await env.server?.stop()
  })
  return env
}

/** A fresh stream path. */
export function uniquePath(prefix = 'node-test') {
  return `/${prefix}/${randomUUID()}`
}

/** Arm a fault on the server (see shared/conformance/README.md §9). */
export async function injectFault(url, fault) {
  const r = await fetch(`${url}/_test/inject-error`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(fault),
  })
  if (!r.ok) throw new Error(`inject-error failed: ${r.status} ${await r.text()}`)
}

export async function clearFaults(url) {
  await fetch(`${url}/_test/inject-error`, { method: 'DELETE' })
}

/** Append through plain HTTP (a writer other than the SDK). */
export async function rawAppend(url, p, body, contentType) {
  const r = await fetch(`${url}${p}`, { method: 'POST', headers: { 'content-type': contentType }, body })
  if (!r.ok) throw new Error(`raw append failed: ${r.status}`)
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

/** Resolves with how long `promise` took to settle, and its outcome. */
export async function timed(promise) {
  const t0 = performance.now()
  try {
    const value = await promise
    return { ms: performance.now() - t0, value }
  } catch (error) {
    return { ms: performance.now() - t0, error }
  }
}
