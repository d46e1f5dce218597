// The runner-side `assert` action (conformance README §6): every present
// clause is checked on interpolated strings; `matches` is an unanchored
// JavaScript regular expression search.
import { StepError } from "./errors.mjs"

export function runAssert(op, interp) {
  const fail = (text) => {
    throw new StepError(op.message ? `${op.message} (${text})` : `Assertion failed: ${text}`)
  }
  if (op.equals) {
    const left = interp(op.equals.left)
    const right = interp(op.equals.right)
    if (left !== right) fail(`expected ${JSON.stringify(left)} to equal ${JSON.stringify(right)}`)
  }
  if (op.notEquals) {
    const left = interp(op.notEquals.left)
    const right = interp(op.notEquals.right)
    if (left === right) fail(`expected ${JSON.stringify(left)} to not equal ${JSON.stringify(right)}`)
  }
  if (op.contains) {
    const value = interp(op.contains.value)
    const substring = interp(op.contains.substring)
    if (!value.includes(substring)) fail(`expected ${JSON.stringify(value)} to contain ${JSON.stringify(substring)}`)
  }
  if (op.matches) {
    const value = interp(op.matches.value)
    const pattern = interp(op.matches.pattern)
    let regex
    try {
      regex = new RegExp(pattern)
    } catch (err) {
      throw new StepError(`assert: invalid regular expression /${pattern}/: ${err.message}`)
    }
    if (!regex.test(value)) fail(`expected ${JSON.stringify(value)} to match /${pattern}/`)
  }
}
