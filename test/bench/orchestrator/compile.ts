/**
 * Compiles the child-process entry points to plain JavaScript before a run, so children start with `node`
 * alone. Under the tsx loader every child carried ~23 MiB more RSS (82 vs 59 MiB for an idle subwire broker),
 * which skewed the per-connection and peak-RSS figures of every system alike.
 */
import { build } from 'esbuild'
import { rm } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'

const PROJECT_ROOT = fileURLToPath(new URL('../../../', import.meta.url))
/** Where the compiled children go (git-ignored). */
export const BUILD_DIR = fileURLToPath(new URL('../../../.tmp/bench-build/', import.meta.url))
const ENTRIES = ['broker.ts', 'subscribers.ts', 'publisher.ts']

/** Bundles the entries (sources resolved through the `source` export condition; npm packages stay external). */
export async function compileChildren(): Promise<void> {
  // Chunk names carry a content hash: without this, every edit left the previous run's chunks behind.
  await rm(BUILD_DIR, { recursive: true, force: true })
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
    // Linked, not inline: an inline map is part of the module's source text, which V8 keeps in the heap
    // (~0.6 MiB for subwire's chunk), and Node parses and keeps it under --enable-source-maps (see child.ts).
    sourcemap: 'linked',
    logLevel: 'warning',
  })
}

/** The compiled file of a child entry (`broker.ts` → `.tmp/bench-build/broker.mjs`). */
export function compiledEntry(file: string): string {
  return `${BUILD_DIR}${file.replace(/\.ts$/, '.mjs')}`
}
