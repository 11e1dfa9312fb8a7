/**
 * One broker node of a cluster, as a child process for the fault tests (faults-*.test.ts through
 * fault-harness.ts): `node --conditions=source --import tsx test/cluster/node-child.ts '<NodeChildOptions JSON>'`.
 * It starts `createBroker({ host: '127.0.0.1', port: 0, cluster: { redis, name, nodeId, heartbeatMs,
 * nodeTimeoutMs, unavailableAfterMs }, ... })` with the monitoring routes (/readyz, /stats) attached, and
 * prints one JSON line on stdout once it listens: `{ "port", "url", "http", "nodeId", "pid" }`.
 *
 * It stops gracefully on SIGTERM (exit 0 once closed), dies on SIGKILL (the crash the tests inject), and exits
 * by itself when its stdin closes, so a test process that dies first leaves no node behind.
 */
import { pino } from 'pino'
import { createBroker, type BrokerOptions } from '../../server/index.ts'
import { attachMonitoring } from '../../server/monitoring/monitoring.ts'

/** What the test gives the child (argv[2], JSON). */
export interface NodeChildOptions {
  readonly redis: string
  readonly name: string
  readonly nodeId: string
  readonly heartbeatMs?: number
  readonly nodeTimeoutMs?: number
  readonly unavailableAfterMs?: number
  /** Other broker options (JSON-safe ones: topics, limits). */
  readonly broker?: Omit<BrokerOptions, 'cluster' | 'logger' | 'server' | 'port' | 'host'>
  /** pino level for the child's stderr (`silent` by default; `debug` when a test is being looked into). */
  readonly logLevel?: string
}

/** The line the child prints once it listens. */
export interface NodeChildReady {
  readonly port: number
  readonly url: string
  readonly http: string
  readonly nodeId: string
  readonly pid: number
}

const options = JSON.parse(process.argv[2] ?? '{}') as NodeChildOptions
const logger = pino({ level: options.logLevel ?? 'silent' }, pino.destination(2))
const broker = await createBroker({
  ...options.broker,
  host: '127.0.0.1',
  port: 0,
  logger,
  cluster: {
    redis: options.redis,
    name: options.name,
    nodeId: options.nodeId,
    heartbeatMs: options.heartbeatMs ?? 200,
    nodeTimeoutMs: options.nodeTimeoutMs ?? 1000,
    ...(options.unavailableAfterMs === undefined ? {} : { unavailableAfterMs: options.unavailableAfterMs }),
  },
})
const monitoring = attachMonitoring(broker, { sysStats: { intervalMs: 200 } })
const port = Number(new URL(broker.url).port)
const ready: NodeChildReady = { port, url: broker.url, http: `http://127.0.0.1:${port}`, nodeId: options.nodeId, pid: process.pid }
process.stdout.write(`${JSON.stringify(ready)}\n`)

let stopping = false
const stop = (): void => {
  if (stopping) return
  stopping = true
  const deadline = setTimeout(() => process.exit(1), 5000)
  deadline.unref()
  void broker.close().then(() => {
    monitoring.close()
    process.exit(0)
  }, () => process.exit(1))
}
process.on('SIGTERM', stop)
// The test process holds our stdin: when it goes (even by SIGKILL), so do we.
process.stdin.on('end', stop)
process.stdin.on('error', stop)
process.stdin.resume()
