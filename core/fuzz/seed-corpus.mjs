// Writes the seed corpus of every fuzz target from the conformance cases
// (../shared/conformance/test-cases, or DS_CONFORMANCE): every string and every JSON
// value that appears in a case becomes offsets/headers/Retry-After seeds, JSON array
// bodies, and SSE bodies (data events in text and base64, control events).
//
//   node core/fuzz/seed-corpus.mjs        # → core/fuzz/corpus/<target>/ (not committed)
import { createHash } from "node:crypto"
import fs from "node:fs"
import { createRequire } from "node:module"
import path from "node:path"
import { fileURLToPath } from "node:url"

const here = path.dirname(fileURLToPath(import.meta.url))
const root = path.resolve(here, "../..")
const YAML = createRequire(path.join(root, "tests/package.json"))("yaml")
const cases = process.env.DS_CONFORMANCE ?? path.resolve(root, "../shared/conformance/test-cases")

const strings = new Set()
const values = []
function walk(v) {
  if (typeof v === "string") strings.add(v)
  else if (Array.isArray(v)) v.forEach(walk)
  else if (v && typeof v === "object") Object.entries(v).forEach(([k, x]) => { strings.add(k); walk(x) })
  if (v !== undefined && v !== null && typeof v === "object") values.push(v)
}
const files = fs.readdirSync(cases, { recursive: true }).filter((f) => f.endsWith(".yaml"))
for (const f of files) walk(YAML.parse(fs.readFileSync(path.join(cases, f), "utf8")))

const out = {}
const add = (target, bytes) => {
  const buf = Buffer.from(bytes)
  const dir = path.join(here, "corpus", target)
  fs.mkdirSync(dir, { recursive: true })
  fs.writeFileSync(path.join(dir, createHash("sha1").update(buf).digest("hex")), buf)
  out[target] = (out[target] ?? 0) + 1
}
const le16 = (n) => Buffer.from([n & 255, (n >> 8) & 255])
const f64 = (x) => { const b = Buffer.alloc(8); b.writeDoubleLE(x); return b }
const nums = (a, b, c, r, at) => {
  const t = Buffer.alloc(12); t.writeBigInt64LE(BigInt(r)); t.writeUInt32LE(at, 8)
  return Buffer.concat([f64(a), f64(b), f64(c), t])
}

const strs = [...strings].filter((s) => s.length < 512)
for (const s of [...strs, "-1", "now", "0000000000000000_0000000000000042", "true", "TRUE ", "application/json; charset=utf-8"]) {
  add("offset_headers", s)
}
for (const s of ["0", "1", "120", "1.5", "Wed, 21 Oct 2015 07:28:00 GMT", "-3", "1e400", ...strs.slice(0, 50)]) {
  add("retry_after", Buffer.concat([nums(100, 10000, 2, 5, 3), Buffer.from(s)]))
}
const jsons = values.slice(0, 400).map((v) => JSON.stringify(v))
for (const j of jsons) add("json_split", Buffer.concat([Buffer.from([0]), le16(j.length >> 1), Buffer.from(`[${j}]`)]))
add("json_split", Buffer.concat([Buffer.from([2]), le16(3), Buffer.from(`[1, "a\\"b", {"x":[true,null]}, -2.5e3]`)]))

const control = (offset, extra = "") => `event: control\ndata: {"streamNextOffset":${JSON.stringify(offset)}${extra}}\n\n`
for (const [i, j] of jsons.slice(0, 200).entries()) {
  const text = `event: data\ndata: [${j}]\n\n${control(`0_${i}`, ',"streamCursor":"c1","upToDate":true')}`
  add("sse", Buffer.concat([Buffer.from([2, 0]), le16(text.length >> 1), Buffer.from(text)]))
  const b64 = Buffer.from(j).toString("base64")
  const enc = `event: data\r\ndata: ${b64.slice(0, 8)}\r\ndata: ${b64.slice(8)}\r\n\r\n${control(`0_${i}`, ',"streamClosed":true')}`
  add("sse", Buffer.concat([Buffer.from([1, 3]), le16(enc.length >> 1), Buffer.from(enc)]))
}
add("sse", Buffer.concat([Buffer.from([4 | 8, 0]), le16(5), Buffer.from("\uFEFF: comment\rid: 7\rdata:x\r\rretry: 10\n\n")]))
console.log(JSON.stringify(out))
