// Chaos proxy: an HTTP proxy on 127.0.0.1 in front of a Durable Streams server that
// injects faults on any request, reproducibly from a seed.
//
//   node tests/chaos/proxy.mjs [--seed 1] [--rate 0.04] [--stall-ms 4000] [--delay-ms 200]
//                              [--retry-after 1] [--upstream URL] [--max-seconds 900]
//                              [--kinds drop,503,...]   (only these kinds; default all)
//
// Without --upstream it starts the reference server in-process (on a free port).
// The FIRST line on stdout is JSON: {"proxy": URL, "server": URL}. GET /__chaos/stats on
// the proxy returns the counters as JSON (never faulted, not counted); they are also
// printed as JSON on stderr at exit. POST /__chaos/force/KIND makes the next request get
// fault KIND (or "none"), whatever the draw — for tests that need one particular fault. The process stops on SIGINT/SIGTERM, when stdin
// reaches EOF, and after --max-seconds at the latest.
//
// Fault kinds, each chosen with probability `rate` per request (one roll per request, in
// arrival order, from the seeded generator):
//   drop          connection closed before the request is forwarded (nothing reached the server)
//   503 / 503-ra  503 without / with Retry-After, not forwarded
//   429 / 429-ra  429 without / with Retry-After, not forwarded
//   commit-drop   forwarded and answered by the server; the response is thrown away, connection closed
//   truncate      forwarded; the response is cut off mid-body (connection closed)
//   stall         forwarded; headers and part of the body are sent, then no bytes for stall-ms, then closed
//   delay         forwarded after delay-ms
import http from "node:http"
import { pathToFileURL } from "node:url"

export const FAULT_KINDS = ["drop", "503", "503-ra", "429", "429-ra", "commit-drop", "truncate", "stall", "delay"]

const isProducer = (req) => req.method === "POST" && req.headers["producer-id"] !== undefined

/**
 * Extra producer requests per fault injected on a producer request: repeats (requests
 * beyond one per distinct batch) over faults. A fault that loses nothing costs 0 (a
 * delay), one that must be repeated costs 1, and each batch behind it that arrives
 * too early and is refused with 409 costs 1 more.
 */
export function extraPerFault(stats) {
  const p = stats.producer
  return p.faults ? (p.requests - p.batches) / p.faults : 0
}

/** Deterministic PRNG (mulberry32). */
function rng32(seed) {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/**
 * Start the proxy in front of `upstream` (a base URL).
 * @returns {Promise<{url: string, stats: () => object, setRate: (r: number) => void, stop: () => Promise<void>}>}
 */
export async function startProxy({ upstream, seed = 1, rate = 0.04, stallMs = 4000, delayMs = 200, retryAfter = 1, kinds = FAULT_KINDS } = {}) {
  const unknown = kinds.filter((k) => !FAULT_KINDS.includes(k))
  if (unknown.length) throw new Error(`unknown fault kinds ${unknown.join(",")} (known: ${FAULT_KINDS.join(",")})`)
  const enabled = new Set(kinds)
  const target = new URL(upstream)
  const random = rng32(seed)
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 })
  const counters = {
    seed, rate, requests: 0, byMethod: {}, faults: Object.fromEntries(FAULT_KINDS.map((k) => [k, 0])),
    statuses: {}, upstreamErrors: 0,
    // Idempotent-producer appends (requests with Producer-Id): what recovery costs.
    // `batches` counts distinct (id, epoch, seq), so `requests - batches` is the number
    // of repeats; a fault-free run has none.
    producer: { requests: 0, batches: 0, faults: 0, statuses: {} },
  }
  const batchKeys = new Set()
  const timers = new Set()
  const sockets = new Set()
  let currentRate = rate

  const later = (ms, fn) => {
    const t = setTimeout(() => { timers.delete(t); fn() }, ms)
    timers.add(t)
  }
  const countStatus = (s, fromProducer) => {
    counters.statuses[s] = (counters.statuses[s] ?? 0) + 1
    if (fromProducer) counters.producer.statuses[s] = (counters.producer.statuses[s] ?? 0) + 1
  }

  const forced = []

  function pick() {
    const r = random() // always drawn, so the sequence of decisions depends only on the seed
    if (forced.length) {
      const k = forced.shift()
      return k === "none" ? null : k
    }
    const i = Math.floor(r / currentRate)
    // Each kind keeps its own slice of the draw, so a kind left out does not change the others' rate.
    return currentRate > 0 && i < FAULT_KINDS.length && enabled.has(FAULT_KINDS[i]) ? FAULT_KINDS[i] : null
  }

  function forward(req, res, fault) {
    const headers = { ...req.headers, host: target.host }
    const up = http.request({
      host: target.hostname, port: target.port, method: req.method, path: req.url, headers, agent,
    })
    up.on("error", () => {
      counters.upstreamErrors++
      if (!res.headersSent) { res.writeHead(502); res.end() } else res.destroy()
    })
    // The client went away (its own timeout): stop relaying, let the server's side finish.
    res.on("close", () => { if (!res.writableFinished) up.destroy() })
    up.on("response", (ur) => {
      countStatus(ur.statusCode, isProducer(req))
      if (fault === "commit-drop") {
        ur.resume()
        ur.on("end", () => req.socket.destroy())
        ur.on("error", () => req.socket.destroy())
        return
      }
      res.writeHead(ur.statusCode, ur.headers)
      const len = Number(ur.headers["content-length"])
      let sent = 0
      let cutAt = Infinity
      if (fault === "truncate" || fault === "stall") {
        // Known length: cut strictly inside the body. Streaming body: within its first 256 bytes.
        cutAt = Number.isFinite(len) && len > 0 ? Math.floor(random() * len) : Math.floor(random() * 256)
        if (cutAt === 0) res.flushHeaders()
      }
      const cut = () => {
        ur.destroy()
        if (fault === "truncate") res.destroy()
        else later(stallMs, () => res.destroy())
      }
      if (cutAt === 0) return cut()
      ur.on("data", (chunk) => {
        if (sent + chunk.length >= cutAt) {
          res.write(chunk.subarray(0, cutAt - sent))
          sent = cutAt
          cut()
          return
        }
        sent += chunk.length
        res.write(chunk)
      })
      ur.on("end", () => {
        // A body that ended before the cut point is still cut: no proper end of message.
        if (cutAt !== Infinity) cut()
        else res.end()
      })
      ur.on("error", () => res.destroy())
    })
    req.pipe(up)
  }

  const server = http.createServer((req, res) => {
    if (req.url === "/__chaos/stats") {
      res.writeHead(200, { "content-type": "application/json" })
      res.end(JSON.stringify(counters))
      return
    }
    const force = /^\/__chaos\/force\/([a-z0-9-]+)$/.exec(req.url)
    if (force && req.method === "POST") {
      const ok = force[1] === "none" || FAULT_KINDS.includes(force[1])
      if (ok) forced.push(force[1])
      res.writeHead(ok ? 204 : 400)
      res.end()
      return
    }
    counters.requests++
    counters.byMethod[req.method] = (counters.byMethod[req.method] ?? 0) + 1
    const fault = pick()
    if (fault) counters.faults[fault]++
    if (isProducer(req)) {
      const p = counters.producer
      p.requests++
      if (fault) p.faults++
      const key = `${req.headers["producer-id"]}|${req.headers["producer-epoch"]}|${req.headers["producer-seq"]}`
      if (!batchKeys.has(key)) {
        batchKeys.add(key)
        p.batches++
      }
    }
    req.on("error", () => {})
    res.on("error", () => {})
    switch (fault) {
      case "drop":
        req.socket.destroy()
        return
      case "503":
      case "503-ra":
      case "429":
      case "429-ra": {
        const status = Number(fault.slice(0, 3))
        countStatus(status, isProducer(req))
        req.resume()
        const h = { "content-type": "text/plain", "content-length": "13" }
        if (fault.endsWith("-ra")) h["retry-after"] = String(retryAfter)
        res.writeHead(status, h)
        res.end("chaos: busy\r\n")
        return
      }
      case "delay":
        later(delayMs, () => forward(req, res, fault))
        return
      default:
        forward(req, res, fault)
    }
  })
  server.on("connection", (s) => { sockets.add(s); s.on("close", () => sockets.delete(s)) })
  server.on("clientError", (_e, s) => s.destroy())
  await new Promise((resolve, reject) => {
    server.once("error", reject)
    server.listen(0, "127.0.0.1", resolve)
  })
  const { port } = server.address()
  return {
    url: `http://127.0.0.1:${port}`,
    stats: () => structuredClone(counters),
    setRate: (r) => { currentRate = r },
    stop: async () => {
      for (const t of timers) clearTimeout(t)
      timers.clear()
      for (const s of sockets) s.destroy()
      agent.destroy()
      await new Promise((resolve) => server.close(() => resolve()))
    },
  }
}

function parseArgs(argv) {
  const opts = { seed: 1, rate: 0.04, stallMs: 4000, delayMs: 200, retryAfter: 1, upstream: null, maxSeconds: 900, kinds: FAULT_KINDS }
  const names = { "--seed": "seed", "--rate": "rate", "--stall-ms": "stallMs", "--delay-ms": "delayMs",
    "--retry-after": "retryAfter", "--upstream": "upstream", "--max-seconds": "maxSeconds", "--kinds": "kinds" }
  for (let i = 0; i < argv.length; i += 2) {
    const key = names[argv[i]]
    const value = argv[i + 1]
    if (!key || value === undefined) throw new Error(`unknown or incomplete option ${argv[i]}`)
    if (key === "upstream") opts[key] = value
    else if (key === "kinds") opts[key] = value.split(",").filter(Boolean)
    else opts[key] = Number(value)
    if (typeof opts[key] === "number" && !Number.isFinite(opts[key])) throw new Error(`${argv[i]} needs a number`)
  }
  return opts
}

async function main() {
  for (const level of ["log", "info", "debug"]) console[level] = console.error
  let opts
  try {
    opts = parseArgs(process.argv.slice(2))
  } catch (e) {
    console.error(`chaos proxy: ${e.message}`)
    process.exit(2)
  }
  let server = null
  let upstream = opts.upstream
  if (!upstream) {
    const { startServer } = await import("../server/server.mjs")
    server = await startServer({ longPollTimeout: 500 })
    upstream = server.url
  }
  let proxy
  try {
    proxy = await startProxy({ ...opts, upstream })
  } catch (e) {
    console.error(`chaos proxy: ${e.message}`)
    process.exit(2)
  }
  let exiting = false
  const shutdown = async (why) => {
    if (exiting) return
    exiting = true
    setTimeout(() => process.exit(0), 3000).unref()
    console.error(`chaos proxy: stopping (${why}); stats ${JSON.stringify(proxy.stats())}`)
    await proxy.stop()
    if (server) await server.stop({ graceMs: 200 })
    process.exit(0)
  }
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"]) process.on(sig, () => shutdown(sig))
  setTimeout(() => shutdown("max-seconds"), opts.maxSeconds * 1000).unref()
  process.stdout.write(`${JSON.stringify({ proxy: proxy.url, server: upstream })}\n`)
  if (process.env.DS_IGNORE_STDIN !== "1") {
    process.stdin.on("end", () => shutdown("stdin closed"))
    process.stdin.resume()
  } else {
    setInterval(() => {}, 1 << 30) // keep alive until a signal or max-seconds
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) main()
