/**
 * Compile-time behaviour of typed subjects: compiles test/types/*.ts (every file here that is not a test)
 * with the project's compiler options and fails on any diagnostic, so a `@ts-expect-error` line that is not
 * an error, or a type that stopped fitting, fails the run.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { readdirSync } from 'node:fs'
import { join, resolve } from 'node:path'
import ts from 'typescript'
import { within } from '../helpers.ts'

const ROOT = resolve(import.meta.dirname, '../..')
const HERE = join(ROOT, 'test/types')

/** The root tsconfig's compiler options, so these files compile exactly as the project's type-check does. */
function compilerOptions(): ts.CompilerOptions {
  const parsed = ts.getParsedCommandLineOfConfigFile(join(ROOT, 'tsconfig.json'), { noEmit: true }, {
    ...ts.sys,
    onUnRecoverableConfigFileDiagnostic: (d) => { throw new Error(ts.flattenDiagnosticMessageText(d.messageText, '\n')) },
  })
  if (parsed === undefined) throw new Error('tsconfig.json could not be read')
  return parsed.options
}

/**
 * Type-checks `files` plus `virtual` (path → source, served from memory as if they were in test/types, so
 * they resolve imports exactly as the specification does, and nothing is left on disk); returns each
 * diagnostic as `file:line TScode message`.
 */
function typeCheck(files: string[], virtual: ReadonlyMap<string, string> = new Map()): string[] {
  const options = compilerOptions()
  const host = ts.createCompilerHost(options)
  const { getSourceFile, fileExists, readFile } = host
  host.fileExists = (f) => virtual.has(f) || fileExists.call(host, f)
  host.readFile = (f) => virtual.get(f) ?? readFile.call(host, f)
  host.getSourceFile = (f, lang, ...rest) => {
    const text = virtual.get(f)
    return text === undefined ? getSourceFile.call(host, f, lang, ...rest) : ts.createSourceFile(f, text, lang)
  }
  const program = ts.createProgram([...files, ...virtual.keys()], options, host)
  return ts.getPreEmitDiagnostics(program).map((d) => {
    const where = d.file === undefined ? '' : `${d.file.fileName.replace(`${ROOT}/`, '')}:${d.file.getLineAndCharacterOfPosition(d.start ?? 0).line + 1} `
    return `${where}TS${d.code} ${ts.flattenDiagnosticMessageText(d.messageText, ' ')}`
  })
}

const SPEC_FILES = readdirSync(HERE).filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts')).map((f) => join(HERE, f))

// The harness must be able to fail: a wrong payload, a stale @ts-expect-error and an unknown subject on a
// strict client are each reported. They are compiled in the same program as the specification (one compile).
const PROBES: Array<{ name: string; body: string; code: number }> = [
  { name: 'a wrong payload type', body: "c.publish('sensors.paris.temp', { value: 'hot' })", code: 2322 },
  { name: 'a @ts-expect-error over code that compiles', body: "// @ts-expect-error\n  c.publish('sensors.paris.temp', { value: 1 })", code: 2578 },
  { name: 'an unknown subject on a strict client', body: "s.publish('weather.paris', 1)", code: 2345 },
]

let diagnostics: Promise<string[]> | null = null
/** Compiles the specification files and the probes once. */
function compileAll(): Promise<string[]> {
  diagnostics ??= Promise.resolve().then(() => {
    const probes = new Map(PROBES.map((probe, i) => [join(HERE, `probe-${i}.ts`), [
      "import type { Client } from '../../client/index.ts'",
      "type Schema = { 'sensors.*.temp': { value: number } }",
      'export function probe(c: Client<Schema>, s: Client<Schema, { strict: true }>): void {',
      '  void c; void s',
      `  ${probe.body}`,
      '}',
    ].join('\n')]))
    return typeCheck(SPEC_FILES, probes)
  })
  return diagnostics
}

test('the typed-subject specification files compile, every @ts-expect-error being a real error', async () => {
  assert.ok(SPEC_FILES.length > 0, 'test/types has specification files')
  // Only this directory's files: errors elsewhere in the tree are the project type-check's (CI runs it first).
  const found = (await within(120_000, compileAll(), 'tsc over test/types')).filter((d) => d.startsWith('test/types/') && !d.includes('probe-'))
  assert.equal(found, [], found.join('\n'))
})

PROBES.forEach((probe, i) => {
  test(`the type check reports ${probe.name}`, async () => {
    const found = (await within(120_000, compileAll(), 'tsc over test/types')).filter((d) => d.includes(`probe-${i}.ts`))
    assert.ok(found.some((d) => d.includes(`TS${probe.code} `)), `TS${probe.code} expected, got: ${found.join('\n') || 'nothing'}`)
    assert.is(found.length, 1, found.join('\n'))
  })
})

test.run()
