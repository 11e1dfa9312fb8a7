/**
 * Compiles the child-process entry points to plain JavaScript before a run, so children start with `node`
 * alone. Under the tsx loader every child carried ~23 MiB more RSS (82 vs 59 MiB for an idle subwire broker),
 * which skewed the per-connection and peak-RSS figures of every system alike.
 */
import { build } from 'esbuild'
import { fileURLToPath } from 'node:url'

const PROJECT_ROOT = fileURLToPath(new URL('../../../', import.meta.url))
/** Where the compiled children go (git-ignored). */
export const BUILD_DIR = fileURLToPath(new URL('../../../.tmp/bench-build/', import.meta.url))
const ENTRIES = ['broker.ts', 'subscribers.ts', 'publisher.ts']

/** Bundles the entries (sources resolved through the `source` export condition; npm packages stay external). */
export async function compileChildren(): Promise<void> {
  await build({
    absWorkingDir: PROJECT_ROOT,
    entryPoints: ENTRIES.map((e) => `test/bench/proc/${e}`),
    outdir: BUILD_DIR,
    outExtension: { '.js': '.mjs' },
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    conditions: ['source'],
    packages: 'external',
    // The project's own package must be bundled from source, not resolved to dist/ at run time.
    alias: { 'subwire/server': './server/index.ts', 'subwire/client': './client/index.ts', 'subwire/shared': './shared/index.ts' },
    sourcemap: 'inline',
    logLevel: 'warning',
  })
}

/** The compiled file of a child entry (`broker.ts` → `.tmp/bench-build/broker.mjs`). */
export function compiledEntry(file: string): string {
  return `${BUILD_DIR}${file.replace(/\.ts$/, '.mjs')}`
}
