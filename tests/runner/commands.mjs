// Building adapter commands from YAML operations (conformance README §6).
// Pure functions: `interp` is the caller's variable interpolator. Only the
// fields the README lists are interpolated; everything else is verbatim.
import { randomUUID } from "node:crypto"

/** Result `type` a successful step of each action must carry. */
export const RESULT_TYPE = {
  create: "create",
  connect: "connect",
  append: "append",
  "append-batch": "append", // synthetic
  "idempotent-append": "idempotent-append",
  "idempotent-append-batch": "idempotent-append-batch",
  "idempotent-close": "idempotent-close",
  "idempotent-detach": "idempotent-detach",
  read: "read",
  await: "read",
  head: "head",
  delete: "delete",
  close: "close",
  "server-append": "append", // synthetic
  "server-close": "close", // synthetic
  "set-dynamic-header": "set-dynamic-header",
  "set-dynamic-param": "set-dynamic-param",
  "clear-dynamic": "clear-dynamic",
  validate: "validate",
}

/** Drops undefined members: optional fields are omitted, never null. */
export function compact(obj) {
  return Object.fromEntries(Object.entries(obj).filter(([, v]) => v !== undefined))
}

/** `data` / `binary` of an `append` command (README §6, `append` row). */
export function appendPayload(op, interp) {
  if (op.binaryData !== undefined && op.binaryData !== null) {
    const b64 = String(op.binaryData)
    return b64 === "" ? { data: "", binary: false } : { data: b64, binary: true }
  }
  if (op.json !== undefined) return { data: JSON.stringify(op.json), binary: false }
  if (op.data !== undefined && op.data !== null) return { data: interp(op.data), binary: false }
  return { data: "", binary: false }
}

/** `data` / `binary` of one `append-batch` item (item data is not interpolated). */
export function batchItemPayload(item) {
  if (item?.binaryData !== undefined && item.binaryData !== null && String(item.binaryData) !== "") {
    return { data: String(item.binaryData), binary: true }
  }
  if (item?.binaryData !== undefined && item.binaryData !== null) return { data: "", binary: false }
  return { data: item?.data === undefined || item.data === null ? "" : String(item.data), binary: false }
}

/** Stream path for `create` without `path`. */
export function generatedStreamPath() {
  return `/test-stream-${randomUUID()}`
}

/**
 * The adapter command for an adapter-executed action (not append-batch,
 * which becomes one `append` per item, see `appendBatchCommands`).
 */
export function buildCommand(op, interp) {
  const path = () => interp(op.path)
  switch (op.action) {
    case "create":
      return compact({
        type: "create",
        path: op.path === undefined || op.path === null ? generatedStreamPath() : path(),
        contentType: op.contentType,
        ttlSeconds: op.ttlSeconds,
        expiresAt: op.expiresAt,
        headers: op.headers,
        closed: op.closed,
        data: op.data, // not interpolated
      })
    case "connect":
    case "head":
    case "delete":
      return compact({ type: op.action, path: path(), headers: op.headers })
    case "append":
      // producerId/producerEpoch/producerSeq on this action are not forwarded.
      return compact({ type: "append", path: path(), ...appendPayload(op, interp), seq: op.seq, headers: op.headers })
    case "idempotent-append":
      return compact({
        type: "idempotent-append",
        path: path(),
        data: interp(op.data),
        producerId: op.producerId,
        epoch: op.epoch ?? 0,
        autoClaim: op.autoClaim ?? false,
        headers: op.headers,
      })
    case "idempotent-append-batch":
      return compact({
        type: "idempotent-append-batch",
        path: path(),
        items: (op.items ?? []).map((item) => interp(typeof item === "object" && item !== null ? item.data : item)),
        producerId: op.producerId,
        epoch: op.epoch ?? 0,
        autoClaim: op.autoClaim ?? false,
        maxInFlight: op.maxInFlight,
        headers: op.headers,
      })
    case "idempotent-close":
      return compact({
        type: "idempotent-close",
        path: path(),
        producerId: op.producerId,
        epoch: op.epoch ?? 0,
        data: op.data === undefined || op.data === null ? undefined : interp(op.data),
        autoClaim: op.autoClaim ?? false,
        headers: op.headers,
      })
    case "idempotent-detach":
      return compact({ type: "idempotent-detach", path: path(), producerId: op.producerId, epoch: op.epoch ?? 0, headers: op.headers })
    case "read":
      return compact({
        type: "read",
        path: path(),
        offset: op.offset === undefined || op.offset === null ? undefined : interp(op.offset),
        live: op.live,
        timeoutMs: op.timeoutMs,
        maxChunks: op.maxChunks,
        waitForUpToDate: op.waitForUpToDate,
        headers: op.headers,
      })
    case "close":
      // `headers` are not forwarded for this action; data is not interpolated.
      return compact({ type: "close", path: path(), data: op.data, contentType: op.contentType })
    case "set-dynamic-header":
      return compact({ type: "set-dynamic-header", name: op.name, valueType: op.valueType, initialValue: op.initialValue })
    case "set-dynamic-param":
      return compact({ type: "set-dynamic-param", name: op.name, valueType: op.valueType })
    case "clear-dynamic":
      return { type: "clear-dynamic" }
    case "validate":
      return { type: "validate", target: op.target } // passed through verbatim
    default:
      return null
  }
}

/** One `append` command per `append-batch` item, in order. */
export function appendBatchCommands(op, interp) {
  const path = interp(op.path)
  return (op.items ?? []).map((item) =>
    compact({ type: "append", path, ...batchItemPayload(item), seq: item?.seq, headers: op.headers }),
  )
}

/** Synthetic result of `append-batch`; per-item outcomes kept in `itemResults`. */
export function appendBatchResult(itemResults) {
  const success = itemResults.every((r) => r?.success === true)
  return { type: "append", success, status: success ? 200 : 207, itemResults }
}
