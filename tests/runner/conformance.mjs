#!/usr/bin/env node
// Independent conformance runner for Durable Streams client adapters.
//
//   node tests/runner/conformance.mjs --adapter <executable>
//        [--cases <dir>] [--file <relative/path.yaml>]... [--test <id|suite-id/test-id>]...
//        [--suite producer|consumer|lifecycle]... [--timeout <ms>] [--verbose]
//        [--fail-fast] [--pending <file.json>]
//
// Starts the reference server in-process, drives the adapter over JSON lines
// (shared/protocol/ADAPTER-PROTOCOL.md) through the YAML cases
// (shared/conformance/README.md), and prints one line per test and a final
// "conformance: N passed, N failed, N skipped" line. Exit status 1 if any test
// failed or none ran.
import { readFile } from "node:fs/promises"
import path from "node:path"
import { fileURLToPath } from "node:url"
import { parseArgs } from "node:util"
import { startServer } from "../server/server.mjs"
import { AdapterSession } from "./adapter-session.mjs"
import { loadSuites, normaliseCaseFile, selectTests } from "./cases.mjs"
import { FatalError } from "./errors.mjs"
import { runTest } from "./executor.mjs"
import { skipReason } from "./features.mjs"

const HERE = path.dirname(fileURLToPath(import.meta.url))
const DEFAULT_CASES = path.resolve(HERE, "..", "..", "..", "shared", "conformance", "test-cases")
const CATEGORIES = ["producer", "consumer", "lifecycle"]
const USAGE = `usage: node tests/runner/conformance.mjs --adapter <executable> [--cases <dir>]
  [--file <relative/path.yaml>]... [--test <id|suite-id/test-id>]...
  [--suite producer|consumer|lifecycle]... [--timeout <ms>] [--verbose] [--fail-fast]
  [--pending <file.json>]`

const out = (line) => process.stdout.write(`${line}\n`)
// The reference server logs through console.*; keep stdout for the report.
for (const level of ["log", "info", "debug"]) console[level] = console.error

function parseCli(argv) {
  const { values } = parseArgs({
    args: argv,
    options: {
      adapter: { type: "string" },
      cases: { type: "string" },
      file: { type: "string", multiple: true, default: [] },
      test: { type: "string", multiple: true, default: [] },
      suite: { type: "string", multiple: true, default: [] },
      timeout: { type: "string", default: "30000" },
      verbose: { type: "boolean", default: false },
      "fail-fast": { type: "boolean", default: false },
      pending: { type: "string" },
      help: { type: "boolean", short: "h", default: false },
    },
    strict: true,
  })
  if (values.help) {
    out(USAGE)
    process.exit(0)
  }
  if (!values.adapter) throw new Error("--adapter is required")
  for (const s of values.suite) if (!CATEGORIES.includes(s)) throw new Error(`--suite must be one of ${CATEGORIES.join(", ")}`)
  const timeoutMs = Number(values.timeout)
  if (!Number.isInteger(timeoutMs) || timeoutMs <= 0) throw new Error("--timeout must be a positive integer (ms)")
  return {
    adapter: path.resolve(values.adapter),
    casesDir: path.resolve(values.cases ?? process.env.DS_CONFORMANCE_CASES ?? DEFAULT_CASES),
    files: values.file,
    tests: values.test,
    categories: values.suite,
    timeoutMs,
    verbose: values.verbose,
    failFast: values["fail-fast"],
    pendingFile: values.pending,
  }
}

async function loadPending(file) {
  if (!file) return {}
  const data = JSON.parse(await readFile(file, "utf8"))
  if (typeof data !== "object" || data === null || Array.isArray(data)) throw new Error(`${file}: expected a JSON object "suite-id/test-id" → reason`)
  return data
}

/** Collects adapter stderr per test; echoes it live with --verbose. */
function stderrCollector(verbose) {
  let buffer = ""
  let live = verbose
  return {
    onStderr(text) {
      if (live) for (const line of text.replace(/\n$/, "").split("\n")) out(`[adapter stderr] ${line}`)
      else buffer += text
    },
    take() {
      const text = buffer
      buffer = ""
      return text
    },
    silence() {
      live = false
    },
  }
}

function formatStderr(text, maxLines = 40) {
  const lines = text.replace(/\n$/, "").split("\n").filter((l) => l !== "")
  const shown = lines.slice(-maxLines)
  const head = lines.length > shown.length ? [`      [adapter stderr] … ${lines.length - shown.length} earlier line(s)`] : []
  return [...head, ...shown.map((l) => `      [adapter stderr] ${l}`)]
}

async function main() {
  let opts
  try {
    opts = parseCli(process.argv.slice(2))
  } catch (err) {
    process.stderr.write(`conformance: ${err.message}\n${USAGE}\n`)
    process.exit(2)
  }

  const pending = await loadPending(opts.pendingFile)
  const suites = await loadSuites(opts.casesDir)
  const files = opts.files.map((f) => normaliseCaseFile(opts.casesDir, f))
  const unknownFiles = files.filter((f) => !suites.some((s) => s.file === f))
  const selected = selectTests(suites, { files, tests: opts.tests, categories: opts.categories })

  const counts = { passed: 0, failed: 0, skipped: 0, ran: 0 }
  const server = await startServer({ longPollTimeout: 500 })
  const stderr = stderrCollector(opts.verbose)
  const session = new AdapterSession({ executable: opts.adapter, serverUrl: server.url, timeoutMs: opts.timeoutMs, onStderr: stderr.onStderr })

  let interrupted = false
  const onSignal = async () => {
    if (interrupted) return
    interrupted = true
    process.stderr.write("conformance: interrupted\n")
    await session.kill().catch(() => {})
    await server.stop().catch(() => {})
    process.exit(130)
  }
  process.on("SIGINT", onSignal)
  process.on("SIGTERM", onSignal)

  let aborted = null
  try {
    const info = await session.start()
    const flags = Object.entries(info.features ?? {}).filter(([, v]) => v === true).map(([k]) => k)
    out(`conformance: adapter ${info.clientName} ${info.clientVersion} · features: ${flags.join(", ") || "none"} · server ${server.url}`)
    out(`conformance: cases ${opts.casesDir} · ${selected.length} selected test(s)`)
    for (const f of unknownFiles) out(`conformance: warning: --file ${f} matches no suite file`)

    for (const { suite, test } of selected) {
      const name = `${suite.id} › ${test.id}`
      const key = `${suite.id}/${test.id}`
      const skip = skipReason(suite, test, info.features)
      if (skip) {
        counts.skipped++
        out(`SKIP  ${name} — ${skip.replace(/^skip: /, "")}`)
        continue
      }
      stderr.take() // output from between tests belongs to no test
      if (opts.verbose) out(`RUN   ${name}`)
      const started = Date.now()
      let outcome
      try {
        outcome = await runTest({
          suite,
          test,
          session,
          serverUrl: server.url,
          timeoutMs: opts.timeoutMs,
          log: opts.verbose ? out : () => {},
        })
      } catch (err) {
        if (!(err instanceof FatalError)) throw err
        outcome = { ok: false, reason: err.message }
        aborted = err.message
      }
      counts.ran++
      const ms = Date.now() - started
      const pendingReason = Object.hasOwn(pending, key) ? String(pending[key]) : null
      if (outcome.ok) {
        counts.passed++
        out(`PASS  ${name}  (${ms} ms)${pendingReason !== null ? ` — note: pending test now passes (pending: ${pendingReason})` : ""}`)
      } else if (pendingReason !== null && !aborted) {
        counts.skipped++
        out(`SKIP  ${name}  (${ms} ms) — pending: ${pendingReason} [failed: ${outcome.reason}]`)
      } else {
        counts.failed++
        out(`FAIL  ${name}  (${ms} ms) — ${outcome.reason}`)
        for (const line of formatStderr(stderr.take())) out(line)
      }
      if (aborted) {
        out(`conformance: aborting: ${aborted}`)
        break
      }
      if (opts.failFast && !outcome.ok && pendingReason === null) {
        out("conformance: stopping after the first failure (--fail-fast)")
        break
      }
    }
  } catch (err) {
    if (!(err instanceof FatalError)) throw err
    out(`conformance: ${err.message}`)
    for (const line of formatStderr(stderr.take())) out(line)
    aborted = err.message
  }

  stderr.silence()
  const notes = aborted ? [] : await session.shutdown()
  if (aborted) await session.kill()
  for (const note of notes) out(`conformance: note: ${note}`)
  if (session.restarts) out(`conformance: note: the adapter was restarted ${session.restarts} time(s)`)
  await server.stop()
  if (counts.ran === 0) out("conformance: no test ran")
  out(`conformance: ${counts.passed} passed, ${counts.failed} failed, ${counts.skipped} skipped`)
  process.exitCode = counts.failed > 0 || counts.ran === 0 || aborted ? 1 : 0
}

main().catch((err) => {
  process.stderr.write(`conformance: internal error: ${err?.stack ?? err}\n`)
  process.exit(2)
})
