/**
 * Cluster review, Redis faults under load (passing): a Redis restarted while a node publishes delivers what
 * crosses once and in order (at most once, never late or twice), and a Redis that stops answering (SIGSTOP)
 * costs the publishing node a bounded amount of memory, the rest dropped and counted.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { pino } from 'pino'
import { connect, type Client } from '../../client/index.ts'
import { RedisCluster } from '../../server/cluster/redis/redis-cluster.ts'
import { resolveClusterConfig } from '../../server/cluster/cluster-options.ts'
import type { ClusterMessage, ClusterReceiver } from '../../server/cluster/cluster-adapter.ts'
import { sleep, until, within } from '../helpers.ts'
import { clusterHarness, remoteInterest } from './cluster-review.ts'

const test = suite('cluster review: Redis faults under load')
const h = clusterHarness(test)

test('a Redis restart while a node publishes: what crosses arrives once each, in order, and nothing crashes', async () => {
  const [a, b] = await h.nodes(2)
  const sub = h.track(await within(5000, connect(b.url), 'connect')) as Client
  const got: number[] = []
  sub.subscribe('orders.eu', { callback: (_e, m) => { if (m !== null) got.push(m.data as number) } })
  await within(3000, sub.flush(), 'flush')
  await remoteInterest(a, 'orders.eu')
  const pub = h.track(await within(5000, connect(a.url), 'connect')) as Client
  let n = 0
  const pump = setInterval(() => { for (let k = 0; k < 20; k++) pub.publish('orders.eu', n++) }, 5)
  try {
    await until(5000, () => got.length > 100, 'messages before the restart')
    await within(20_000, h.redis().restart(300), 'the restart')
    await until(15_000, () => a.cluster.link === 'up' && b.cluster.link === 'up', 'both links back')
    const before = got.length
    await until(15_000, () => got.length > before + 100, 'messages after the restart')
  } finally { clearInterval(pump) }
  await within(3000, pub.flush(), 'flush')
  await sleep(300)
  for (let i = 1; i < got.length; i++) assert.ok(got[i] > got[i - 1], `out of order or twice at ${i}: ${got[i - 1]} then ${got[i]}`)
  assert.ok(got.length < n, 'some were lost in the outage (at most once), none invented')
})

class Sink implements ClusterReceiver {
  n = 0
  receive(_m: ClusterMessage): readonly string[] | null { this.n++; return null }
}

test('a Redis that stops answering: the publishing node holds a bounded amount of memory and counts what it drops', async () => {
  const name = h.name()
  const node = (): RedisCluster => {
    const config = resolveClusterConfig({ redis: h.redis().url, name, heartbeatMs: 100, nodeTimeoutMs: 1000, unavailableAfterMs: 60_000 })
    if (config === null) throw new Error('no config')
    return h.track(new RedisCluster({ config, logger: pino({ level: 'silent' }), maxSubjectLength: 256, maxHeaders: 64, maxPayload: 1 << 20, info: () => ({ connections: 0, subscriptions: 0 }) }))
  }
  const [a, b] = [node(), node()]
  await Promise.all([a.start(new Sink()), b.start(new Sink())])
  b.addInterest('big.x', null)
  await until(5000, () => a.hasRemoteInterest('big.x'), 'interest at a')
  const pid = h.redis().pid
  assert.ok(pid !== undefined)
  const payload = new Uint8Array(1024 * 1024)
  const m: ClusterMessage = { subject: 'big.x', reply: null, headers: null, encoding: 1, payload }
  global.gc?.()
  const base = process.memoryUsage().arrayBuffers
  let peak = 0
  process.kill(pid, 'SIGSTOP')
  try {
    for (let i = 0; i < 512; i++) {
      a.publish(m)
      if (i % 16 === 15) { await sleep(5); peak = Math.max(peak, process.memoryUsage().arrayBuffers - base) }
    }
    await sleep(50)
    peak = Math.max(peak, process.memoryUsage().arrayBuffers - base)
  } finally { process.kill(pid, 'SIGCONT') }
  const dropped = a.stats().dropped
  // 512 MiB published; the outbox admits 64 MiB in flight, plus the copies not yet collected (measured peak
  // 155 MiB at 256 published); without the bound all 512 MiB would be held until Redis answers.
  assert.ok(peak < 320 * 1024 * 1024, `peak ${Math.round(peak / 2 ** 20)} MiB of buffers`)
  assert.ok(dropped >= 300, `dropped ${dropped}`)
})

test.run()
