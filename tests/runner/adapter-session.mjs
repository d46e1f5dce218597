// The adapter as seen by the runner: spawn + `init`, strict one-command-at-a-
// time sending, and restart (kill, respawn, re-`init`) after a timeout, an
// exit or an unparsable reply.
import { AdapterProcess } from "./adapter-process.mjs"
import { AdapterFailure, FatalError, StepError } from "./errors.mjs"
import { validateInitResult } from "./expect.mjs"

export class AdapterSession {
  constructor({ executable, serverUrl, timeoutMs, onStderr }) {
    Object.assign(this, { executable, serverUrl, timeoutMs, onStderr })
    this.proc = null
    this.info = null // the first successful init result
    this.outstanding = null // type of the command in flight, if any
    this.restarts = 0
  }

  async #spawnAndInit() {
    const proc = new AdapterProcess(this.executable, { onStderr: this.onStderr })
    this.proc = proc
    proc.start()
    let reply
    try {
      reply = await proc.send({ type: "init", serverUrl: this.serverUrl }, this.timeoutMs)
    } catch (err) {
      await proc.kill()
      throw new FatalError(`adapter init failed: ${err.message}`)
    }
    const problems = validateInitResult(reply)
    if (problems.length) {
      await proc.kill()
      throw new FatalError(`adapter init rejected: ${problems.join("; ")} (reply ${JSON.stringify(reply).slice(0, 300)})`)
    }
    return reply
  }

  /** Starts the adapter and returns its init reply (throws FatalError). */
  async start() {
    this.info = await this.#spawnAndInit()
    return this.info
  }

  /** Kills the current process and starts a fresh, initialised one. */
  async restart() {
    this.restarts++
    await this.proc?.kill()
    await this.#spawnAndInit()
  }

  /**
   * Sends one command. On a timeout, exit or protocol error the adapter is
   * restarted before the AdapterFailure is rethrown (FatalError if the
   * restart fails). Sending while another command is outstanding is refused.
   */
  async send(command) {
    if (this.outstanding) {
      throw new StepError(`cannot send "${command.type}" while "${this.outstanding}" is still outstanding (one command at a time)`)
    }
    this.outstanding = command.type
    try {
      return await this.proc.send(command, this.timeoutMs)
    } catch (err) {
      if (err instanceof AdapterFailure) {
        await this.restart() // throws FatalError if the adapter cannot come back
        err.message += " — adapter restarted"
      }
      throw err
    } finally {
      this.outstanding = null
    }
  }

  /** Lines the adapter wrote while no command was pending (cleared on read). */
  takeUnsolicited() {
    const lines = this.proc?.unsolicited.splice(0) ?? []
    return lines
  }

  async shutdown() {
    return (await this.proc?.shutdown(5000)) ?? []
  }

  async kill() {
    await this.proc?.kill()
  }
}
