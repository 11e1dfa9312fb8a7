/**
 * How big `subwire/client` is in a browser: builds it as a browser bundler would (esbuild, `platform:
 * 'browser'`, resolved through package.json `exports`), minified, and prints raw and gzipped sizes.
 *
 *   node --import tsx scripts/bundle-size.ts
 *
 * `buildClientBundle` is also what test/browser.test.ts builds, so the size printed here is the size of the
 * bundle that the browser test runs (unminified there).
 */
import { fileURLToPath, pathToFileURL } from 'node:url'
import { gzipSync } from 'node:zlib'
import { build, type Metafile } from 'esbuild'

/** The repository root: esbuild resolves `subwire/...` as a self-reference from here. */
export const ROOT = fileURLToPath(new URL('..', import.meta.url))

/** Options of `buildClientBundle()`. */
export interface ClientBundleOptions {
  /**
   * Entry file, relative to the repository root. Without it the entry is a one-line module that re-exports
   * `subwire/client`, i.e. the whole public surface, as an application that imports everything would see it.
   */
  entry?: string
  /** @default false */
  minify?: boolean
}

/** A built bundle: its code and esbuild's metafile (which input files went into it). */
export interface ClientBundle {
  code: Uint8Array
  metafile: Metafile
}

/**
 * Bundles the client for the browser, in memory.
 * `conditions: ['source']` picks the `source` entry of package.json `exports`, so the TypeScript source is
 * bundled (no `npm run build` needed); `platform: 'browser'` adds the `browser` condition, under which `ws`
 * resolves to its `browser.js` stub and esbuild refuses any Node built-in (HOUSE_STYLE rule 12).
 * @example const { code } = await buildClientBundle({ minify: true })
 */
export async function buildClientBundle(options: ClientBundleOptions = {}): Promise<ClientBundle> {
  const entry = options.entry === undefined
    ? { stdin: { contents: "export * from 'subwire/client'\n", resolveDir: ROOT, sourcefile: 'client-entry.js', loader: 'js' as const } }
    : { entryPoints: [options.entry] }
  const result = await build({
    ...entry,
    absWorkingDir: ROOT,
    bundle: true,
    write: false,
    platform: 'browser',
    format: 'esm',
    target: 'es2022',
    conditions: ['source'],
    minify: options.minify ?? false,
    metafile: true,
    logLevel: 'silent',
  })
  const out = result.outputFiles[0]
  if (out === undefined) throw new Error('esbuild produced no output file')
  return { code: out.contents, metafile: result.metafile }
}

/** Raw, minified and minified+gzipped sizes of the client bundle, in bytes. */
export interface ClientBundleSizes {
  raw: number
  min: number
  minGzip: number
}

/** Measures the client bundle: unminified, minified, and minified then gzipped (default level). */
export async function measureClientBundle(): Promise<ClientBundleSizes> {
  const [raw, min] = await Promise.all([buildClientBundle(), buildClientBundle({ minify: true })])
  return { raw: raw.code.byteLength, min: min.code.byteLength, minGzip: gzipSync(min.code).byteLength }
}

/** `12345 B (12.1 KiB)` */
export function formatBytes(n: number): string {
  return `${n} B (${(n / 1024).toFixed(1)} KiB)`
}

async function main(): Promise<void> {
  const s = await measureClientBundle()
  process.stdout.write(
    'subwire/client browser bundle (esbuild, platform browser, esm)\n' +
    `  raw:          ${formatBytes(s.raw)}\n` +
    `  minified:     ${formatBytes(s.min)}\n` +
    `  min + gzip:   ${formatBytes(s.minGzip)}\n`,
  )
}

// Run only when executed directly, not when the browser test imports the builder.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.stack ?? err.message : String(err)}\n`)
    process.exitCode = 1
  })
}
