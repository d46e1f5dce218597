// Chaos proxy: an HTTP proxy on 127.0.0.1 in front of a Durable Streams server that
// injects faults on any request, reproducibly from a seed.
//
//   node tests/chaos/proxy.mjs [--seed 1] [--rate 0.04] [--live-rate RATE] [--live-slice-ms 250]
//                              [--stall-ms 4000] [--delay-ms 200] [--retry-after 1] [--upstream URL]
//                              [--max-seconds 900] [--kinds drop,503,...]   (only these kinds; default all)
//
// Without --upstream it starts the reference server in-process (on a free port).
// The FIRST line on stdout is JSON: {"proxy": URL, "server": URL}. GET /__chaos/stats on
// the proxy returns the counters as JSON (never faulted, not counted); they are also
// printed as JSON on stderr at exit. POST /__chaos/force/KIND makes the next request get
// fault KIND (or "none"), whatever the draw (a live-* KIND, or live-none: the next draw
// for a piece of a live response) — for tests that need one particular fault. The process stops on
// SIGINT/SIGTERM, when stdin reaches EOF, and after --max-seconds at the latest.
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
//
// Live responses (GET ...?live=sse or live=long-poll) are long lived (one SSE connection
// carries the whole run), so one draw per request barely touches them. Such a response
// that drew no fault above (or only a delay) draws again, from a second seeded
// generator, each kind with probability `live-rate` (default: `rate`): on its first
// piece (one upstream read: an event or several), then every `live-slice-ms` (default
// 250) of its life; a fault drawn between pieces cuts the next piece (the server sends a
// keep-alive control event at least every 500 ms). Time slices, not pieces: a reader
// that fell behind catches up in one burst of many pieces, which on a real network is
// about as likely to be cut as a lone event (drawn per piece, ever longer bursts would
// each be ever more likely to be cut before their control event, and the reader would
// never catch up), and a run's count of live faults depends on its length, not on how
// the server's writes happen to be split.
//   live-cut      the piece is forwarded up to a cut point, then the connection is closed
//   live-stall    the piece is forwarded up to a cut point, then no bytes for stall-ms, then closed
//   live-end      the piece is forwarded up to a cut point, then the response ends cleanly
//                 (the last chunk of a chunked body) — on SSE only, where the missing control
//                 event tells the reader its batch is incomplete. A long-poll body (or one of
//                 known length) is closed instead: one that ends cleanly part way is, to the
//                 client, a malformed response, which the protocol makes a PARSE_ERROR
//                 (conformance consumer-json-parsing-errors), and on a text stream it could
//                 not be told from a shorter answer at all.
// The cut point is either any byte of the piece (so possibly inside a `data:` line) or,
// as often, right after one of the piece's complete SSE events (between two data events,
// or between the data and the control event that ends their batch).
import http from "node:http"
import { pathToFileURL } from "node:url"

export const FAULT_KINDS = ["drop", "503", "503-ra", "429", "429-ra", "commit-drop", "truncate", "stall", "delay"]
/** Faults drawn per forwarded piece of a live response (see above). */
export const LIVE_KINDS = ["live-cut", "live-stall", "live-end"]
const ALL_KINDS = [...FAULT_KINDS, ...LIVE_KINDS]

/** The `live` query parameter of a read (`sse`, `long-poll`), or null. */
function liveModeOf(req) {
  if (req.method !== "GET") return null
  const q = req.url.indexOf("?")
  return q < 0 ? null : new URLSearchParams(req.url.slice(q + 1)).get("live")
}

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
export async function startProxy({ upstream, seed = 1, rate = 0.04, liveRate = rate, liveSliceMs = 250, stallMs = 4000, delayMs = 200, retryAfter = 1, kinds = ALL_KINDS } = {}) {
  const unknown = kinds.filter((k) => !ALL_KINDS.includes(k))
  if (unknown.length) throw new Error(`unknown fault kinds ${unknown.join(",")} (known: ${ALL_KINDS.join(",")})`)
  const enabled = new Set(kinds)
  const target = new URL(upstream)
  const random = rng32(seed)
  // Its own generator, so the per-request decisions stay those of the same seed
  // without live faults (the producer's faults do not depend on how the reader fared).
  const liveRandom = rng32(seed ^ 0x5eed11fe)
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 })
  const counters = {
    seed, rate, liveRate, requests: 0, byMethod: {}, faults: Object.fromEntries(FAULT_KINDS.map((k) => [k, 0])),
    statuses: {}, upstreamErrors: 0,
    // Idempotent-producer appends (requests with Producer-Id): what recovery costs.
    // `batches` counts distinct (id, epoch, seq), so `requests - batches` is the number
    // of repeats; a fault-free run has none.
    producer: { requests: 0, batches: 0, faults: 0, statuses: {} },
    // Reads (GETs): what a reader went through. `live` counts live requests per mode, `pieces`
    // the forwarded pieces of live responses, `draws` the live-* draws made, `faults`
    // every fault injected on reads (per request and live-*), `midStream` the live-*
    // ones, `reconnects` the live requests that re-open a read of the same stream
    // (every one after the first, except a long-poll after a long-poll that ended normally).
    reader: { requests: 0, live: { sse: 0, "long-poll": 0 }, pieces: 0, draws: 0, faults: {}, midStream: 0, reconnects: 0 },
  }
  for (const k of LIVE_KINDS) counters.faults[k] = 0
  // Per stream path: how its last live request went (for `reader.reconnects`).
  const lastLive = new Map()
  const batchKeys = new Set()
  const timers = new Set()
  const intervals = new Set()
  const sockets = new Set()
  let currentRate = rate
  let currentLiveRate = liveRate

  const later = (ms, fn) => {
    const t = setTimeout(() => { timers.delete(t); fn() }, ms)
    timers.add(t)
  }
  const countStatus = (s, fromProducer) => {
    counters.statuses[s] = (counters.statuses[s] ?? 0) + 1
    if (fromProducer) counters.producer.statuses[s] = (counters.producer.statuses[s] ?? 0) + 1
  }

  const forced = []
  const forcedLive = []

  function countReaderFault(kind) {
    const r = counters.reader
    r.faults[kind] = (r.faults[kind] ?? 0) + 1
    if (LIVE_KINDS.includes(kind)) r.midStream++
  }

  /** A live-* fault for the next piece of a live response, or null. */
  function pickLive() {
    const r = liveRandom()
    if (forcedLive.length) {
      const k = forcedLive.shift()
      return k === "none" ? null : k
    }
    const i = Math.floor(r / currentLiveRate)
    return currentLiveRate > 0 && i < LIVE_KINDS.length && enabled.has(LIVE_KINDS[i]) ? LIVE_KINDS[i] : null
  }

  /** Where to cut `chunk`: any byte, or (every other time) just after one of its SSE events. */
  function cutPoint(chunk) {
    if (liveRandom() < 0.5) {
      const ends = []
      for (let i = chunk.indexOf("\n\n"); i >= 0; i = chunk.indexOf("\n\n", i + 2)) ends.push(i + 2)
      if (ends.length) return ends[Math.floor(liveRandom() * ends.length)]
    }
    return Math.floor(liveRandom() * chunk.length)
  }

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

  /**
   * Write `last` (if any), then run `fn` once it has reached the socket. Node's HTTP
   * response holds writes back until the next tick (its socket is corked): a destroy
   * right after a write throws the written bytes away, and a "cut mid-body" would never
   * deliver any of the body.
   */
  function afterFlush(res, fn, last) {
    if (last && last.length) res.write(last, () => fn())
    else setImmediate(fn)
  }

  function forward(req, res, fault, live) {
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
      // Streaming body (no length): the cut is within its first piece, at this fraction.
      let cutFraction = null
      if (fault === "truncate" || fault === "stall") {
        // Known length: cut strictly inside the body (a catch-up response is one piece
        // or many: the cut may come after the client has had some of it).
        if (Number.isFinite(len) && len > 0) cutAt = Math.floor(random() * len)
        else cutFraction = random()
        if (cutAt === 0) res.flushHeaders()
      }
      const cut = () => {
        ur.destroy()
        if (fault === "truncate") afterFlush(res, () => res.destroy())
        else later(stallMs, () => res.destroy())
      }
      if (cutAt === 0) return cut()
      if (live && (!fault || fault === "delay") && ur.statusCode === 200) {
        // A live response that drew no fault (or just a delay: it would otherwise carry the
        // rest of the run untouched): its first piece draws a live-* fault, and
        // so does every live-slice-ms of its life; a fault drawn between pieces cuts
        // the next piece (keep-alive control events come at least every 500 ms).
        let done = false
        let armed = null
        const draw = () => {
          if (done || armed) return
          counters.reader.draws++
          armed = pickLive()
        }
        const tick = setInterval(draw, liveSliceMs)
        intervals.add(tick)
        const stopDrawing = () => { clearInterval(tick); intervals.delete(tick) }
        res.on("close", stopDrawing)
        let first = true
        ur.on("data", (chunk) => {
          if (done) return
          counters.reader.pieces++
          if (first) {
            first = false
            draw()
          }
          if (!armed) {
            res.write(chunk)
            return
          }
          const kind = armed
          done = true
          stopDrawing()
          counters.faults[kind]++
          countReaderFault(kind)
          liveEnded(req, false)
          const at = cutPoint(chunk)
          ur.destroy()
          if (kind === "live-stall") {
            if (at > 0) res.write(chunk.subarray(0, at))
            later(stallMs, () => res.destroy())
          } else if (kind === "live-end" && live === "sse" && !Number.isFinite(len)) {
            res.end(chunk.subarray(0, at))
          } else {
            afterFlush(res, () => res.destroy(), chunk.subarray(0, at))
          }
        })
        ur.on("end", () => {
          stopDrawing()
          if (!done) {
            liveEnded(req, true)
            res.end()
          }
        })
        ur.on("error", () => { stopDrawing(); res.destroy() })
        return
      }
      ur.on("data", (chunk) => {
        if (cutFraction !== null) {
          cutAt = sent + Math.floor(cutFraction * chunk.length)
          cutFraction = null
        }
        if (sent + chunk.length >= cutAt) {
          const head = chunk.subarray(0, cutAt - sent)
          sent = cutAt
          ur.destroy()
          if (fault === "truncate") afterFlush(res, () => res.destroy(), head)
          else {
            res.write(head)
            later(stallMs, () => res.destroy())
          }
          return
        }
        sent += chunk.length
        res.write(chunk)
      })
      ur.on("end", () => {
        // A body that ended before the cut point is still cut: no proper end of message.
        if (cutAt !== Infinity || cutFraction !== null) cut()
        else {
          if (live) liveEnded(req, true)
          res.end()
        }
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
      const ok = force[1] === "none" || force[1] === "live-none" || ALL_KINDS.includes(force[1])
      if (force[1] === "live-none") forcedLive.push("none")
      else if (LIVE_KINDS.includes(force[1])) forcedLive.push(force[1])
      else if (ok) forced.push(force[1])
      res.writeHead(ok ? 204 : 400)
      res.end()
      return
    }
    counters.requests++
    counters.byMethod[req.method] = (counters.byMethod[req.method] ?? 0) + 1
    const fault = pick()
    if (fault) counters.faults[fault]++
    const live = liveModeOf(req)
    if (req.method === "GET") {
      counters.reader.requests++
      if (fault) countReaderFault(fault)
      if (live) liveStarted(req, live)
    }
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
        later(delayMs, () => forward(req, res, fault, live))
        return
      default:
        forward(req, res, fault, live)
    }
  })

  function pathOf(req) {
    const q = req.url.indexOf("?")
    return q < 0 ? req.url : req.url.slice(0, q)
  }

  function liveStarted(req, mode) {
    const r = counters.reader
    r.live[mode] = (r.live[mode] ?? 0) + 1
    const path = pathOf(req)
    const prev = lastLive.get(path)
    if (prev && !(prev.mode === "long-poll" && mode === "long-poll" && prev.ended)) r.reconnects++
    // `ended` turns true only when the response reaches its end unfaulted.
    lastLive.set(path, { mode, ended: false })
  }

  /** A live response of `req` ended: normally (`ok`) or by a live fault. */
  function liveEnded(req, ok) {
    const last = lastLive.get(pathOf(req))
    if (last) last.ended = ok
  }
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
    setRate: (r, live = r) => { currentRate = r; currentLiveRate = live },
    stop: async () => {
      for (const t of timers) clearTimeout(t)
      timers.clear()
      for (const t of intervals) clearInterval(t)
      intervals.clear()
      for (const s of sockets) s.destroy()
      agent.destroy()
      await new Promise((resolve) => server.close(() => resolve()))
    },
  }
}

function parseArgs(argv) {
  // DS_CHAOS_LIVE_RATE reaches the proxy that every language's chaos run starts.
  const envLive = process.env.DS_CHAOS_LIVE_RATE
  const opts = { seed: 1, rate: 0.04, liveRate: envLive ? Number(envLive) : undefined, liveSliceMs: 250, stallMs: 4000, delayMs: 200, retryAfter: 1, upstream: null, maxSeconds: 900, kinds: ALL_KINDS }
  const names = { "--seed": "seed", "--rate": "rate", "--live-rate": "liveRate", "--live-slice-ms": "liveSliceMs", "--stall-ms": "stallMs", "--delay-ms": "delayMs",
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
    proxy = await startProxy({ ...opts, liveRate: opts.liveRate ?? opts.rate, upstream })
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
