/**
 * What each fault suite that starts a fresh cluster per test shares: a redis-server and three node children
 * made on demand, clients closed, nodes and Redis stopped after each test, and a bounded poll.
 *
 * @example
 * const f = new FaultFixture(test, { broker: { topics: TOPICS } })
 * test('…', async () => { const set = await f.cluster(); if (set === null) return; const c = await f.client(set.at(0).url) })
 */
import type { Test } from 'uvu'
import { connect, type Client } from '../../client/index.ts'
import { sleep, within } from '../helpers.ts'
import { haveRedisServer, startRedis, type TestRedis } from './redis-server.ts'
import { NodeSet, type NodeSetOptions } from './fault-harness.ts'

export class FaultFixture {
  redis: TestRedis | null = null
  nodes: NodeSet | null = null
  readonly #clients: Client[] = []
  readonly #options: NodeSetOptions

  constructor(suite: Test, options: NodeSetOptions = {}) {
    this.#options = options
    suite.after.each(async () => {
      for (const c of this.#clients.splice(0)) await within(5000, c.close(), 'a client to close')
      await this.nodes?.close()
      await this.redis?.close()
      this.nodes = null
      this.redis = null
    })
  }

  /** A redis-server and three nodes on it, or null (said once) when redis-server is not installed. */
  async cluster(options: NodeSetOptions = {}): Promise<NodeSet | null> {
    if (!haveRedisServer()) {
      console.log('  (skipped: no redis-server)')
      return null
    }
    this.redis = await within(20_000, startRedis(), 'redis-server')
    this.nodes = await within(60_000, NodeSet.start(this.redis.url, 3, { ...this.#options, ...options }), 'three nodes')
    return this.nodes
  }

  /** A client of `urls`, closed after the test. */
  async client(urls: string | string[], reconnect: { initialDelayMs: number; maxDelayMs: number } | false = false): Promise<Client> {
    const c = await within(5000, connect(urls, { reconnect }), `a client of ${String(urls)}`)
    this.#clients.push(c)
    return c
  }
}

/** Polls `check` every 25 ms, at most `ms`; true once it held. */
export async function eventually(ms: number, check: () => Promise<boolean> | boolean): Promise<boolean> {
  const end = Date.now() + ms
  while (Date.now() < end) {
    if (await check()) return true
    await sleep(25)
  }
  return false
}
