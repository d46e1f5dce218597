#!/usr/bin/env node
// Stand-alone reference server for tests written in other languages.
//
//   node tests/server/ref-server.mjs
//
// Environment:
//   DS_PORT          port to listen on (default 0 = any free port)
//   DS_LONGPOLL_MS   long-poll timeout in ms (default 500)
//   DS_IGNORE_STDIN  set to 1 to keep running after stdin closes (e.g. when
//                    started with </dev/null from a shell)
//
// Contract: the FIRST line on stdout is the base URL (http://127.0.0.1:PORT)
// and nothing else is ever written to stdout (server logs go to stderr).
// The process stops cleanly on SIGINT/SIGTERM/SIGHUP and when its stdin
// reaches EOF, so a parent that spawns it with a piped stdin and then dies
// never leaves it orphaned.
import { startServer } from "./server.mjs"

// Keep stdout reserved for the URL line: the server library logs with console.*.
for (const level of ["log", "info", "debug"]) console[level] = console.error

function intFromEnv(name, fallback) {
  const raw = process.env[name]
  if (raw === undefined || raw === "") return fallback
  if (!/^\d+$/.test(raw)) {
    console.error(`ref-server: ${name} must be a non-negative integer, got ${JSON.stringify(raw)}`)
    process.exit(2)
  }
  return Number(raw)
}

const port = intFromEnv("DS_PORT", 0)
const longPollTimeout = intFromEnv("DS_LONGPOLL_MS", 500)

let handle
try {
  handle = await startServer({ port, longPollTimeout })
} catch (err) {
  console.error(`ref-server: failed to start on port ${port}: ${err?.message ?? err}`)
  process.exit(1)
}

let exiting = false
async function shutdown(why) {
  if (exiting) return
  exiting = true
  console.error(`ref-server: stopping (${why})`)
  setTimeout(() => process.exit(0), 3000).unref() // never hang on shutdown
  try {
    await handle.stop()
  } catch (err) {
    console.error(`ref-server: error while stopping: ${err?.message ?? err}`)
  }
  process.exit(0)
}

for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"]) process.on(sig, () => shutdown(sig))
process.stdout.on("error", () => shutdown("stdout closed"))

process.stdout.write(`${handle.url}\n`)

if (process.env.DS_IGNORE_STDIN !== "1") {
  process.stdin.on("end", () => shutdown("stdin closed"))
  process.stdin.on("close", () => shutdown("stdin closed"))
  process.stdin.on("error", () => shutdown("stdin error"))
  process.stdin.resume() // discard anything written to us; we only watch for EOF
}
