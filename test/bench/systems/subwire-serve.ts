/**
 * Scenario KW: the broker as an operator runs it, `subwire serve` (server/cli/main.ts under tsx, a child of the
 * broker child), either alone or with `--cluster URL --workers N` (N broker processes sharing the port through
 * node:cluster). The config file holds what every bench broker gets (auth and the unrelated topic, see
 * subwire.ts); `--no-monitor` and `--log-level warn`, since createBroker serves no monitor and logs nothing.
 * The primary's pid is the server pid, and the workers' pids (from its banner) are measured each on its own.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import type { BrokerHandle } from '../systems.ts'
import { ServerProcess } from './server-process.ts'

/** The children run bundled from .tmp/bench-build/, so the project is found from the cwd they get (its root). */
const CLI = resolve('server/cli/main.ts')
const READY_MS = 60_000
const POLL_MS = 50

/** What `subwire serve` printed once it listens: its URL and, with workers, their pids. */
export interface ServeBanner {
  readonly url: string
  readonly workerPids: readonly number[]
}

/**
 * Reads the banner out of serve's output: `subwire broker listening on ws://…` and, with workers, the
 * primary's `workers:  N broker processes share the port (pids a, b; primary p)`. Undefined until complete.
 */
export function parseServeBanner(output: string, workers: number | undefined): ServeBanner | undefined {
  const url = /listening on (wss?:\/\/\S+)/.exec(output)?.[1]
  if (url === undefined) return undefined
  if (workers === undefined) return { url, workerPids: [] }
  const pids = /broker processes share the port \(pids ([\d, ]+);/.exec(output)?.[1]
  if (pids === undefined) return undefined
  const workerPids = pids.split(',').map((p) => Number(p.trim())).filter((p) => Number.isSafeInteger(p) && p > 0)
  return workerPids.length === workers ? { url, workerPids } : undefined
}

export async function startServe(config: Record<string, unknown>, cluster: string | undefined, workers: number | undefined): Promise<BrokerHandle> {
  const dir = mkdtempSync(join(tmpdir(), 'subwire-bench-serve-'))
  const file = join(dir, 'subwire.json')
  const { port: _port, host: _host, ...rest } = config
  writeFileSync(file, JSON.stringify(rest))
  const args = ['--conditions=source', '--import', 'tsx', CLI, 'serve', '--config', file, '--port', '0', '--host', '127.0.0.1', '--no-monitor', '--log-level', 'warn', '--log-format', 'json']
  if (cluster !== undefined) args.push('--cluster', cluster, '--cluster-name', 'bench')
  if (workers !== undefined) args.push('--workers', String(workers))
  const server = new ServerProcess('subwire serve', process.execPath, args)
  let banner: ServeBanner | undefined
  try {
    await server.ready(() => {
      banner = parseServeBanner(server.output, workers)
      return Promise.resolve(banner !== undefined)
    }, READY_MS, POLL_MS)
  } catch (err) {
    await server.close()
    rmSync(dir, { recursive: true, force: true })
    throw err
  }
  if (banner === undefined) throw new Error('subwire serve: no banner')
  return {
    url: banner.url,
    serverPid: server.pid,
    workerPids: banner.workerPids,
    close: async () => {
      await server.close()
      rmSync(dir, { recursive: true, force: true })
    },
  }
}
