/**
 * `npm run demo`: a broker, a worker pool in a queue group answering requests, a sensor publisher, and a
 * wildcard subscriber, all in one process. Runs for 10 seconds (or until Ctrl-C), then prints a summary.
 */
import { createBroker } from '../server/index.ts'
import { connect } from '../client/index.ts'
import { startWorkers } from './workers.ts'
import { publishSensors } from './sensors.ts'

const RUN_MS = Number(process.env.DEMO_MS ?? 10_000)

const broker = await createBroker({ port: 0 })
console.log(`broker on ${broker.url}`)

const { workers, handled } = await startWorkers(broker.url, 3)
const sensors = await connect(broker.url, { name: 'sensors' })
const stopSensors = publishSensors(sensors, 200)

const dashboard = await connect(broker.url, { name: 'dashboard' })
let readings = 0
dashboard.subscribe('sensors.*.temp', {
  callback: (_err, m) => {
    if (m === null) return
    if (++readings % 15 === 1) console.log(`[dashboard] ${m.subject} = ${(m.data as { value: number }).value}`)
  },
})

const shop = await connect(broker.url, { name: 'shop' })
let answered = 0
const requester = setInterval(async () => {
  try {
    const r = await shop.request('price.quote', { sku: 'sku-42', qty: 1 + (answered % 5) }, { timeout: 1000 })
    answered++
    if (answered % 20 === 1) console.log(`[shop] quote ${JSON.stringify(r.data)}`)
  } catch (err) {
    console.log(`[shop] request failed: ${(err as Error).message}`)
  }
}, 20)

try {
  await shop.request('nobody.listens', null, { timeout: 1000 })
} catch (err) {
  console.log(`[shop] a request nobody listens to fails at once: ${(err as { code: string }).code}`)
}

async function finish(): Promise<void> {
  clearInterval(requester)
  stopSensors()
  await Promise.all([...workers, sensors, dashboard, shop].map((c) => c.drain()))
  await broker.close()
  const total = handled.reduce((a, b) => a + b, 0)
  console.log(`\n${answered} requests answered; per worker: ${handled.map((n) => `${Math.round((100 * n) / Math.max(1, total))}%`).join(' / ')}`)
  console.log(`${readings} temperature readings seen by the wildcard subscriber`)
  process.exit(0)
}

process.once('SIGINT', () => void finish())
setTimeout(() => void finish(), RUN_MS)
