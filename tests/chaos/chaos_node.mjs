// Chaos run for the Node binding (the installed package in DURABLE_STREAMS_SDK_NODE,
// else this checkout's bindings-node/).
//
//   node tests/chaos/chaos_node.mjs [--messages 20000] [--seed 1] [--rate 0.04]
//
// Starts the reference server and the chaos proxy in front of it (both in this process,
// on 127.0.0.1), sends N messages through the proxy with the binding's producer (default
// producer options), reads them back straight from the server, and runs a live reader
// through the same proxy that must see every message once, in order, through mid-stream
// cuts and stalls. Prints one `summary: chaos (node): ...` line; exits 1 when anything
// was lost, duplicated or reordered, or the live reader met too few mid-stream faults.
import { createRequire } from "node:module"
import path from "node:path"
import { fileURLToPath } from "node:url"
import { startServer } from "../server/server.mjs"
import { extraPerFault, startProxy } from "./proxy.mjs"

const here = path.dirname(fileURLToPath(import.meta.url))
const require = createRequire(import.meta.url)
const { Client } = require(process.env.DURABLE_STREAMS_SDK_NODE || path.join(here, "../../bindings-node/lib/index.js"))

function option(name, fallback) {
  const i = process.argv.indexOf(`--${name}`)
  const raw = i >= 0 ? process.argv[i + 1] : process.env[`DS_CHAOS_${name.toUpperCase()}`]
  const v = raw === undefined ? fallback : Number(raw)
  if (!Number.isFinite(v)) throw new Error(`--${name} needs a number`)
  return v
}

/** [duplicates, lost, out of order] of the numbers seen, against 0..n. */
export function tally(seen, n) {
  const count = new Uint32Array(n)
  let stray = 0
  for (const v of seen) {
    if (Number.isInteger(v) && v >= 0 && v < n) count[v]++
    else stray++
  }
  let dups = stray
  let lost = 0
  for (const c of count) {
    if (c > 1) dups += c - 1
    if (c === 0) lost++
  }
  let ooo = 0
  for (let i = 1; i < seen.length; i++) if (!(seen[i] > seen[i - 1])) ooo++
  return [dups, lost, ooo]
}

// Mid-stream faults the live reader must have met at the default rate (4%) or above in
// a run of at least 20,000 messages, so that it proves the reader survives them (as in core/tests/chaos.rs).
const MIN_LIVE_FAULTS = 5

const n = option("messages", 20000)
const seed = option("seed", 1)
const rate = option("rate", 0.04)

const server = await startServer({ longPollTimeout: 500 })
const proxy = await startProxy({ upstream: server.url, seed, rate, liveRate: option("live-rate", rate), stallMs: 2500 })
const hardStop = setTimeout(() => { console.error("chaos (node): gave up after 600 s"); process.exit(1) }, 600_000)
hardStop.unref()

const streamPath = `/chaos/node-${process.pid}`
const directClient = new Client(server.url)
const direct = directClient.stream(streamPath)
await direct.create({ contentType: "application/json" })
// Timeouts shorter than the proxy's 2.5 s stall; retries enough for a run of faults.
const proxied = new Client(proxy.url, { requestTimeoutMs: 1000, liveIdleTimeoutMs: 1500, retry: { maxRetries: 30 } })
const viaProxy = proxied.stream(streamPath)

const liveSeen = []
let liveError = null
const live = (async () => {
  const deadline = Date.now() + 240_000
  try {
    for await (const item of viaProxy.readJson({ offset: "-1", live: "sse" })) {
      liveSeen.push(item.n)
      if (liveSeen.length >= n || Date.now() > deadline) break
    }
  } catch (e) {
    liveError = e
  }
})()

const started = Date.now()
let flushError = null
const producer = await viaProxy.producer({ producerId: "chaos-node" })
try {
  for (let i = 0; i < n; i++) {
    const wait = producer.append({ n: i })
    if (wait) await wait
    // Bursts of 50 every 20 ms (as in core/tests/chaos.rs), else default batching makes one request.
    if (i % 50 === 49) await new Promise((r) => setTimeout(r, 20))
  }
  await producer.flush()
} catch (e) {
  flushError = e
}
await producer.detach().catch(() => {})
const elapsed = (Date.now() - started) / 1000

const stored = (await direct.readAllJson({ offset: "-1" })).map((m) => m.n)
let timer
await Promise.race([live, new Promise((r) => { timer = setTimeout(r, 60_000) })])
clearTimeout(timer)
const stats = proxy.stats()

const [dups, lost, ooo] = tally(stored, n)
const [liveDups, liveLost, liveOoo] = tally(liveSeen, n)
const faults = Object.values(stats.faults).reduce((a, b) => a + b, 0)
// What the live reader went through (tests/chaos/proxy.mjs, `reader`).
const r = stats.reader
const readerFaults = Object.values(r.faults).reduce((a, b) => a + b, 0)
const minLive = rate >= 0.04 && n >= 20000 ? MIN_LIVE_FAULTS : 0
const ok = !flushError && !liveError && stored.length === n && dups + lost + ooo === 0 &&
  liveSeen.length === n && liveDups + liveLost + liveOoo === 0 && r.midStream >= minLive
const p = stats.producer
console.log(
  `summary: chaos (node): ${ok ? 1 : 0} passed, ${ok ? 0 : 1} failed, 0 skipped — sent ${n}, stored ${stored.length}, ` +
  `duplicates ${dups}, lost ${lost}, out of order ${ooo}, requests per fault ${extraPerFault(stats).toFixed(2)} ` +
  `(producer: ${p.requests} requests for ${p.batches} batches, ${p.faults} faults, ${p.statuses["409"] ?? 0} 409s); ` +
  `live consumer saw ${liveSeen.length} (duplicates ${liveDups}, lost ${liveLost}, out of order ${liveOoo}) ` +
  `through ${readerFaults} faults (${r.midStream} mid-stream) and ${r.reconnects} reconnects; ` +
  `proxy requests ${stats.requests}, faults ${faults} ${JSON.stringify(stats.faults)}; ${elapsed.toFixed(1)} s (seed ${seed}, rate ${rate})`,
)
if (flushError) console.error(`chaos (node): flush failed: ${flushError?.code ?? ""} ${flushError?.message ?? flushError}`)
if (liveError) console.error(`chaos (node): live reader failed: ${liveError?.code ?? ""} ${liveError?.message ?? liveError}`)
if (r.midStream < minLive) console.error(`chaos (node): the live reader met ${r.midStream} mid-stream faults, fewer than ${minLive}: not exercised`)

await proxied.close?.()
await directClient.close?.()
await proxy.stop()
await server.stop({ graceMs: 200 })
process.exit(ok ? 0 : 1)
