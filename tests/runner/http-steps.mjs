// Steps the runner performs itself over HTTP against the reference server,
// bypassing the client under test (conformance README §6 and §9).
import { StepError } from "./errors.mjs"

/** Lower-cased header map so YAML headers override by name, case-insensitively. */
function headerMap(...sources) {
  const out = {}
  for (const src of sources) {
    for (const [name, value] of Object.entries(src ?? {})) {
      if (value !== undefined && value !== null) out[name.toLowerCase()] = String(value)
    }
  }
  return out
}

async function request(url, init, what, timeoutMs) {
  try {
    const response = await fetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs) })
    const body = await response.arrayBuffer() // drain so the connection is reused
    return { response, body }
  } catch (err) {
    throw new StepError(`${what}: request to ${url} failed: ${err?.cause?.message ?? err?.message ?? err}`)
  }
}

const headerNumber = (value) => (/^-?\d+$/.test(value) ? Number(value) : value)

/**
 * `server-append`: HEAD for the content type, then POST. Always a successful
 * synthetic `append` result once any response arrived.
 */
export async function serverAppend(baseUrl, { path, data, headers, producerId, producerEpoch, producerSeq }, timeoutMs) {
  const url = `${baseUrl}${path}`
  const head = await request(url, { method: "HEAD" }, "server-append (HEAD)", timeoutMs)
  const contentType = head.response.headers.get("content-type") ?? "application/octet-stream"
  const producer = {}
  if (producerId !== undefined) producer["producer-id"] = producerId
  if (producerEpoch !== undefined) producer["producer-epoch"] = producerEpoch
  if (producerSeq !== undefined) producer["producer-seq"] = producerSeq
  const { response } = await request(
    url,
    { method: "POST", headers: headerMap({ "content-type": contentType }, headers, producer), body: data },
    "server-append",
    timeoutMs,
  )
  const h = response.headers
  const result = { type: "append", success: true, status: response.status, duplicate: response.status === 204 }
  if (h.has("stream-next-offset")) result.offset = h.get("stream-next-offset")
  for (const [key, header] of [
    ["producerEpoch", "producer-epoch"],
    ["producerSeq", "producer-seq"],
    ["producerExpectedSeq", "producer-expected-seq"],
    ["producerReceivedSeq", "producer-received-seq"],
  ]) {
    if (h.has(header)) result[key] = headerNumber(h.get(header))
  }
  return result
}

/** `server-close`: POST with Stream-Closed: true; synthetic `close` result. */
export async function serverClose(baseUrl, { path, data, contentType, headers }, timeoutMs) {
  const url = `${baseUrl}${path}`
  const explicitType = data !== undefined && contentType !== undefined ? { "content-type": contentType } : {}
  const { response } = await request(
    url,
    { method: "POST", headers: headerMap({ "stream-closed": "true" }, headers, explicitType), body: data },
    "server-close",
    timeoutMs,
  )
  return { type: "close", success: true, finalOffset: response.headers.get("stream-next-offset") ?? "" }
}

/** Arms a fault via POST /_test/inject-error; anything but 200 fails the step. */
export async function injectError(baseUrl, fault, timeoutMs) {
  const { response, body } = await request(
    `${baseUrl}/_test/inject-error`,
    { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(fault) },
    "inject-error",
    timeoutMs,
  )
  if (response.status !== 200) {
    throw new StepError(`inject-error: server answered ${response.status}: ${Buffer.from(body).toString("utf8").slice(0, 200)}`)
  }
}

/** Removes every armed fault via DELETE /_test/inject-error. */
export async function clearErrors(baseUrl, timeoutMs) {
  const { response } = await request(`${baseUrl}/_test/inject-error`, { method: "DELETE" }, "clear-errors", timeoutMs)
  if (response.status !== 200) throw new StepError(`clear-errors: server answered ${response.status}`)
}

/** The body of an `inject-error` step (path already interpolated). */
export function faultFromStep(op, path) {
  const fault = { path, count: op.count ?? 1 }
  for (const key of [
    "status",
    "retryAfter",
    "delayMs",
    "dropConnection",
    "truncateBodyBytes",
    "probability",
    "method",
    "corruptBody",
    "jitterMs",
    "injectSseEvent",
  ]) {
    if (op[key] !== undefined) fault[key] = op[key]
  }
  return fault
}
