import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { readFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { cruise, type ICruiseOptions, type ICruiseResult, type IViolation } from 'dependency-cruiser'
import extractDepcruiseOptions from 'dependency-cruiser/config-utl/extract-depcruise-options'
import extractTSConfig from 'dependency-cruiser/config-utl/extract-ts-config'
import { within } from './helpers.ts'

// The rules live in .dependency-cruiser.cjs (also run by `npm run check:architecture`); each test here owns some
// of them by name, and one test fails on a rule none of them owns, so a new rule cannot go unchecked.
const ROOTS = ['server', 'client', 'shared']
const CONFIG = './.dependency-cruiser.cjs'
/** The most lines a source file may have (house style: one concern per file, named after what it owns). */
const MAX_LINES = 420

const owners: Record<string, (rule: string) => boolean> = {
  cycles: (rule) => rule === 'no-circular',
  layers: (rule) => /^layer-\d+-/.test(rule) || /outside-layers$/.test(rule),
  stores: (rule) => rule === 'store-implementation-imports-another',
  sides: (rule) => rule === 'shared-imports-client-or-server' || rule === 'client-imports-outside-client-and-shared',
  clientInServer: (rule) => rule === 'server-imports-client',
  resolution: (rule) => rule === 'not-to-unresolvable',
}

interface Cruise {
  options: ICruiseOptions
  result: ICruiseResult
}

let cruised: Promise<Cruise> | null = null
/** One cruise for all tests (about a second); under a deadline, as every await in these tests. */
function cruiseOnce(): Promise<Cruise> {
  cruised ??= (async () => {
    const options = await extractDepcruiseOptions(CONFIG)
    const tsConfig = extractTSConfig('tsconfig.json')
    const { output } = await cruise(ROOTS, options, {}, { tsConfig })
    if (typeof output === 'string') throw new Error(`dependency-cruiser returned text, not a result: ${output.slice(0, 200)}`)
    return { options, result: output }
  })()
  return within(60_000, cruised, 'dependency-cruiser')
}

/** One violation as an edge, or a chain of edges for a cycle; `(type-only)` marks an `import type` edge. */
function edge(v: IViolation): string {
  if (v.cycle === undefined) return `${v.from} → ${v.to}`
  const steps = v.cycle.map((step) => `${step.name}${step.dependencyTypes.includes('type-only') ? ' (type-only)' : ''}`)
  return [v.from, ...steps].join('\n      → ')
}

async function assertNoViolations(owner: (rule: string) => boolean, what: string): Promise<void> {
  const { options, result } = await cruiseOnce()
  const found = result.summary.violations.filter((v) => owner(v.rule.name))
  const report = [...new Set(found.map((v) => v.rule.name))].sort().map((name) => {
    const comment = options.ruleSet?.forbidden?.find((r) => r.name === name)?.comment
    const edges = found.filter((v) => v.rule.name === name).map((v) => `    ${edge(v)}`).sort()
    return `  ${name}${comment === undefined ? '' : `: ${comment}`}\n${edges.join('\n')}`
  })
  assert.ok(found.length === 0, `${found.length} ${what}:\n${report.join('\n')}\n`)
}

/** Lines as an editor numbers them: a last line without its newline counts too. */
function lineCount(text: string): number {
  return text === '' ? 0 : text.split('\n').length - (text.endsWith('\n') ? 1 : 0)
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) return ['node_modules', 'dist', 'test'].includes(entry.name) ? [] : sourceFiles(path)
    return entry.name.endsWith('.ts') ? [path] : []
  })
}

test('has no import cycle in server, client and shared', async () => {
  await assertNoViolations(owners.cycles, 'import cycles (type-only imports count)')
})

test('imports no module from a layer above its own', async () => {
  await assertNoViolations(owners.layers, 'imports against the layer order (see the layer list in .dependency-cruiser.cjs)')
})

test('keeps each store implementation out of the others', async () => {
  await assertNoViolations(owners.stores, 'imports from one store implementation folder into another')
})

test('keeps shared free of client and server, and client free of server', async () => {
  await assertNoViolations(owners.sides, 'imports across the client, shared and server sides')
})

test('uses the client SDK in the server only from the CLI and the monitor page', async () => {
  await assertNoViolations(owners.clientInServer, 'server imports of client/ outside server/cli/ and server/monitoring/web/app/')
})

test('resolves every import, so no edge escapes the rules', async () => {
  await assertNoViolations(owners.resolution, 'unresolved imports')
})

test('cruises every source file of server, client and shared', async () => {
  const { result } = await cruiseOnce()
  const cruisedFiles = new Set(result.modules.map((m) => m.source))
  const missed = ROOTS.flatMap(sourceFiles).filter((file) => !cruisedFiles.has(file))
  assert.equal(missed, [], 'files dependency-cruiser did not see')
  const local = result.modules.flatMap((m) => m.dependencies).filter((d) => d.dependencyTypes.includes('local'))
  assert.ok(local.length > 100, `only ${local.length} local imports resolved`)
})

test('checks every rule of .dependency-cruiser.cjs in one of these tests', async () => {
  const { options } = await cruiseOnce()
  const rules = (options.ruleSet?.forbidden ?? []).map((r) => r.name ?? '(unnamed)')
  assert.ok(rules.length > 0, `no rules in ${CONFIG}`)
  assert.equal(rules.filter((name) => !Object.values(owners).some((owns) => owns(name))), [], 'rules no test owns')
})

test(`keeps every source file at ${MAX_LINES} lines or fewer`, () => {
  const over = ROOTS.flatMap(sourceFiles)
    .map((file) => ({ file, lines: lineCount(readFileSync(file, 'utf8')) }))
    .filter(({ lines }) => lines > MAX_LINES)
    .map(({ file, lines }) => `  ${file}: ${lines} lines`)
  assert.ok(over.length === 0, `${over.length} files over ${MAX_LINES} lines (split each by the concerns it owns):\n${over.join('\n')}\n`)
})

test.run()
