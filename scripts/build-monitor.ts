/**
 * `npm run build`, second step: bundles the web monitor's script to dist/monitor/monitor.js, which the
 * compiled broker serves at `/monitor.js` (esbuild is a development dependency, so the bundle is made here).
 *
 *   node --conditions=source --import tsx scripts/build-monitor.ts
 */
import { mkdir, writeFile } from 'node:fs/promises'
import { dirname } from 'node:path'
import { bundleMonitor, MONITOR_BUNDLE_PATH } from '../server/monitoring/web/assets.ts'

const code = await bundleMonitor({ minify: true })
await mkdir(dirname(MONITOR_BUNDLE_PATH), { recursive: true })
await writeFile(MONITOR_BUNDLE_PATH, code)
process.stdout.write(`wrote ${MONITOR_BUNDLE_PATH} (${(code.byteLength / 1024).toFixed(1)} KiB)\n`)
