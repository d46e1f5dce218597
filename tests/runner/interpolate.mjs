// `${name}` / `${name.field.sub}` variable references (conformance README §5).
import { randomUUID } from "node:crypto"
import { StepError } from "./errors.mjs"

const REFERENCE = /\$\{([^}]+)\}/g

/** Stores a variable; storing `undefined` leaves the name undefined, so a
 *  later reference fails exactly like a never-set name. */
export function setVariable(vars, name, value) {
  if (value === undefined) vars.delete(name)
  else vars.set(name, value)
}

function toText(value) {
  if (value === undefined || value === null) return ""
  if (typeof value === "object") return JSON.stringify(value)
  return String(value)
}

/** Resolves one reference body such as `headResult.offset`. */
export function resolveReference(expr, vars) {
  if (expr === "randomUUID") return randomUUID() // fresh at every occurrence
  const [head, ...path] = expr.split(".")
  if (!vars.has(head)) throw new StepError(`Undefined variable: \${${expr}} ("${head}" is not set)`)
  let current = vars.get(head)
  for (const key of path) {
    if (current === undefined || current === null) break
    current = current[key]
  }
  return toText(current) // a missing property along the path yields ""
}

/** Replaces every `${...}` in `template`; non-strings are converted first. */
export function interpolate(template, vars) {
  return toText(template).replace(REFERENCE, (_, expr) => resolveReference(expr, vars))
}
