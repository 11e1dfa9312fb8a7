/**
 * The monitor page's script, `/monitor.js`: the browser code in server/monitoring/web/app/ with the subwire client,
 * bundled by esbuild. esbuild is a development dependency, so:
 * - compiled (`dist/`, an installed package): `npm run build` wrote the bundle to `dist/monitor/monitor.js`
 *   (scripts/build-monitor.ts); it is read once and kept in memory.
 * - from the TypeScript sources (`npm start`, tests): bundled in memory on first request, so it is never stale.
 */
import { readFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { SubwireError } from '../../../shared/errors.ts'

/** The browser entry of the monitor. */
export const MONITOR_ENTRY = fileURLToPath(new URL('./app/main.ts', import.meta.url))
/** Where `npm run build` writes the bundle, relative to the package root. */
export const MONITOR_BUNDLE_PATH = 'dist/monitor/monitor.js'

/** True when this module runs from its TypeScript source (under tsx) rather than from dist/. */
const FROM_SOURCE = import.meta.url.endsWith('.ts')

/**
 * Bundles the monitor for the browser with esbuild (which must be importable: a development install).
 * @example const js = await bundleMonitor({ minify: true })
 */
export async function bundleMonitor(options: { minify?: boolean } = {}): Promise<Uint8Array> {
  let esbuild: typeof import('esbuild')
  try {
    esbuild = await import('esbuild')
  } catch (cause) {
    throw new SubwireError('bad_option', 'the monitor script is not built and esbuild is not installed: run `npm run build`', { cause })
  }
  const result = await esbuild.build({
    entryPoints: [MONITOR_ENTRY],
    bundle: true,
    write: false,
    platform: 'browser',
    format: 'esm',
    target: 'es2022',
    minify: options.minify ?? false,
    legalComments: 'none',
    logLevel: 'silent',
  })
  const out = result.outputFiles[0]
  if (out === undefined) throw new SubwireError('bad_option', 'esbuild produced no monitor bundle')
  return out.contents
}

/** Reads the prebuilt bundle next to the compiled server (dist/server/monitoring/web/ → dist/monitor/). */
async function readPrebuilt(): Promise<Uint8Array> {
  const file = fileURLToPath(new URL('../../../monitor/monitor.js', import.meta.url))
  try {
    return await readFile(file)
  } catch (cause) {
    throw new SubwireError('bad_option', `the monitor script ${file} is missing: run \`npm run build\``, { cause })
  }
}

let script: Promise<Uint8Array> | null = null

/** The monitor's script, built or read once per process. A failure is not cached, so a later request retries. */
export function monitorScript(): Promise<Uint8Array> {
  if (script === null) {
    const loading = FROM_SOURCE ? bundleMonitor({ minify: true }) : readPrebuilt()
    loading.catch(() => { if (script === loading) script = null })
    script = loading
  }
  return script
}
