/**
 * The nats-server baseline's server: Debian's `nats-server` (2.9.x) started as a child of the broker child,
 * configured by a generated file in a temp folder: the plain client port and a websocket listener
 * (`no_tls`), both on free loopback ports, every other setting at nats-server's default (no auth, no
 * JetStream, default max_payload, max_pending and write_deadline). The bench's clients use the websocket
 * listener, as subwire's do; the plain port only tells that the server is up. Started and stopped by pid
 * through server-process.ts, which makes nats-server's pid the one the bench measures.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createConnection } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { BrokerHandle } from '../../systems.ts'
import { ServerProcess, freePort } from '../server-process.ts'

/** Where the Debian package puts it; `BENCH_NATS_SERVER` points elsewhere. */
export const NATS_SERVER = process.env.BENCH_NATS_SERVER ?? '/usr/sbin/nats-server'

const READY_MS = 15_000
const PROBE_RETRY_MS = 20
const PROBE_MS = 1000
const START_ATTEMPTS = 3

/** Why the baseline cannot run here, or undefined when the server binary exists. */
export function natsServerMissing(): string | undefined {
  return existsSync(NATS_SERVER) ? undefined : `nats-server not found at ${NATS_SERVER} (apt-get install nats-server, or set BENCH_NATS_SERVER)`
}

/**
 * Connects to `port` and, when `greeting` is given, waits for a line starting with it (the plain port
 * sends `INFO {…}` first); true when that happened within PROBE_MS.
 */
function probe(port: number, greeting: string | undefined): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port })
    let text = ''
    const done = (ok: boolean): void => {
      clearTimeout(timer)
      socket.destroy()
      resolve(ok)
    }
    const timer = setTimeout(() => done(false), PROBE_MS)
    socket.once('error', () => done(false))
    socket.once('connect', () => {
      if (greeting === undefined) done(true)
    })
    socket.on('data', (chunk: Buffer) => {
      text += chunk.toString()
      if (text.includes('\r\n')) done(greeting !== undefined && text.startsWith(greeting))
    })
  })
}

/** One node of a nats-server cluster (scenarios K…): its route port, the other nodes' route ports. */
export interface NatsRoutes {
  readonly listen: number
  readonly routes: readonly number[]
}

function config(clientPort: number, wsPort: number, cluster: { routes: NatsRoutes; monitorPort: number } | undefined): string {
  const lines = [
    `listen: "127.0.0.1:${clientPort}"`,
    'websocket {',
    `  listen: "127.0.0.1:${wsPort}"`,
    '  no_tls: true',
    '}',
  ]
  if (cluster !== undefined) {
    lines.push(
      `http: "127.0.0.1:${cluster.monitorPort}"`,
      'cluster {',
      '  name: "bench"',
      `  listen: "127.0.0.1:${cluster.routes.listen}"`,
      `  routes: [${cluster.routes.routes.map((port) => `"nats://127.0.0.1:${port}"`).join(', ')}]`,
      '}',
    )
  }
  return [...lines, ''].join('\n')
}

/** The monitoring endpoint's route count (`/routez`), or 0 while it does not answer. */
async function routeCount(monitorPort: number): Promise<number> {
  try {
    const response = await fetch(`http://127.0.0.1:${monitorPort}/routez`, { signal: AbortSignal.timeout(PROBE_MS) })
    const body = (await response.json()) as { num_routes?: unknown }
    return typeof body.num_routes === 'number' ? body.num_routes : 0
  } catch {
    return 0
  }
}

/**
 * Starts nats-server with a websocket listener and resolves once both of its ports answer; with `routes`, a
 * cluster node that resolves only once its monitoring endpoint counts a route to every other node.
 */
export async function startNatsServer(routes?: NatsRoutes): Promise<BrokerHandle> {
  const missing = natsServerMissing()
  if (missing !== undefined) throw new Error(missing)
  const dir = mkdtempSync(join(tmpdir(), 'subwire-bench-nats-'))
  const removeDir = (): void => rmSync(dir, { recursive: true, force: true })
  let lastError: unknown
  for (let attempt = 0; attempt < START_ATTEMPTS; attempt++) {
    const clientPort = await freePort()
    const wsPort = await freePort()
    const file = join(dir, 'nats-server.conf')
    const monitorPort = routes === undefined ? 0 : await freePort()
    writeFileSync(file, config(clientPort, wsPort, routes === undefined ? undefined : { routes, monitorPort }))
    const server = new ServerProcess('nats-server', NATS_SERVER, ['-c', file])
    const routed = async (): Promise<boolean> => routes === undefined || (await routeCount(monitorPort)) >= routes.routes.length
    try {
      await server.ready(async () => (await probe(clientPort, 'INFO ')) && (await probe(wsPort, undefined)) && (await routed()), READY_MS, PROBE_RETRY_MS)
      return {
        url: `ws://127.0.0.1:${wsPort}`,
        serverPid: server.pid,
        close: async () => {
          await server.close()
          removeDir()
        },
      }
    } catch (err) {
      lastError = err
      await server.close()
    }
  }
  removeDir()
  throw lastError instanceof Error ? lastError : new Error(String(lastError))
}
