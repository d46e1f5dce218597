// One adapter child process speaking JSON lines over stdin/stdout
// (ADAPTER-PROTOCOL.md §1). Strict correlation: at most one command is
// pending; a line that arrives while nothing is pending is recorded in
// `unsolicited` instead of being matched to a later command.
import { spawn } from "node:child_process"
import { StringDecoder } from "node:string_decoder"
import { AdapterFailure } from "./errors.mjs"

/** JSON line for a command; U+2028/U+2029 escaped so they never split lines. */
export function serializeCommand(command) {
  return JSON.stringify(command).replace(/\u2028/g, "\\u2028").replace(/\u2029/g, "\\u2029")
}

const shorten = (s, max = 200) => (s.length > max ? `${s.slice(0, max)}…` : s)

/** Resolves true if `promise` settles within `ms`, else false (timer cleared either way). */
function settlesWithin(promise, ms) {
  let timer
  const timeout = new Promise((resolve) => (timer = setTimeout(() => resolve(false), ms)))
  return Promise.race([promise.then(() => true), timeout]).finally(() => clearTimeout(timer))
}

export class AdapterProcess {
  /** @param {string} executable  spawned directly: no shell, no arguments */
  constructor(executable, { onStderr = () => {} } = {}) {
    this.executable = executable
    this.onStderr = onStderr
    this.child = null
    this.alive = false
    this.exitInfo = null
    this.pending = null
    this.unsolicited = []
    this.exited = new Promise((resolve) => (this._resolveExited = resolve))
  }

  start() {
    // detached ⇒ own process group, so a wrapper script and its children can be killed together
    const child = spawn(this.executable, [], { stdio: ["pipe", "pipe", "pipe"], detached: true })
    this.child = child
    this.alive = true
    const decoder = new StringDecoder("utf8")
    let buffer = ""
    child.stdout.on("data", (chunk) => {
      buffer += decoder.write(chunk)
      let nl
      while ((nl = buffer.indexOf("\n")) >= 0) {
        let line = buffer.slice(0, nl)
        buffer = buffer.slice(nl + 1)
        if (line.endsWith("\r")) line = line.slice(0, -1)
        if (line.trim() !== "") this.#onLine(line)
      }
    })
    child.stderr.setEncoding("utf8")
    child.stderr.on("data", (text) => this.onStderr(text))
    child.stdin.on("error", () => {}) // EPIPE after the child died; reported via exit
    child.on("error", (err) => {
      this.alive = false
      this.exitInfo ??= { error: err.message }
      this.#failPending(new AdapterFailure("spawn", `cannot run adapter ${this.executable}: ${err.message}`))
      this._resolveExited(this.exitInfo)
    })
    child.on("exit", (code, signal) => {
      this.alive = false
      this.exitInfo = { code, signal }
      // Give stdout a moment to deliver a final reply written just before exiting.
      setTimeout(() => this.#failPending(new AdapterFailure("exit", `adapter exited (${this.describeExit()})`)), 200).unref()
      this._resolveExited(this.exitInfo)
    })
  }

  describeExit() {
    const e = this.exitInfo
    if (!e) return "running"
    if (e.error) return e.error
    return e.signal ? `signal ${e.signal}` : `code ${e.code}`
  }

  #onLine(line) {
    const pending = this.pending
    if (!pending) {
      this.unsolicited.push(line)
      return
    }
    let value
    try {
      value = JSON.parse(line)
    } catch {
      pending.reject(new AdapterFailure("protocol", `reply to "${pending.type}" is not JSON: ${shorten(line)}`))
      return
    }
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      pending.reject(new AdapterFailure("protocol", `reply to "${pending.type}" is not a JSON object: ${shorten(line)}`))
      return
    }
    pending.resolve(value)
  }

  #failPending(error) {
    this.pending?.reject(error)
  }

  /** Sends one command and resolves with its reply (rejects with AdapterFailure). */
  send(command, timeoutMs) {
    if (this.pending) {
      return Promise.reject(new Error(`internal: "${command.type}" sent while "${this.pending.type}" is pending`))
    }
    if (!this.alive) {
      return Promise.reject(new AdapterFailure("exit", `adapter is not running (${this.describeExit()})`))
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending = null
        reject(new AdapterFailure("timeout", `no reply to "${command.type}" within ${timeoutMs} ms`))
      }, timeoutMs)
      const settle = (fn) => (value) => {
        clearTimeout(timer)
        this.pending = null
        fn(value)
      }
      this.pending = { type: command.type, resolve: settle(resolve), reject: settle(reject) }
      this.child.stdin.write(`${serializeCommand(command)}\n`)
    })
  }

  /** SIGKILLs the adapter's process group and waits (briefly) for the exit. */
  async kill() {
    if (this.alive && this.child?.pid) {
      try {
        process.kill(-this.child.pid, "SIGKILL")
      } catch {
        this.child.kill("SIGKILL")
      }
    }
    await settlesWithin(this.exited, 2000)
  }

  /** Polite stop: `shutdown` command, close stdin, wait ≤ graceMs, then kill. Returns notes. */
  async shutdown(graceMs = 5000) {
    const notes = []
    if (!this.alive) return notes
    const deadline = Date.now() + graceMs
    try {
      const reply = await this.send({ type: "shutdown" }, graceMs)
      if (reply.type !== "shutdown" || reply.success !== true) notes.push(`unexpected shutdown reply ${shorten(JSON.stringify(reply))}`)
    } catch (err) {
      notes.push(`shutdown: ${err.message}`)
    }
    this.child.stdin.end()
    const left = Math.max(0, deadline - Date.now())
    const exited = await settlesWithin(this.exited, left)
    if (!exited) {
      notes.push(`adapter still running ${graceMs} ms after shutdown; killed`)
      await this.kill()
    } else if (this.exitInfo?.code !== 0) {
      notes.push(`adapter exited with ${this.describeExit()} after shutdown`)
    }
    return notes
  }
}
