/**
 * `kill -9` of one node under load (issue 14, "Faults" row 2), with three broker processes on a real
 * redis-server and topics in Redis: a client given several URLs reconnects to another node and its replay
 * subscription goes on from where it was, no gap and no duplicate.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import type { Client, Status } from '../../client/index.ts'
import type { Msg } from '../../client/message.ts'
import { sleep, within } from '../helpers.ts'
import { FaultFixture, eventually } from './fault-fixture.ts'

const TOPICS = [{ name: 'orders', subjects: ['orders.>'] }]
const FAST_RECONNECT = { initialDelayMs: 50, maxDelayMs: 250 }

const f = new FaultFixture(test, { broker: { topics: TOPICS } })
const cluster = (): ReturnType<FaultFixture['cluster']> => f.cluster()
const client = (urls: string | string[], reconnect: typeof FAST_RECONNECT | false = false): Promise<Client> => f.client(urls, reconnect)

/** What differs between the sequences received and those stored: missing, duplicated, out of order; `ok` if none. */
function seqProblems(got: readonly number[], want: readonly number[]): string {
  const counts = new Map<number, number>()
  for (const s of got) counts.set(s, (counts.get(s) ?? 0) + 1)
  const missing = want.filter((s) => !counts.has(s))
  const duplicated = [...counts].filter(([, n]) => n > 1).map(([s]) => s)
  const disorder = got.findIndex((s, i) => i > 0 && s <= (got[i - 1] ?? 0))
  const ranges = (xs: number[]): string => (xs.length === 0 ? 'none' : `${xs.length} (${xs.slice(0, 3).join(', ')}…${xs.at(-1) ?? ''})`)
  if (missing.length === 0 && duplicated.length === 0 && disorder === -1 && got.length === want.length) return 'ok'
  return `missing ${ranges(missing)}, duplicated ${ranges(duplicated)}, first out of order at #${disorder} (${got.slice(Math.max(0, disorder - 2), disorder + 2).join(', ')}), ${got.length} received of ${want.length}`
}

/** Publishes `from`..`to` on `subject` with publishAck, 20 at a time; the seqs the topic gave them. */
async function publishRange(c: Client, subject: string, from: number, to: number): Promise<number[]> {
  const seqs: number[] = []
  for (let i = from; i <= to; i += 20) {
    const batch = Array.from({ length: Math.min(20, to - i + 1) }, (_, k) => c.publishAck(subject, i + k))
    for (const ack of await within(10_000, Promise.all(batch), `publishAck ${i}..`)) seqs.push(ack.seq)
  }
  return seqs
}

test('a replay subscriber of a killed node reconnects to another and goes on with no gap and no duplicate', async () => {
  const set = await cluster()
  if (set === null) return
  const [n1, n2, n3] = [set.at(0), set.at(1), set.at(2)]
  const pub = await client(n1.url)
  // The subscriber's first URL is the node that dies; the others are where it may go.
  const sub = await client([n3.url, n1.url, n2.url], FAST_RECONNECT)
  const status: Status[] = []
  void (async () => { for await (const s of sub.status()) status.push(s) })()
  const seqs: number[] = []
  const data: number[] = []
  sub.subscribe('orders.>', { deliver: 'all', callback: (_err, m: Msg | null) => {
    if (m === null) return
    seqs.push(m.seq ?? -1)
    data.push(m.data as number)
  } })
  await within(5000, sub.flush(), 'the replay subscription')
  const before = await publishRange(pub, 'orders.eu', 1, 150)
  assert.ok(await eventually(10_000, () => seqs.length >= 100), `the subscriber is under way (${seqs.length})`)
  n3.kill('SIGKILL')
  // Load goes on while the subscriber is away and while it comes back.
  const after = await publishRange(pub, 'orders.eu', 151, 400)
  const all = [...before, ...after]
  assert.ok(await eventually(20_000, () => seqs.length >= all.length), `every stored message reaches the subscriber (${seqs.length}/${all.length}): ${JSON.stringify(status.map((s) => s.type))}`)
  await sleep(300) // a duplicate would come after the last one
  assert.is(seqProblems(seqs, all), 'ok', 'every sequence once, in order: no gap, no duplicate')
  assert.equal(data, Array.from({ length: 400 }, (_, i) => i + 1))
  assert.ok(status.some((s) => s.type === 'reconnect' && s.server !== n3.url), `reconnected to another node: ${JSON.stringify(status)}`)
  assert.not.ok(status.some((s) => s.type === 'gap'), 'no gap reported')
})

test.run()
