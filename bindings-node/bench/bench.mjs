#!/usr/bin/env node
// W1–W5 (defined in ../../bench/README.md) through the Node binding (`--client sdk`) and
// through the TypeScript reference client `@durable-streams/client` (`--client
// reference`), on identical workloads against the same kind of server. Prints figures,
// never asserts them.
//
//   node bench.mjs --workload w1 --client sdk --server-url URL   one client, one workload
//   node bench.mjs --workload w1 [--client both]                  both clients (+ rust-core
//                                                                 via ds-bench), side by side
//   node bench.mjs table FILE                                     side-by-side table of the
//                                                                 JSON lines in FILE
//
// The server (`ds-bench server`), the W2/W3 pre-fill (`ds-bench prefill`) and the W4/W5
// writer (`ds-bench writer`) are the Rust benchmark's own helpers, run as separate
// processes, so both clients see exactly the same traffic. See README.md.

import { spawn } from 'node:child_process'
import { createRequire } from 'node:module'
import { appendFileSync, existsSync, readFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { createInterface } from 'node:readline'

const here = path.dirname(fileURLToPath(import.meta.url))
const repo = path.resolve(here, '../..')
const require = createRequire(import.meta.url)

// ---------------------------------------------------------------------------------
// Options (the same names and defaults as `ds-bench`, see bench/README.md)

const SWITCHES = new Set(['quick'])

function parseArgs(argv) {
  const out = { _: [] }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    if (!a.startsWith('--')) {
      out._.push(a)
      continue
    }
    const name = a.slice(2)
    const eq = name.indexOf('=')
    if (eq >= 0) out[name.slice(0, eq)] = name.slice(eq + 1)
    else if (SWITCHES.has(name)) out[name] = 'on'
    else {
      if (i + 1 >= argv.length) throw new Error(`--${name} needs a value`)
      out[name] = argv[++i]
    }
  }
  return out
}

function parseSize(raw) {
  const m = /^([0-9._,]+)\s*([A-Za-z]*)$/.exec(String(raw).trim())
  if (!m) throw new Error(`not a size: ${raw}`)
  const n = Number(m[1].replace(/[_,]/g, ''))
  const mult = { '': 1, B: 1, k: 1e3, K: 1e3, M: 1e6, KiB: 1024, Ki: 1024, MiB: 2 ** 20, Mi: 2 ** 20, GiB: 2 ** 30, Gi: 2 ** 30 }[m[2]]
  if (mult === undefined || !Number.isFinite(n)) throw new Error(`not a size: ${raw}`)
  return Math.round(n * mult)
}

const args = parseArgs(process.argv.slice(2))
const quick = args.quick === 'on'
const size = (k, def, q) => (args[k] !== undefined ? parseSize(args[k]) : quick ? q : def)
const num = (k, def) => (args[k] !== undefined ? Number(args[k]) : def)
const flag = (k, def) => {
  const v = args[k]
  if (v === undefined) return def
  if (['on', 'true', '1', 'yes'].includes(v)) return true
  if (['off', 'false', '0', 'no'].includes(v)) return false
  throw new Error(`--${k}: expected on|off, got ${v}`)
}

// ---------------------------------------------------------------------------------
// Clients

const CLIENT_NAMES = { sdk: 'node-binding', reference: 'npm:@durable-streams/client', rust: 'rust-core' }
const JSON_CT = 'application/json'

/** The binding: the release build assembled by run.sh (bench/.build/pkg, or the package
 * directory in DS_BENCH_NODE_PKG, e.g. an older build to compare with), else the dev tree. */
function loadSdk() {
  const release = path.join(process.env.DS_BENCH_NODE_PKG || path.join(here, '.build/pkg'), 'lib/index.js')
  const dir = existsSync(release) ? release : path.join(here, '../lib/index.js')
  const sdk = require(dir)
  return { sdk, build: existsSync(release) ? 'release' : 'debug (dev tree)' }
}

function loadReference() {
  const ref = require('@durable-streams/client')
  const version = JSON.parse(readFileSync(require.resolve('@durable-streams/client/package.json'), 'utf8')).version
  return { ref, version }
}

// The reference client reads through fetch, which asks for gzip by default; the benchmark
// reads without compression (bench/README.md, "Compression").
const IDENTITY = { 'accept-encoding': 'identity' }

// ---------------------------------------------------------------------------------
// Messages (bench/README.md, "Messages")

function jsonMessage(i, size) {
  const head = `{"i":${i},"p":"`
  return head + 'x'.repeat(Math.max(0, size - head.length - 2)) + '"}'
}

/** Unix time in nanoseconds (as a double: 256 ns resolution at today's magnitude). */
function unixNs() {
  return (performance.timeOrigin + performance.now()) * 1e6
}

// ---------------------------------------------------------------------------------
// Measurement

function procCpuSeconds(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return (Number(f[11]) + Number(f[12])) / 100 // CLK_TCK = 100 on Linux
  } catch {
    return undefined
  }
}

class Meter {
  constructor(serverPid) {
    this.serverPid = serverPid
    this.serverCpu = serverPid ? procCpuSeconds(serverPid) : undefined
    this.cpu = process.cpuUsage()
    this.t = performance.now()
  }

  stop() {
    const elapsed = (performance.now() - this.t) / 1e3
    const cpu = process.cpuUsage(this.cpu)
    const srv = this.serverPid ? procCpuSeconds(this.serverPid) : undefined
    return {
      elapsed_s: elapsed,
      cpu_user_s: cpu.user / 1e6,
      cpu_sys_s: cpu.system / 1e6,
      peak_rss_mib: process.resourceUsage().maxRSS / 1024,
      server_cpu_s: srv !== undefined && this.serverCpu !== undefined ? srv - this.serverCpu : null,
    }
  }
}

function percentiles(samplesNs) {
  if (samplesNs.length === 0) return null
  const s = Float64Array.from(samplesNs).sort()
  const rank = (p) => s[Math.min(Math.max(Math.ceil(p * s.length), 1), s.length) - 1] / 1e6
  return { p50: round(rank(0.5), 3), p99: round(rank(0.99), 3), max: round(s[s.length - 1] / 1e6, 3) }
}

const round = (x, d) => (x === null || x === undefined ? null : Math.round(x * 10 ** d) / 10 ** d)
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

function resultLine(o) {
  const m = o.measured
  return {
    schema: 1,
    workload: o.workload,
    variant: o.variant ?? null,
    client: o.client,
    client_version: o.clientVersion,
    server: o.server,
    date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    cpus: os.availableParallelism(),
    compression: false,
    params: o.params,
    ok: o.ok,
    check: o.check,
    count: o.count,
    bytes: o.bytes,
    elapsed_s: round(m.elapsed_s, 3),
    throughput: round(o.throughput, 1),
    unit: o.unit,
    cpu_s: round(m.cpu_user_s + m.cpu_sys_s, 3),
    cpu_user_s: round(m.cpu_user_s, 3),
    cpu_sys_s: round(m.cpu_sys_s, 3),
    peak_rss_mib: round(m.peak_rss_mib, 1),
    latency_ms: o.latency ?? null,
    server_cpu_s: round(m.server_cpu_s, 2),
    ceiling: null,
    pct_of_ceiling: null,
  }
}

// ---------------------------------------------------------------------------------
// Helper processes (the Rust benchmark's server, pre-fill and writer)

function dsBench() {
  const exe = process.env.DS_BENCH || path.join(repo, 'target/release/ds-bench')
  if (!existsSync(exe)) throw new Error(`${exe} not found: cargo build --release -p ds-bench`)
  return exe
}

/** Run a helper to completion; resolve with its last stdout line parsed as JSON. */
function helper(argv) {
  return new Promise((resolve, reject) => {
    const child = spawn(dsBench(), argv, { stdio: ['ignore', 'pipe', 'inherit'] })
    let out = ''
    child.stdout.on('data', (d) => (out += d))
    child.on('error', reject)
    child.on('exit', (code) => {
      const last = out.trim().split('\n').at(-1) ?? ''
      if (code !== 0) return reject(new Error(`ds-bench ${argv[0]} failed (${code}): ${out}`))
      try {
        resolve(JSON.parse(last))
      } catch (e) {
        reject(new Error(`ds-bench ${argv[0]} printed ${last}: ${e.message}`))
      }
    })
  })
}

/** `ds-bench server`: a fresh reference server; `pid` is the server process itself. */
async function startServer() {
  const child = spawn(dsBench(), ['server', '--server', args.server ?? 'node'], { stdio: ['pipe', 'pipe', 'inherit'] })
  const url = await new Promise((resolve, reject) => {
    const rl = createInterface({ input: child.stdout })
    rl.once('line', (l) => resolve(l.trim()))
    child.once('exit', (c) => reject(new Error(`ds-bench server exited (${c})`)))
  })
  // ds-bench server runs the server as its child: measure that process.
  let pid
  try {
    for (const tid of readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, 'utf8').trim().split(/\s+/)) {
      if (tid) pid = Number(tid)
    }
  } catch {}
  return {
    url,
    pid,
    kind: (args.server ?? 'node') === 'node' ? 'node-ref' : 'rust',
    async stop() {
      const exited = new Promise((r) => child.once('exit', r))
      child.stdin.end()
      await exited
    },
  }
}

const runId = () => `${Date.now()}-${process.pid}`

// ---------------------------------------------------------------------------------
// W1: produce

// Both clients batch by bytes (1 MiB), linger 5 ms, 5 requests in flight (their defaults).
// - `append/msg`: W1 as defined, one append call per message;
// - `appendMany`: the binding's batch enqueue, `--batch-items` (1000) messages per call.
//   The reference client has no batch append: its row is its per-message loop again.
const W1_VARIANTS = { one: 'append/msg', many: 'appendMany' }

async function w1(client, ctx) {
  const which = args.batching ?? 'both'
  const kinds = which === 'both' ? ['one', 'many'] : [which]
  const out = []
  for (const kind of kinds) {
    if (!W1_VARIANTS[kind]) throw new Error(`--batching: one, many or both, got ${which}`)
    out.push(await w1Once(client, ctx, kind))
  }
  return out
}

async function w1Once(client, ctx, kind) {
  const n = size('messages', 1_000_000, 100_000)
  const msgSize = size('msg-size', 100, 100)
  const batchBytes = size('batch-bytes', 2 ** 20, 2 ** 20)
  const perCall = kind === 'many' ? size('batch-items', 1000, 1000) : 1
  const lingerMs = num('linger-ms', 5)
  const inFlight = size('in-flight', 5, 5)
  const p = `/bench/${runId()}/w1-${kind}-${client}`
  let measured
  let readBack = 0
  if (client === 'sdk') {
    const { Client } = ctx.sdk
    const c = new Client(ctx.url, { compression: false })
    const s = c.stream(p)
    await s.create({ contentType: JSON_CT })
    const producer = await s.producer({ producerId: `bench-w1-${process.pid}`, maxBatchBytes: batchBytes, lingerMs, maxInFlight: inFlight })
    const meter = new Meter(ctx.serverPid)
    if (perCall === 1) {
      for (let i = 0; i < n; i++) {
        const wait = producer.append(jsonMessage(i, msgSize))
        if (wait) await wait // buffer limit reached: backpressure
      }
    } else {
      for (let i = 0; i < n; i += perCall) {
        const batch = []
        for (let j = i; j < Math.min(n, i + perCall); j++) batch.push(jsonMessage(j, msgSize))
        const wait = producer.appendMany(batch)
        if (wait) await wait
      }
    }
    await producer.flush()
    measured = meter.stop()
    await producer.detach()
    for await (const chunk of s.read({ live: false })) readBack += chunk.json().length
    await c.close()
  } else {
    const { DurableStream, IdempotentProducer, stream } = ctx.ref
    const url = ctx.url + p
    const ds = await DurableStream.create({ url, contentType: JSON_CT, headers: IDENTITY })
    const errors = []
    // No batch-item limit in this client: it batches by bytes and linger only.
    const producer = new IdempotentProducer(ds, `bench-w1-${process.pid}`, { maxBatchBytes: batchBytes, lingerMs, maxInFlight: inFlight, onError: (e) => errors.push(e) })
    const meter = new Meter(ctx.serverPid)
    for (let i = 0; i < n; i++) producer.append(jsonMessage(i, msgSize)) // fire-and-forget
    await producer.flush()
    measured = meter.stop()
    await producer.detach()
    if (errors.length) throw errors[0]
    // Not res.json(): it spreads each response into one array (`push(...items)`), which
    // overflows the call stack beyond ~120k messages in one response (0.2.6).
    // (`res.closed` resolves before the subscriber has seen the last batch: wait for it.)
    const res = await stream({ url, offset: '-1', live: false, headers: IDENTITY })
    await new Promise((resolve, reject) => {
      res.subscribeJson((batch) => {
        readBack += batch.items.length
        if (batch.upToDate) resolve()
      })
      res.closed.catch(reject)
    })
  }
  return {
    workload: 'W1',
    variant: W1_VARIANTS[kind],
    params: { messages: n, msg_size: msgSize, per_call: client === 'sdk' ? perCall : 1, batch_bytes: batchBytes, linger_ms: lingerMs, in_flight: inFlight },
    ok: readBack === n,
    check: `${readBack}/${n} read back`,
    count: n,
    bytes: n * msgSize,
    unit: 'msgs/s',
    throughput: n / measured.elapsed_s,
    measured,
  }
}

// ---------------------------------------------------------------------------------
// W2: catch-up read of a big text stream; W3: iterate JSON messages

async function readText(client, ctx, p) {
  let bytes = 0
  let chunks = 0
  if (client === 'sdk') {
    for await (const chunk of ctx.sdkClient.stream(p).read({ offset: '-1', live: false })) {
      bytes += chunk.data.length
      chunks++
    }
  } else {
    const res = await ctx.ref.stream({ url: ctx.url + p, offset: '-1', live: false, headers: IDENTITY })
    for await (const b of res.bodyStream()) {
      bytes += b.byteLength
      chunks++
    }
  }
  return { bytes, chunks }
}

async function readJson(client, ctx, p) {
  let count = 0
  if (client === 'sdk') {
    for await (const v of ctx.sdkClient.stream(p).readJson({ offset: '-1', live: false })) count += v !== null ? 1 : 0
  } else if (REF_ITER === 'stream') {
    // The client's per-item iterator. Quadratic in the response size in 0.2.6: it takes
    // items off the parsed response array with `shift()`, and the server answers a
    // catch-up read with the whole stream in one response (1M messages: no result in
    // 7 minutes). Hence the default below.
    const res = await ctx.ref.stream({ url: ctx.url + p, offset: '-1', live: false, headers: IDENTITY })
    for await (const v of res.jsonStream()) count += v !== null ? 1 : 0
  } else {
    // The batch subscriber; the application still handles the messages one at a time.
    const res = await ctx.ref.stream({ url: ctx.url + p, offset: '-1', live: false, headers: IDENTITY })
    await new Promise((resolve, reject) => {
      res.subscribeJson((batch) => {
        for (const v of batch.items) count += v !== null ? 1 : 0
        if (batch.upToDate) resolve()
      })
      res.closed.catch(reject)
    })
  }
  return count
}

// W3 through the reference client: `batches` (subscribeJson, default) or `stream`
// (jsonStream(), its per-item iterator).
const REF_ITER = args['ref-iter'] ?? 'batches'


async function prefilled(ctx, kind, count, msgSize) {
  if (args.stream) return args.stream
  const p = `/bench/${runId()}/${kind === 'text' ? 'w2' : 'w3'}`
  process.stderr.write(`pre-filling ${p}: ${count} ${kind} messages of ${msgSize} B (not timed)...\n`)
  const r = await helper(['prefill', '--server-url', ctx.url, '--stream', p, '--kind', kind, '--count', String(count), '--msg-size', String(msgSize)])
  process.stderr.write(`pre-filled in ${r.elapsed_s.toFixed(1)} s\n`)
  return p
}

async function catchUp(client, ctx, workload) {
  const reads = Math.max(1, size('reads', 3, 3))
  const warmup = flag('warmup', true)
  let total, msgSize, p, expected
  if (workload === 'W2') {
    total = size('bytes', 2 ** 30, 64 * 2 ** 20)
    msgSize = Math.max(12, size('append-size', 1024, 1024))
    const count = Math.floor(total / msgSize)
    expected = count * msgSize
    p = await prefilled(ctx, 'text', count, msgSize)
  } else {
    expected = size('messages', 1_000_000, 100_000)
    msgSize = size('msg-size', 100, 100)
    p = await prefilled(ctx, 'json', expected, msgSize)
  }
  if (client === 'sdk') ctx.sdkClient = new ctx.sdk.Client(ctx.url, { compression: false, requestTimeoutMs: 300_000 })
  const once = () => (workload === 'W2' ? readText(client, ctx, p) : readJson(client, ctx, p))
  if (warmup) await once()
  const perRead = []
  let received = 0
  let chunks = 0
  const meter = new Meter(ctx.serverPid)
  for (let r = 0; r < reads; r++) {
    const t = performance.now()
    const got = await once()
    perRead.push(round((performance.now() - t) / 1e3, 3))
    if (workload === 'W2') {
      received += got.bytes
      chunks += got.chunks
    } else received += got
  }
  const measured = meter.stop()
  await ctx.sdkClient?.close()
  if (workload === 'W2') {
    return {
      workload,
      params: { bytes: expected, append_size: msgSize, prefill_batch_bytes: 2 ** 20, reads, warmup, read_s: perRead, chunks },
      ok: received === expected * reads,
      check: `${received}/${expected * reads} bytes (${reads} reads)`,
      count: received,
      bytes: received,
      unit: 'MiB/s',
      throughput: received / 2 ** 20 / measured.elapsed_s,
      measured,
    }
  }
  return {
    workload,
    params: { messages: expected, msg_size: msgSize, decode: 'value', prefill_batch_items: 10_000, reads, warmup, read_s: perRead, ...(client === 'reference' ? { iteration: REF_ITER === 'stream' ? 'jsonStream()' : 'subscribeJson()' } : { iteration: 'readJson()' }) },
    ok: received === expected * reads,
    check: `${received}/${expected * reads} items (${reads} reads)`,
    count: received,
    bytes: expected * reads * msgSize,
    unit: 'items/s',
    throughput: received / measured.elapsed_s,
    measured,
  }
}

// ---------------------------------------------------------------------------------
// W4 / W5: live tails, latency append -> receive

/**
 * Tail every path live from -1; once all are caught up, run the writer; collect
 * latencies until `n` distinct messages arrived (or patience runs out).
 */
async function tail(client, ctx, paths, live, n, writerArgs, patienceMs) {
  const latencies = []
  const seen = new Uint8Array(n)
  let received = 0
  let duplicates = 0
  const errors = []
  let ready = 0
  let onProgress = () => {}
  const deliver = (items, now) => {
    for (const m of items) {
      if (m.i >= n || m.i < 0) errors.push(`unexpected message ${m.i}`)
      else if (seen[m.i]) duplicates++
      else {
        seen[m.i] = 1
        received++
      }
      latencies.push(now - m.t)
    }
    if (received >= n) onProgress()
  }
  const markReady = () => {
    ready++
    onProgress()
  }
  const stops = []
  if (client === 'sdk') {
    const c = new ctx.sdk.Client(ctx.url, { compression: false })
    for (const p of paths) {
      const session = c.stream(p).read({ offset: '-1', live })
      stops.push(() => session.close())
      ;(async () => {
        let isReady = false
        try {
          for await (const chunk of session) {
            const now = unixNs()
            if (chunk.data.length > 0) deliver(chunk.json(), now)
            if (chunk.upToDate && !isReady) {
              isReady = true
              markReady()
            }
          }
        } catch (e) {
          errors.push(String(e))
          onProgress()
        }
      })()
    }
    stops.push(() => c.close())
  } else {
    for (const p of paths) {
      let isReady = false
      const res = await ctx.ref.stream({ url: ctx.url + p, offset: '-1', live, json: true, headers: IDENTITY })
      const unsubscribe = res.subscribeJson((batch) => {
        const now = unixNs()
        if (batch.items.length > 0) deliver(batch.items, now)
        if (batch.upToDate && !isReady) {
          isReady = true
          markReady()
        }
      })
      res.closed.catch((e) => {
        errors.push(String(e))
        onProgress()
      })
      stops.push(unsubscribe)
    }
  }
  const until = async (cond, ms) => {
    const deadline = Date.now() + ms
    while (!cond() && Date.now() < deadline) {
      await new Promise((r) => {
        onProgress = r
        setTimeout(r, Math.min(1000, Math.max(0, deadline - Date.now())))
      })
    }
    onProgress = () => {}
  }
  await until(() => ready >= paths.length, 60_000)
  if (ready < paths.length) throw new Error(`only ${ready}/${paths.length} sessions caught up: ${errors.slice(0, 3)}`)
  // Caught up means the catch-up read answered; let the live request that follows reach
  // the server (the same pause as ds-bench).
  await sleep(500 + 2 * paths.length)
  const meter = new Meter(ctx.serverPid)
  const writer = helper(writerArgs)
  await until(() => received >= n, patienceMs)
  const measured = meter.stop()
  const writerSummary = await writer
  for (const stop of stops) await stop()
  return { measured, latencies, received, duplicates, errors, writer: writerSummary }
}

function liveOutcome(workload, variant, r, n, params) {
  const writerErrors = r.writer?.errors ?? 0
  let check = `${r.received}/${n} received, ${r.duplicates} dup`
  if (writerErrors) check += `, ${writerErrors} append errors`
  if (r.errors.length) check += `, ${r.errors.length} errors (first: ${r.errors[0]})`
  return {
    workload,
    variant,
    params: { ...params, writer: r.writer },
    ok: r.received === n && r.duplicates === 0 && r.errors.length === 0 && writerErrors === 0,
    check,
    count: r.received,
    bytes: 0,
    unit: 'msgs/s',
    throughput: r.received / r.measured.elapsed_s,
    measured: r.measured,
    latency: percentiles(r.latencies),
  }
}

async function createJsonStreams(client, ctx, paths) {
  if (client === 'sdk') {
    const c = new ctx.sdk.Client(ctx.url, { compression: false })
    for (const p of paths) await c.stream(p).create({ contentType: JSON_CT })
    await c.close()
  } else {
    for (const p of paths) await ctx.ref.DurableStream.create({ url: ctx.url + p, contentType: JSON_CT, headers: IDENTITY })
  }
}

async function w4(client, ctx) {
  const n = size('messages', 1000, 200)
  const intervalMs = num('interval-ms', 5)
  const msgSize = size('msg-size', 100, 100)
  const which = args.live ?? 'both'
  const variants = which === 'both' ? ['long-poll', 'sse'] : [which]
  const out = []
  for (const live of variants) {
    const prefix = `/bench/${runId()}/w4-${live}-${client}/`
    await createJsonStreams(client, ctx, [`${prefix}0`])
    const wargs = ['writer', '--server-url', ctx.url, '--stream-prefix', prefix, '--streams', '1', '--messages', String(n)]
    wargs.push('--interval-ms', String(intervalMs), '--writers', '1', '--msg-size', String(msgSize))
    process.stderr.write(`W4 ${live} (${client}): ${n} messages, ${intervalMs} ms apart...\n`)
    const r = await tail(client, ctx, [`${prefix}0`], live, n, wargs, n * intervalMs + 30_000)
    out.push(liveOutcome('W4', live, r, n, { messages: n, interval_ms: intervalMs, msg_size: msgSize }))
  }
  return out
}

async function w5(client, ctx) {
  const k = size('streams', 200, 20)
  const n = size('messages', 20_000, 2_000)
  const rate = num('rate', 2000)
  const writers = size('writers', 16, 16)
  const msgSize = size('msg-size', 100, 100)
  const prefix = `/bench/${runId()}/w5-${client}/`
  const paths = Array.from({ length: k }, (_, i) => `${prefix}${i}`)
  await createJsonStreams(client, ctx, paths)
  const wargs = ['writer', '--server-url', ctx.url, '--stream-prefix', prefix, '--streams', String(k), '--messages', String(n)]
  wargs.push('--rate', String(rate), '--writers', String(writers), '--msg-size', String(msgSize))
  process.stderr.write(`W5 (${client}): tailing ${k} streams over SSE, ${n} messages at ${rate}/s...\n`)
  const r = await tail(client, ctx, paths, 'sse', n, wargs, (n / rate) * 1000 + 30_000)
  return [liveOutcome('W5', null, r, n, { streams: k, messages: n, rate, writers, msg_size: msgSize })]
}

// ---------------------------------------------------------------------------------
// One client, one workload (this process)

async function runOne(client, workload) {
  const ctx = { url: args['server-url'], serverPid: args['server-pid'] ? Number(args['server-pid']) : undefined }
  let server
  if (!ctx.url) {
    server = await startServer()
    ctx.url = server.url
    ctx.serverPid = server.pid
  }
  let clientVersion
  if (client === 'sdk') {
    const { sdk, build } = loadSdk()
    ctx.sdk = sdk
    clientVersion = `${sdk.version} (${build})`
  } else {
    const { ref, version } = loadReference()
    ctx.ref = ref
    clientVersion = version
  }
  const fn = { W1: w1, W2: (c, x) => catchUp(c, x, 'W2'), W3: (c, x) => catchUp(c, x, 'W3'), W4: w4, W5: w5 }[workload]
  if (!fn) throw new Error(`--workload: w1..w5, got ${workload}`)
  try {
    const outcomes = [].concat(await fn(client, ctx))
    for (const o of outcomes) {
      const line = resultLine({ ...o, client: CLIENT_NAMES[client], clientVersion, server: args['server-kind'] ?? server?.kind ?? 'external' })
      console.log(JSON.stringify(line))
    }
  } finally {
    await server?.stop()
  }
}

// ---------------------------------------------------------------------------------
// Both clients (and rust-core via ds-bench), each in its own process

const CHILD_FLAGS = ['quick', 'batching', 'ref-iter', 'messages', 'msg-size', 'batch-items', 'batch-bytes', 'linger-ms', 'in-flight', 'bytes', 'append-size', 'reads', 'warmup', 'interval-ms', 'live', 'streams', 'rate', 'writers', 'server']

function forwarded() {
  const out = []
  for (const k of CHILD_FLAGS) {
    if (args[k] === undefined) continue
    if (SWITCHES.has(k)) out.push(`--${k}`)
    else out.push(`--${k}`, String(args[k]))
  }
  return out
}

/** Run a child; resolve with the JSON result lines it printed. */
function child(cmd, argv) {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'inherit'] })
    let out = ''
    p.stdout.on('data', (d) => (out += d))
    p.on('error', reject)
    p.on('exit', (code) => {
      const lines = out
        .split('\n')
        .filter((l) => l.startsWith('{"schema"'))
        .map((l) => JSON.parse(l))
      if (code !== 0 && lines.length === 0) reject(new Error(`${path.basename(cmd)} ${argv.slice(0, 3).join(' ')} failed (${code})`))
      else resolve(lines)
    })
  })
}

async function runBoth(workload) {
  const lines = []
  for (let r = 1, runs = size('runs', 3, 3); r <= runs; r++) {
    process.stderr.write(`=== ${workload} run ${r}/${runs} ===\n`)
    lines.push(...(await runBothOnce(workload)))
  }
  if (args.out) for (const l of lines) appendFileSync(args.out, JSON.stringify(l) + '\n')
  return lines
}

async function runBothOnce(workload) {
  const lines = []
  const withRust = flag('rust', true)
  const self = [process.execArgv, fileURLToPath(import.meta.url)].flat()
  const run = async (client, extra) => {
    process.stderr.write(`--- ${workload} ${CLIENT_NAMES[client]} ---\n`)
    try {
      lines.push(...(await child(process.execPath, [...self, '--workload', workload, '--client', client, ...forwarded(), ...extra])))
    } catch (e) {
      process.stderr.write(`${workload} ${client}: ${e.message}\n`)
    }
  }
  if (workload === 'W2' || workload === 'W3') {
    // One server and one pre-filled stream, read by both clients.
    const server = await startServer()
    try {
      const ctx = { url: server.url }
      let p
      if (workload === 'W2') {
        const total = size('bytes', 2 ** 30, 64 * 2 ** 20)
        const msgSize = Math.max(12, size('append-size', 1024, 1024))
        p = await prefilled(ctx, 'text', Math.floor(total / msgSize), msgSize)
      } else {
        p = await prefilled(ctx, 'json', size('messages', 1_000_000, 100_000), size('msg-size', 100, 100))
      }
      const extra = ['--server-url', server.url, '--server-kind', server.kind, '--stream', p]
      if (server.pid) extra.push('--server-pid', String(server.pid))
      await run('sdk', extra)
      await run('reference', extra)
    } finally {
      await server.stop()
    }
  } else {
    // A fresh server for each client.
    await run('sdk', [])
    await run('reference', [])
  }
  if (withRust) {
    process.stderr.write(`--- ${workload} rust-core (ds-bench) ---\n`)
    try {
      if (workload === 'W1') {
        // One enqueue per message, the core's default batching.
        const flags = forwarded().filter((f, i, a) => f !== '--batch-items' && a[i - 1] !== '--batch-items')
        const got = await child(dsBench(), ['w1', '--ceiling', 'off', ...flags])
        lines.push(...got.map((l) => ({ ...l, variant: W1_VARIANTS.one })))
      } else lines.push(...(await child(dsBench(), [workload.toLowerCase(), '--ceiling', 'off', ...forwarded()])))
    } catch (e) {
      process.stderr.write(`${workload} rust-core: ${e.message}\n`)
    }
  }
  return lines
}

// ---------------------------------------------------------------------------------
// Side-by-side table

const fmt = (x, d = 0) => (x === null || x === undefined ? '-' : Number(x).toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d }))

export function table(lines) {
  const rows = []
  const key = (l) => `${l.workload}${l.variant ? ' ' + l.variant : ''} [${l.server ?? '?'}]`
  const groups = new Map()
  for (const l of lines) {
    if (!groups.has(key(l))) groups.set(key(l), [])
    groups.get(key(l)).push(l)
  }
  const head = ['workload', 'client', 'throughput (median)', 'p50/p99/max ms', 'cpu s', 'cpu µs/item', 'rss MiB', 'srv cpu s', 'spread', 'check']
  rows.push(head)
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]
  for (const [k, all] of groups) {
    // Several runs per client: the run with the median throughput, and the spread.
    const ls = []
    for (const client of new Set(all.map((l) => l.client))) {
      const runs = all.filter((l) => l.client === client)
      const m = median(runs.map((l) => l.throughput))
      const pick = runs.find((l) => l.throughput === m)
      const lo = Math.min(...runs.map((l) => l.throughput))
      const hi = Math.max(...runs.map((l) => l.throughput))
      ls.push({ ...pick, cpu_s: median(runs.map((l) => l.cpu_s)), spread: runs.length > 1 ? `${runs.length} runs, ${fmt(lo)}–${fmt(hi)}` : '1 run' })
    }
    for (const l of ls) {
      const lat = l.latency_ms ? `${fmt(l.latency_ms.p50, 2)} / ${fmt(l.latency_ms.p99, 2)} / ${fmt(l.latency_ms.max, 1)}` : '-'
      const perItem = l.count ? (l.cpu_s * 1e6) / (l.unit === 'MiB/s' ? l.count / 2 ** 20 : l.count) : null
      rows.push([k, l.client, `${fmt(l.throughput, l.unit === 'MiB/s' ? 1 : 0)} ${l.unit}`, lat, fmt(l.cpu_s, 2), l.unit === 'MiB/s' ? `${fmt(perItem, 0)}/MiB` : fmt(perItem, 2), fmt(l.peak_rss_mib, 0), fmt(l.server_cpu_s, 2), l.spread, l.ok ? 'ok' : `FAILED: ${l.check}`])
    }
    const sdk = ls.find((l) => l.client === CLIENT_NAMES.sdk)
    const ref = ls.find((l) => l.client === CLIENT_NAMES.reference)
    if (sdk && ref && sdk.count && ref.count) {
      const tput = sdk.throughput / ref.throughput
      const cpu = sdk.cpu_s / sdk.count / (ref.cpu_s / ref.count)
      const lat = sdk.latency_ms && ref.latency_ms ? `p50 ${fmt(sdk.latency_ms.p50 - ref.latency_ms.p50, 2)} ms` : ''
      rows.push([k, 'binding / reference', `${fmt(tput, 2)}×`, lat, '', `${fmt(cpu, 2)}×`, fmt(sdk.peak_rss_mib / ref.peak_rss_mib, 2) + '×', '', '', ''])
    }
  }
  const widths = head.map((_, i) => Math.max(...rows.map((r) => String(r[i]).length)))
  return rows.map((r) => r.map((c, i) => String(c).padEnd(widths[i])).join('  ').trimEnd()).join('\n')
}

// ---------------------------------------------------------------------------------

async function main() {
  if (args._[0] === 'table') {
    const file = args._[1]
    const lines = readFileSync(file, 'utf8')
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l))
    console.log(table(lines))
    return
  }
  const client = args.client ?? 'both'
  const wl = (args.workload ?? 'all').toUpperCase()
  const workloads = wl === 'ALL' ? ['W1', 'W2', 'W3', 'W4', 'W5'] : [wl]
  if (client === 'both') {
    const all = []
    for (const w of workloads) {
      const lines = await runBoth(w)
      all.push(...lines)
      console.log(`\n${table(lines)}\n`)
    }
    if (workloads.length > 1) console.log(`=== summary (${new Date().toISOString()}, ${os.availableParallelism()} cpus) ===\n${table(all)}`)
  } else if (client === 'sdk' || client === 'reference') {
    for (const w of workloads) await runOne(client, w)
  } else {
    throw new Error(`--client: sdk, reference or both, got ${client}`)
  }
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(`bench: ${e.stack ?? e}`)
    process.exit(1)
  },
)
