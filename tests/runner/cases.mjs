// Loading the YAML suites and selecting tests (conformance README §1–§3).
import { readdir, readFile } from "node:fs/promises"
import path from "node:path"
import YAML from "yaml"

async function listYamlFiles(dir, prefix = "") {
  const out = []
  for (const entry of await readdir(path.join(dir, prefix), { withFileTypes: true })) {
    const rel = prefix ? `${prefix}/${entry.name}` : entry.name
    if (entry.isDirectory()) out.push(...(await listYamlFiles(dir, rel)))
    else if (/\.ya?ml$/.test(entry.name)) out.push(rel)
  }
  return out
}

/** All suites under `dir`, as [{ file, suite }] in path order (file is posix, relative). */
export async function loadSuites(dir) {
  const files = (await listYamlFiles(dir)).sort()
  const suites = []
  for (const file of files) {
    const suite = YAML.parse(await readFile(path.join(dir, file), "utf8"))
    if (typeof suite?.id !== "string" || !Array.isArray(suite.tests)) {
      throw new Error(`${file}: not a conformance suite (needs "id" and a "tests" list)`)
    }
    suites.push({ file, suite })
  }
  return suites
}

/** Normalises a --file argument to the posix path relative to the cases dir. */
export function normaliseCaseFile(dir, file) {
  return path.relative(dir, path.resolve(dir, file)).split(path.sep).join("/")
}

/**
 * Filters: `files` (relative paths), `tests` ("test-id" or "suite-id/test-id"),
 * `categories` (suite `category`). Each given kind must match (AND); values
 * within a kind are alternatives (OR). Returns [{ file, suite, test }].
 */
export function selectTests(suites, { files = [], tests = [], categories = [] } = {}) {
  const selected = []
  for (const { file, suite } of suites) {
    if (files.length && !files.includes(file)) continue
    if (categories.length && !categories.includes(suite.category)) continue
    for (const test of suite.tests) {
      if (tests.length && !tests.some((t) => t === test.id || t === `${suite.id}/${test.id}`)) continue
      selected.push({ file, suite, test })
    }
  }
  return selected
}
