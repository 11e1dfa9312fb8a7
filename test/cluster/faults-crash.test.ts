/**
 * `kill -9` of one node under load (issue 14, "Faults" row 2), with three broker processes on a real
 * redis-server and topics in Redis: a client given several URLs reconnects to another node and its
 * subscriptions receive again; acked work held by the dead node's members is redelivered to a member on
 * another node once the cluster takes the node for dead. (The replay subscriber that fails over to another node
 * is faults-replay.test.ts.)
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import type { Client, Status } from '../../client/index.ts'
import type { Msg } from '../../client/message.ts'
import { sleep, within } from '../helpers.ts'
import { FaultFixture, eventually } from './fault-fixture.ts'

const TOPICS = [{ name: 'jobs', subjects: ['jobs.>'] }]

const f = new FaultFixture(test, { broker: { topics: TOPICS } })
const cluster = (): ReturnType<FaultFixture['cluster']> => f.cluster()
const client = (urls: string | string[], reconnect: { initialDelayMs: number; maxDelayMs: number } | false = false): Promise<Client> => f.client(urls, reconnect)

/** Publishes `from`..`to` on `subject` with publishAck, 20 at a time; the seqs the topic gave them. */
async function publishRange(c: Client, subject: string, from: number, to: number): Promise<number[]> {
  const seqs: number[] = []
  for (let i = from; i <= to; i += 20) {
    const batch = Array.from({ length: Math.min(20, to - i + 1) }, (_, k) => c.publishAck(subject, i + k))
    for (const ack of await within(10_000, Promise.all(batch), `publishAck ${i}..`)) seqs.push(ack.seq)
  }
  return seqs
}

test('a client of a killed node, given several URLs, reconnects to another node and its subscriptions receive again, in order, once each', async () => {
  const set = await cluster()
  if (set === null) return
  const [n1, n2, n3] = [set.at(0), set.at(1), set.at(2)]
  const pub = await client(n1.url)
  const sub = await client([n3.url, n2.url], { initialDelayMs: 50, maxDelayMs: 250 })
  const status: Status[] = []
  void (async () => { for await (const s of sub.status()) status.push(s) })()
  const got: number[] = []
  sub.subscribe('load.>', { callback: (_err, m: Msg | null) => { if (m !== null) got.push(m.data as number) } })
  await within(5000, sub.flush(), 'the subscription')
  // Under load: the publisher on node 1 goes on at ~1,000 msg/s before, during and after the crash.
  let next = 1
  let publishing = true
  const load = (async () => {
    while (publishing && next < 100_000) {
      for (let k = 0; k < 10; k++) pub.publish('load.x', next++)
      await sleep(10)
    }
  })()
  try {
    assert.ok(await eventually(10_000, () => got.length >= 200), `the subscriber receives across nodes (${got.length})`)
    n3.kill('SIGKILL')
    assert.ok(await eventually(10_000, () => status.some((s) => s.type === 'reconnect')), `reconnected: ${JSON.stringify(status.map((s) => s.type))}`)
    const atReconnect = got.length
    assert.ok(await eventually(10_000, () => got.length >= atReconnect + 200), `receives again after the reconnect (${got.length - atReconnect})`)
  } finally {
    publishing = false
    await within(5000, load, 'the load to stop')
  }
  const reconnect = status.find((s) => s.type === 'reconnect')
  assert.is(reconnect?.type === 'reconnect' ? reconnect.server : '', n2.url, 'to the other URL')
  // Core pub/sub is at most once: the crash may lose messages, never duplicate or reorder them.
  assert.ok(got.every((x, i) => i === 0 || x > (got[i - 1] ?? 0)), 'in publish order, no duplicate')
})

test('once a killed node is taken for dead, a request its responder answered gets no_responders at once', async () => {
  const set = await cluster()
  if (set === null) return
  const [n1, n3] = [set.at(0), set.at(2)]
  const requester = await client(n1.url)
  const responder = await client(n3.url)
  responder.subscribe('svc.only-on-n3', { callback: (_err, m: Msg | null) => { if (m !== null) m.respond('from n3') } })
  await within(5000, responder.flush(), 'the responder')
  const answer = async (): Promise<string> => await within(5000, requester.request('svc.only-on-n3', 'hi', { timeout: 1500 })
    .then((m) => String(m.data), (err: unknown) => String((err as { code?: string }).code)), 'an answer')
  let first = 'no_responders'
  for (let i = 0; i < 100 && first === 'no_responders'; i++) {
    first = await answer()
    if (first === 'no_responders') await sleep(50)
  }
  assert.is(first, 'from n3', 'answered across nodes while node 3 lives')
  n3.kill('SIGKILL')
  // Until the survivors take node 3 for dead (nodeTimeoutMs 1 s), a request goes to it and times out; after,
  // its interest is dropped and the request fails with no_responders, not a timeout.
  const codes: string[] = []
  for (let i = 0; i < 30 && codes.at(-1) !== 'no_responders'; i++) codes.push(await answer())
  assert.is(codes.at(-1), 'no_responders', codes.join(', '))
  assert.ok(codes.every((c) => c === 'timeout' || c === 'no_responders'), `nothing else meanwhile: ${codes.join(', ')}`)
})

test('acked work held by a killed node\'s member is redelivered to a member on another node', async () => {
  const set = await cluster()
  if (set === null) return
  const [n1, n2, n3] = [set.at(0), set.at(1), set.at(2)]
  const pub = await client(n2.url)
  // The member on node 3 takes work and never acks it (ackWaitMs far off: only the node's death frees it).
  const holder = await client(n3.url)
  const held: number[] = []
  holder.subscribe('jobs.>', { queue: 'workers', ack: true, ackWaitMs: 120_000, callback: (_err, m: Msg | null) => { if (m !== null) held.push(m.data as number) } })
  await within(5000, holder.flush(), 'the holding member')
  // The first jobs go out while node 3's member is the only one, so it surely holds some when node 3 dies
  // (nodes pull for their own members as appends are announced: with two members from the start, node 1 may
  // take everything first).
  await publishRange(pub, 'jobs.a', 1, 10)
  assert.ok(await eventually(10_000, () => held.length > 0), 'the member on node 3 holds some of the work')
  const worker = await client(n1.url)
  const done = new Set<number>()
  let redelivered = 0
  worker.subscribe('jobs.>', { queue: 'workers', ack: true, ackWaitMs: 120_000, callback: (_err, m: Msg | null) => {
    if (m === null) return
    if ((m.deliveryCount ?? 1) > 1) redelivered++
    done.add(m.data as number)
    m.ack()
  } })
  await within(5000, worker.flush(), 'the acking member')
  const K = 60
  await publishRange(pub, 'jobs.a', 11, K)
  assert.ok(await eventually(10_000, () => held.length + done.size >= K), `every job handed out (${held.length} held, ${done.size} done)`)
  assert.ok(held.length > 0, 'the member on node 3 holds some of the work')
  const heldBefore = [...held]
  n3.kill('SIGKILL')
  assert.ok(await eventually(20_000, () => done.size === K), `the dead node's work is redelivered to node 1 (${done.size}/${K}; held ${heldBefore.length})`)
  for (const job of heldBefore) assert.ok(done.has(job), `job ${job} done after all`)
  assert.ok(redelivered >= heldBefore.length, `the held jobs came as redeliveries (${redelivered})`)
})

test.run()
