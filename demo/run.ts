/**
 * `npm run demo`: a broker with its web monitor, a realtime sensor dashboard (32 sensors at 50 Hz, drawn live in
 * the browser), and a microservices demo (a queue group of workers that grows and shrinks while requests flow).
 * Prints the URLs to open; runs until Ctrl-C (or DEMO_MS milliseconds), then prints a summary.
 *
 * Ports: DEMO_PORT (broker, default 4480) and DEMO_WEB_PORT (dashboard, default 4481); a port in use falls back
 * to any free one.
 */
import { Demo, type DemoOptions } from './demo.ts'
import { SubwireError } from '../shared/errors.ts'
import { connect } from '../client/index.ts'

const RUN_MS = process.env.DEMO_MS === undefined ? null : Number(process.env.DEMO_MS)

async function startOn(options: DemoOptions): Promise<Demo> {
  try {
    return await Demo.start(options)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err
    console.log(`port ${options.brokerPort} or ${options.webPort} is in use: using free ports instead`)
    return Demo.start({ ...options, brokerPort: 0, webPort: 0 })
  }
}

const demo = await startOn({
  brokerPort: Number(process.env.DEMO_PORT ?? 4480),
  webPort: Number(process.env.DEMO_WEB_PORT ?? 4481),
  ...(process.env.DEMO_CHURN_MS === undefined ? {} : { churnMs: Number(process.env.DEMO_CHURN_MS) }),
  onSecond: (s) => {
    const spread = s.workers.map((w) => `${w} ${s.perWorker[w] ?? 0}`).join('  ')
    console.log(`[pool] ${spread}  (p50 ${s.p50Ms} ms, p99 ${s.p99Ms} ms)${s.events.length > 0 ? `  ${s.events.join(', ')}` : ''}`)
  },
})
const http = demo.broker.url.replace(/^ws/, 'http')
console.log(`
subwire demo running
  dashboard:  ${demo.web.url}   (live sensor charts and the worker pool)
  monitor:    ${http}   (the broker's own web monitor)
  broker:     ${demo.broker.url}   (watch it: npm run cli -- sub 'sensors.paris.*' --server ${demo.broker.url})
  topic:      sensors keeps the last reading of each sensor   (npm run cli -- sub 'sensors.>' --deliver last_per_subject --server ${demo.broker.url})
Ctrl-C to stop.
`)

// A request nobody serves fails at once instead of waiting for its timeout.
const probe = await connect(demo.broker.url, { name: 'demo-probe', reconnect: false })
try {
  await probe.request('nobody.listens', null, { timeout: 1000 })
} catch (err) {
  console.log(`[shop] a request nobody listens to fails at once: ${err instanceof SubwireError ? err.code : String(err)}`)
}
await probe.close()

let finishing = false
async function finish(): Promise<void> {
  if (finishing) process.exit(1)
  finishing = true
  const held = demo.sensorsHeld
  await demo.stop()
  const total = Object.values(demo.requester.total).reduce((a, b) => a + b, 0)
  const shares = Object.entries(demo.requester.total).map(([w, n]) => `${w} ${Math.round((100 * n) / Math.max(1, total))}%`)
  console.log(`\n${demo.requester.answered} requests answered (${demo.requester.failed} failed); per worker: ${shares.join(' / ')}`)
  console.log(`${demo.readings} sensor readings published; the sensors topic holds ${held}, the last of each sensor`)
  process.exit(0)
}

process.on('SIGINT', () => void finish())
process.on('SIGTERM', () => void finish())
if (RUN_MS !== null) setTimeout(() => void finish(), RUN_MS)
