// Executes one test case: setup → operations (checked) → cleanup, with the
// stricter bookkeeping of conformance README §4/§8: background reads are
// always drained, faults are always cleared, cleanup always runs.
import { runAssert } from "./assert-step.mjs"
import { appendBatchCommands, appendBatchResult, buildCommand, RESULT_TYPE } from "./commands.mjs"
import { ExpectationError, FatalError, StepError } from "./errors.mjs"
import { checkExpect, findToleratedError, validateResult } from "./expect.mjs"
import { clearErrors, faultFromStep, injectError, serverAppend, serverClose } from "./http-steps.mjs"
import { interpolate, setVariable } from "./interpolate.mjs"

const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
const clip = (s, max = 300) => (s.length > max ? `${s.slice(0, max)}…` : s)

/**
 * @param {object} ctx { suite, test, session, serverUrl, timeoutMs, log }
 *   `log(line)` prints verbose step traces (a no-op unless --verbose).
 * @returns {Promise<{ ok: boolean, reason?: string }>} throws FatalError only.
 */
export async function runTest({ suite, test, session, serverUrl, timeoutMs, log = () => {} }) {
  const state = { vars: new Map(), background: new Map() }
  const env = { suite, test, session, serverUrl, timeoutMs, log, state }
  let failure = null

  try {
    for (const [index, op] of (test.setup ?? []).entries()) await runStep(env, op, "setup", index)
    for (const [index, op] of (test.operations ?? []).entries()) await runStep(env, op, "operations", index)
  } catch (err) {
    if (err instanceof FatalError) throw err
    failure = err.where ? `${err.where}: ${err.message}` : err.message
  }

  // Wait for background reads nobody awaited, so the next command is correlated.
  for (const [name, pending] of state.background) {
    try {
      await pending
    } catch (err) {
      if (err instanceof FatalError) throw err
      failure ??= `background read "${name}" failed: ${err.message}`
    }
  }
  state.background.clear()

  const stray = session.takeUnsolicited()
  if (stray.length && !failure) {
    failure = `adapter wrote ${stray.length} line(s) while no command was pending: ${clip(stray.join(" | "))}`
  }
  if (stray.length) await session.restart() // resynchronise

  await clearFaults(env, (msg) => (failure ??= msg))
  for (const [index, op] of (test.cleanup ?? []).entries()) {
    try {
      await runStep(env, op, "cleanup", index)
    } catch (err) {
      if (err instanceof FatalError) throw err
      log(`    cleanup[${index}] ignored: ${err.message}`)
    }
  }
  await clearFaults(env, (msg) => (failure ??= msg))

  return failure ? { ok: false, reason: failure } : { ok: true }
}

async function clearFaults(env, onError) {
  try {
    await clearErrors(env.serverUrl, env.timeoutMs)
  } catch (err) {
    onError(`clearing injected faults failed: ${err.message}`)
  }
}

/** Runs one step; throws (with `.where`) to fail the test. */
async function runStep(env, op, phase, index) {
  const where = `${phase}[${index}] (${op?.action ?? "?"})`
  try {
    if (typeof op !== "object" || op === null || typeof op.action !== "string") {
      throw new StepError(`malformed operation ${JSON.stringify(op)}`)
    }
    const outcome = await executeAction(env, op, where)
    if (!outcome.result) return
    const { result, resultType, validate = true } = outcome
    if (validate) {
      const problems = validateResult(resultType, result)
      if (problems.length) throw new ExpectationError(`invalid result: ${problems.join("; ")} — got ${clip(JSON.stringify(result))}`)
    }
    storeValues(env.state.vars, op, result)
    if (phase !== "operations" || op.expect === undefined) return
    const tolerated = findToleratedError(env.suite.id, env.test.id, phase, index)
    const failures = checkExpect(op.expect, result, { action: op.action, resultType, tolerated })
    if (failures.length) throw new ExpectationError(failures.join("; "))
  } catch (err) {
    if (!(err instanceof FatalError)) err.where ??= where
    throw err
  }
}

/** Dispatches one action; returns { result?, resultType?, validate? }. */
async function executeAction(env, op, where) {
  const { session, state, serverUrl, timeoutMs, log } = env
  const interp = (value) => interpolate(value, state.vars)
  const trace = (dir, value) => log(`    ${where} ${dir} ${clip(JSON.stringify(value))}`)
  const send = async (command) => {
    trace("→", command)
    const result = await session.send(command)
    trace("←", result)
    return result
  }

  switch (op.action) {
    case "wait":
      await sleep(Number(op.ms) || 0)
      return {}
    case "set":
      if (typeof op.name !== "string") throw new StepError(`set needs a "name"`)
      setVariable(state.vars, op.name, interp(op.value))
      return {}
    case "assert":
      runAssert(op, interp)
      return {}
    case "inject-error":
      await injectError(serverUrl, faultFromStep(op, interp(op.path)), timeoutMs)
      return {}
    case "clear-errors":
      await clearErrors(serverUrl, timeoutMs)
      return {}
    case "server-append": {
      const step = { ...op, path: interp(op.path), data: interp(op.data ?? "") }
      const result = await serverAppend(serverUrl, step, timeoutMs)
      trace("⇄", result)
      return { result, resultType: "append" }
    }
    case "server-close": {
      const result = await serverClose(serverUrl, { ...op, path: interp(op.path) }, timeoutMs)
      trace("⇄", result)
      return { result, resultType: "close" }
    }
    case "await": {
      const pending = state.background.get(op.ref)
      if (!pending) throw new StepError(`await: no background read named ${JSON.stringify(op.ref)}`)
      state.background.delete(op.ref)
      const result = await pending
      trace("←", result)
      return { result, resultType: "read" }
    }
    case "append-batch": {
      const itemResults = []
      for (const command of appendBatchCommands(op, interp)) {
        const result = await send(command)
        const problems = validateResult("append", result)
        if (problems.length) throw new ExpectationError(`invalid result for item #${itemResults.length}: ${problems.join("; ")}`)
        itemResults.push(result)
      }
      return { result: appendBatchResult(itemResults), resultType: "append", validate: false }
    }
    case "read":
      if (op.background && op.as) {
        const command = buildCommand(op, interp)
        trace("→ (background)", command)
        const pending = session.send(command)
        pending.catch(() => {}) // observed later by `await` or the drain
        state.background.set(op.as, pending)
        return {}
      }
      break
    case "create":
      break
    default:
      if (!(op.action in RESULT_TYPE)) throw new StepError(`unknown action "${op.action}"`)
  }

  const command = buildCommand(op, interp)
  if (op.action === "create" && op.as) setVariable(state.vars, op.as, command.path)
  const result = await send(command)
  return { result, resultType: RESULT_TYPE[op.action] }
}

/** storeOffsetAs / storeDataAs / storeAs handling (README §5). */
function storeValues(vars, op, result) {
  const e = op.expect
  if (typeof e !== "object" || e === null) return
  const ok = (type) => result.success === true && result.type === type
  switch (op.action) {
    case "append":
      if (e.storeOffsetAs && ok("append")) setVariable(vars, e.storeOffsetAs, result.offset)
      break
    case "read":
      if (ok("read")) {
        if (e.storeOffsetAs) setVariable(vars, e.storeOffsetAs, result.offset)
        if (e.storeDataAs) setVariable(vars, e.storeDataAs, result.chunks.map((c) => c.data).join(""))
      }
      break
    case "idempotent-append":
      if (e.storeOffsetAs && ok("idempotent-append")) setVariable(vars, e.storeOffsetAs, result.offset ?? "")
      break
    case "server-append":
      if (e.storeOffsetAs && result.offset !== undefined) setVariable(vars, e.storeOffsetAs, result.offset)
      break
    case "head":
      if (e.storeAs && ok("head")) setVariable(vars, e.storeAs, result)
      break
  }
}

