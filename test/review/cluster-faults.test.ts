/**
 * Cluster review, faults that hold (passing): one of a node's two Redis connections killed by Redis (CLIENT
 * KILL, as Redis does to a subscriber past its client-output-buffer-limit), and a node killed with SIGKILL.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { connect, type Client } from '../../client/index.ts'
import type { Broker } from '../../server/index.ts'
import { NodeProcess } from '../cluster/fault-harness.ts'
import { startBroker, until, within } from '../helpers.ts'
import { clusterHarness, remoteInterest } from './cluster-review.ts'

const test = suite('cluster review: faults')
const h = clusterHarness(test)

async function client(b: Broker | { url: string }, reconnect = true): Promise<Client> {
  return h.track(await within(5000, connect(b.url, reconnect ? {} : { reconnect: false }), 'connect')) as Client
}

/** Kills the Redis connection `subwire:<cluster>:<nodeId>:<which>` and returns how many it killed. */
async function killConnection(b: Broker, which: 'cmd' | 'sub'): Promise<number> {
  const raw = h.raw()
  const name = `subwire:${b.cluster.stats()?.name ?? ''}:${b.cluster.nodeId}:${which}`
  const list = String(await raw.call('CLIENT', 'LIST'))
  const ids = list.split('\n').filter((l) => l.includes(` name=${name} `)).map((l) => /id=(\d+)/.exec(l)?.[1]).filter((id): id is string => id !== undefined)
  for (const id of ids) await raw.call('CLIENT', 'KILL', 'ID', id)
  return ids.length
}

for (const which of ['sub', 'cmd'] as const) {
  test(`a node whose ${which} connection Redis kills goes down, comes back and receives from the others again`, async () => {
    const [a, b] = await h.nodes(2)
    const sub = await client(b)
    const events: string[] = []
    void (async () => { for await (const s of sub.status()) if (s.type === 'cluster') events.push((s as unknown as { link: string }).link) })()
    const orders = sub.subscribe('orders.eu')
    await within(3000, sub.flush(), 'flush')
    await remoteInterest(a, 'orders.eu')
    assert.is(await killConnection(b, which), 1, `one ${which} connection of node B`)
    await until(5000, () => b.cluster.link === 'down' || events.includes('down'), 'node B to notice')
    await until(10_000, () => b.cluster.link === 'up', 'node B to be back')
    const pub = await client(a)
    // At most once across the gap: publish until one arrives, then 50 more must arrive once each, in order.
    const it = orders[Symbol.asyncIterator]()
    let i = 0
    const pump = setInterval(() => { pub.publish('orders.eu', -1 - i++) }, 20)
    try { await within(10_000, it.next(), 'a first message after the gap') } finally { clearInterval(pump) }
    for (let k = 0; k < 50; k++) pub.publish('orders.eu', k)
    const after: number[] = []
    while (after.length < 50) {
      const r = await within(5000, it.next(), `message ${after.length} after the gap`)
      if (r.done === true) break
      const v = r.value.data as number
      if (v >= 0) after.push(v)
    }
    assert.equal(after, [...Array(50).keys()], 'in order, once each')
    assert.ok(events.includes('down') && events.includes('up'), `clients told (${events.join(',')})`)
  })
}

test('a node killed with SIGKILL: survivors drop its interest within the node timeout and requests to it fail no_responders', async () => {
  const name = h.name()
  const a = h.track(await startBroker({ cluster: { redis: h.redis().url, name, heartbeatMs: 100, nodeTimeoutMs: 1000 } }))
  const child = await NodeProcess.start({ redis: h.redis().url, name, nodeId: 'victim', heartbeatMs: 100, nodeTimeoutMs: 1000 })
  h.track({ close: () => child.stop() })
  const responder = await client(child, false)
  responder.subscribe('svc.time', { callback: (_e, m) => m?.respond('noon') })
  await within(3000, responder.flush(), 'flush')
  await remoteInterest(a, 'svc.time')
  const requester = await client(a)
  assert.is((await within(5000, requester.request('svc.time', null, { timeout: 3000 }), 'a reply from the child')).data, 'noon')
  child.kill('SIGKILL')
  await within(5000, child.exited, 'the child to die')
  const killedAt = Date.now()
  await until(5000, () => !a.cluster.hasRemoteInterest('svc.time'), 'the dead node\'s interest to be dropped')
  const code = await within(5000, requester.request('svc.time', null, { timeout: 3000 }).then(() => 'answered', (e: { code?: string }) => e.code ?? 'no code'), 'the request')
  assert.is(code, 'no_responders')
  assert.ok(Date.now() - killedAt < 5000)
})

test.run()
