/**
 * Core pub/sub across three broker processes on one real redis-server (issue 14, "Faults" row 1): a publish on
 * node 1 reaches every matching subscription on nodes 2 and 3 once, wildcards included, in per-publisher order;
 * a queue group with members on all three gives each message to exactly one member cluster-wide; request/reply
 * crosses nodes, and a request nobody on any node answers gets `no_responders` at once.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { connect, type Client } from '../../client/index.ts'
import type { Msg } from '../../client/message.ts'
import { sleep, within } from '../helpers.ts'
import { haveRedisServer, startRedis, type TestRedis } from './redis-server.ts'
import { NodeSet } from './fault-harness.ts'
import { settle } from './fault-wait.ts'

let redis: TestRedis | null = null
let nodes: NodeSet | null = null
const clients: Client[] = []

test.before(async () => {
  if (!haveRedisServer()) return
  redis = await within(20_000, startRedis(), 'redis-server')
  nodes = await within(60_000, NodeSet.start(redis.url, 3), 'three nodes')
})
test.after(async () => {
  await nodes?.close()
  await redis?.close()
})
test.after.each(async () => {
  for (const c of clients.splice(0)) await within(5000, c.close(), 'a client to close')
})

/** A client of node `i`. */
async function client(i: number): Promise<Client> {
  const set = nodes
  if (set === null) throw new Error('no nodes')
  const c = await within(5000, connect(set.at(i).url, { reconnect: false }), `a client of node ${i + 1}`)
  clients.push(c)
  return c
}

/** Collects the messages of a subscription whose data is a number (the warm-up probes are strings). */
function collect(c: Client, subject: string, queue?: string): number[] {
  const got: number[] = []
  c.subscribe(subject, { ...(queue === undefined ? {} : { queue }), callback: (_err, m: Msg | null) => {
    if (m !== null && typeof m.data === 'number') got.push(m.data)
  } })
  return got
}

const N = 300

test('a publish on node 1 reaches plain and wildcard subscribers on nodes 2 and 3 once each, in publish order', async () => {
  if (nodes === null) return console.log('  (skipped: no redis-server)')
  const pub = await client(0)
  const [a, b] = [await client(1), await client(2)]
  const streams = [collect(a, 'prices.eu.x'), collect(a, 'prices.>'), collect(b, 'prices.*.x'), collect(b, 'prices.eu.x')]
  await within(5000, Promise.all([a.flush(), b.flush()]), 'the subscriptions to be in place')
  await settle(pub, [a, b], 'prices.eu.x')
  for (let i = 1; i <= N; i++) pub.publish('prices.eu.x', i)
  await within(5000, pub.flush(), 'the publisher to flush')
  const want = Array.from({ length: N }, (_, i) => i + 1)
  for (let i = 0; i < 200 && streams.some((s) => s.length < N); i++) await sleep(25)
  await sleep(200) // a duplicate would arrive after the last original
  for (const [k, s] of streams.entries()) assert.equal(s, want, `subscription ${k}: every message once, in order`)
})

test('a queue group with members on all three nodes gives each message to exactly one member cluster-wide, spread over the nodes', async () => {
  if (nodes === null) return console.log('  (skipped: no redis-server)')
  const pub = await client(0)
  const members = [await client(0), await client(1), await client(2)]
  const got = members.map((m) => collect(m, 'jobs.q', 'workers'))
  await within(5000, Promise.all(members.map((m) => m.flush())), 'the members to be in place')
  await settle(pub, members, 'jobs.q')
  for (let i = 1; i <= N; i++) pub.publish('jobs.q', i)
  await within(5000, pub.flush(), 'the publisher to flush')
  for (let i = 0; i < 200 && got.flat().length < N; i++) await sleep(25)
  await sleep(200)
  const all = got.flat().sort((x, y) => x - y)
  assert.equal(all, Array.from({ length: N }, (_, i) => i + 1), 'each message once in the group')
  for (const [k, g] of got.entries()) {
    assert.ok(g.length > 0, `the member on node ${k + 1} takes a share (${got.map((x) => x.length).join('/')})`)
    assert.equal(g, [...g].sort((x, y) => x - y), `member ${k + 1} sees its share in publish order`)
  }
})

test('a queue group spreads by members: two members on node 2 and one on node 3 each take about a third', async () => {
  if (nodes === null) return console.log('  (skipped: no redis-server)')
  const pub = await client(0)
  const members = [await client(1), await client(1), await client(2)]
  const got = members.map((m) => collect(m, 'spread.q', 'spread'))
  await within(5000, Promise.all(members.map((m) => m.flush())), 'the members to be in place')
  await settle(pub, members, 'spread.q')
  const total = 600
  for (let i = 1; i <= total; i++) pub.publish('spread.q', i)
  await within(5000, pub.flush(), 'the publisher to flush')
  for (let i = 0; i < 200 && got.flat().length < total; i++) await sleep(25)
  assert.is(got.flat().length, total, 'each message to one member')
  // Fair by members, not by nodes: a per-node split would give node 3's one member half (300).
  const shares = got.map((g) => g.length)
  for (const share of shares) assert.ok(share > total / 6 && share < total / 2, `about a third each: ${shares.join('/')}`)
})

test('a node with no matching subscription receives nothing of what the others exchange', async () => {
  if (nodes === null) return console.log('  (skipped: no redis-server)')
  const set = nodes
  const pub = await client(0)
  const sub = await client(1)
  const got = collect(sub, 'only.n2')
  await within(5000, sub.flush(), 'the subscription')
  await settle(pub, [sub], 'only.n2')
  const received = async (): Promise<number> => {
    const report = JSON.parse((await set.at(2).get('/stats')).body) as { cluster?: { received?: number } }
    return report.cluster?.received ?? -1
  }
  const before = await received()
  assert.ok(before >= 0, '/stats of node 3 counts what it receives from other nodes')
  for (let i = 1; i <= N; i++) pub.publish('only.n2', i)
  await within(5000, pub.flush(), 'the publisher to flush')
  for (let i = 0; i < 200 && got.length < N; i++) await sleep(25)
  assert.is(got.length, N, 'node 2 got them')
  assert.is(await received(), before, 'node 3 received none of them')
})

test('a request from node 1 is answered by a responder on node 3', async () => {
  if (nodes === null) return console.log('  (skipped: no redis-server)')
  const requester = await client(0)
  const responder = await client(2)
  responder.subscribe('svc.echo', { callback: (_err, m) => { if (m !== null) m.respond({ echo: m.data, node: 'n3' }) } })
  await within(5000, responder.flush(), 'the responder to be in place')
  let reply: Msg | null = null
  // Until node 1 has heard of the responder, the request gets no_responders; then it must be answered.
  for (let i = 0; i < 100 && reply === null; i++) {
    try {
      reply = await within(3000, requester.request('svc.echo', 'hi', { timeout: 2000 }), 'the reply')
    } catch (err) {
      if ((err as { code?: string }).code !== 'no_responders') throw err
      await sleep(50)
    }
  }
  assert.ok(reply !== null, 'answered across nodes')
  assert.equal(reply?.data, { echo: 'hi', node: 'n3' })
})

test('a request nobody answers on any node gets no_responders at once', async () => {
  if (nodes === null) return console.log('  (skipped: no redis-server)')
  const requester = await client(1)
  // Answered within 5 s of a 60 s timeout: at once, not by the timeout.
  const err = await within(5000, requester.request('svc.nobody', 'hi', { timeout: 60_000 }).then(() => null, (e: unknown) => e), 'no_responders')
  assert.is((err as { code?: string } | null)?.code, 'no_responders')
})

test.run()
