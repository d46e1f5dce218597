// Feature gating: YAML `requires` names → adapter `init.features` flags
// (conformance README §3). An unrecognised name counts as missing.
export const FEATURE_FLAGS = {
  batching: "batching",
  sse: "sse",
  "long-poll": "longPoll",
  longPoll: "longPoll",
  auto: "auto",
  streaming: "streaming",
  dynamicHeaders: "dynamicHeaders",
  "dynamic-headers": "dynamicHeaders",
  retryOptions: "retryOptions",
  "retry-options": "retryOptions",
  batchItems: "batchItems",
  "batch-items": "batchItems",
  strictZeroValidation: "strictZeroValidation",
  "strict-zero-validation": "strictZeroValidation",
}

/** Returns the `requires` entries the adapter does not satisfy. */
export function missingFeatures(requires, features) {
  if (!Array.isArray(requires)) return []
  return requires.filter((name) => {
    const flag = Object.hasOwn(FEATURE_FLAGS, name) ? FEATURE_FLAGS[name] : undefined
    return flag === undefined || features?.[flag] !== true
  })
}

/** Reason to skip a test, or null if it should run. */
export function skipReason(suite, test, features) {
  if (test.skip === true) return "skip: marked skip in the case file"
  if (typeof test.skip === "string" && test.skip !== "") return `skip: ${test.skip}`
  const missing = [...missingFeatures(suite.requires, features), ...missingFeatures(test.requires, features)]
  if (missing.length === 0) return null
  const unknown = missing.filter((n) => !Object.hasOwn(FEATURE_FLAGS, n))
  const known = missing.filter((n) => Object.hasOwn(FEATURE_FLAGS, n))
  const parts = []
  if (known.length) parts.push(`adapter lacks feature${known.length > 1 ? "s" : ""} ${[...new Set(known)].join(", ")}`)
  if (unknown.length) parts.push(`unknown feature name${unknown.length > 1 ? "s" : ""} ${unknown.join(", ")}`)
  return `skip: ${parts.join("; ")}`
}
