/**
 * E: idle subscribed connections. Broker RSS increase per connection, time to connect (and confirm the
 * subscription of) all of them, and the broker's event-loop delay p99 while it holds them.
 */
import type { Metric, Scenario, ScenarioContext } from './types.ts'
import { sleep } from '../time.ts'
import { mib } from './flood-run.ts'

const CONNECT_CONCURRENCY = 200
const SETTLE_MS = 500
/** A GC pause in the mark itself would land in the next delay sample, so the sample starts after it. */
const AFTER_GC_MS = 100
/** Connecting 15,000 Socket.IO clients takes a while on 2 cores. */
const CONNECT_DEADLINE_MS = 240_000

async function measureIdle(ctx: ScenarioContext, count: number): Promise<Metric[]> {
  const set = await ctx.startBroker({ subscribers: { kind: 'idle', count, concurrency: CONNECT_CONCURRENCY }, subscribersReadyMs: CONNECT_DEADLINE_MS })
  try {
    const before = await set.mark(true)
    await set.startClients()
    await sleep(SETTLE_MS)
    const after = await set.mark(true)
    await sleep(AFTER_GC_MS)
    await set.mark()
    await sleep(ctx.shape.idleHoldMs)
    const held = await set.mark()
    const kibPerConnection = (after.broker.rss - before.broker.rss) / count / 1024
    ctx.log(`E ${count}: ${kibPerConnection.toFixed(1)} KiB/conn, connected in ${(set.subscribersConnectMs / 1000).toFixed(1)} s`)
    const label = `E idle ×${count}`
    return [
      { key: `E.${count}.kib`, label: `${label}: broker RSS per connection`, unit: 'KiB', value: kibPerConnection, better: 'lower' },
      { key: `E.${count}.rss`, label: `${label}: broker RSS holding them`, unit: 'MiB', value: mib(after.broker.rss), better: 'lower' },
      { key: `E.${count}.connect`, label: `${label}: time to connect + subscribe all`, unit: 's', value: set.subscribersConnectMs / 1000, better: 'lower' },
      held.broker.server === undefined
        ? { key: `E.${count}.loop`, label: `${label}: broker event-loop delay p99`, unit: 'ms', value: held.broker.eventLoopP99Ms, better: 'lower' }
        : { key: `E.${count}.loop`, label: `${label}: broker event-loop delay p99`, unit: 'ms', value: null, better: 'lower', note: 'n/a (no event loop)' },
    ]
  } finally {
    await set.close()
  }
}

export const idleScenario: Scenario = {
  id: 'E',
  title: 'idle subscribed connections',
  async run(ctx): Promise<Metric[]> {
    const metrics: Metric[] = []
    for (const count of ctx.shape.idleCounts) metrics.push(...(await measureIdle(ctx, count)))
    return metrics
  },
}
