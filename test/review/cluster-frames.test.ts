/**
 * Cluster review, the frame between nodes (failing now): server/cluster/redis/cluster-frame.ts has fixed-width
 * fields (u8 queue count, u8 queue name length, u16 subject and reply lengths) that the values a single node
 * accepts can overflow. What a node accepts from a client must cross to another node intact.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { connect, type Client } from '../../client/index.ts'
import { RawClient, sleep, until, within } from '../helpers.ts'
import { rawFlush, rawPub } from '../security/users.ts'
import { clusterHarness, remoteInterest } from './cluster-review.ts'

const test = suite('cluster review: frames between nodes')
const h = clusterHarness(test)

async function client(url: string): Promise<Client> {
  return h.track(await within(5000, connect(url), 'connect')) as Client
}

// Cause: encodeHead keeps the first MAX_QUEUES (255) queue names (`queues.slice(0, MAX_QUEUES)`, one u8 count).
// Why it matters: a subject matched by more than 255 queue groups with members on one node (per-tenant or
// per-service groups over `events.>`) silently loses every message for the groups past the 255th on that node;
// one node delivers to all of them. Nothing is counted on either side (`receive` only checks the names it got).
test('a message chosen for 300 queue groups on another node reaches all 300', async () => {
  const [a, b] = await h.nodes(2)
  const worker = await client(b.url)
  const got = new Set<string>()
  for (let g = 0; g < 300; g++) worker.subscribe('events.>', { queue: `g${g}`, callback: () => { got.add(`g${g}`) } })
  await within(3000, worker.flush(), 'flush')
  await until(5000, () => ((a.cluster.route('events.x') as { targets: { groups: Map<string, unknown> } } | null)?.targets.groups.size ?? 0) === 300, '300 groups known at A')
  const pub = await client(a.url)
  pub.publish('events.x', 1)
  await within(3000, pub.flush(), 'flush')
  await sleep(300)
  assert.is(got.size, 300, `${300 - got.size} groups missed the message`)
})

// Cause: encodeHead truncates a queue name to 255 bytes (`Math.min(n.length, 255)`), while a node accepts names
// up to maxSubjectLength (256) UTF-16 units, i.e. up to 768 bytes of UTF-8. The receiving node looks for the
// truncated name (Router#receive `queues.includes(group.name)`), finds none, and the group loses the message.
test('a queue group whose UTF-8 name is longer than 255 bytes gets its messages across nodes', async () => {
  const [a, b] = await h.nodes(2)
  const queue = 'é'.repeat(200) // 200 characters, 400 bytes
  const worker = await client(b.url)
  let got = 0
  worker.subscribe('jobs.x', { queue, callback: () => { got++ } })
  await within(3000, worker.flush(), 'flush')
  await remoteInterest(a, 'jobs.x')
  const pub = await client(a.url)
  for (let i = 0; i < 5; i++) pub.publish('jobs.x', i)
  await within(3000, pub.flush(), 'flush')
  await sleep(300)
  assert.is(got, 5, `node B missed them (group misses: ${b.cluster.stats()?.groupMisses ?? 0})`)
})

// Cause: maxSubjectLength has no upper bound in server/options.ts, and encodeBody writes the subject length as a
// u16 (`writeUInt16BE` throws a RangeError past 65,535), from inside RedisCluster#publish, which the contract says
// never throws; a 65,535-byte reply also collides with the "no reply" marker 0xffff. Why it matters: with a large
// maxSubjectLength set, one long subject makes the router throw on the publish path.
test('with a large maxSubjectLength, a 70,000-byte subject crosses nodes and the publisher is not refused', async () => {
  const [a, b] = await h.nodes(2, undefined, { maxSubjectLength: 100_000, maxFrame: 4 * 1024 * 1024 })
  const sub = await client(b.url)
  let got = 0
  sub.subscribe('big.>', { callback: () => { got++ } })
  await within(3000, sub.flush(), 'flush')
  await remoteInterest(a, 'big.x')
  // The reference client clamps subjects to 4,096 bytes whatever INFO says: a raw socket sends the long one.
  const raw = h.track(new RawClient(a.url))
  await within(5000, raw.opened, 'the raw socket')
  raw.connect({})
  await raw.waitFor((op) => op.op === 'INFO', 3000, 'INFO')
  rawPub(raw, 0, `big.${'x'.repeat(70_000)}`, null)
  await rawFlush(raw).catch(() => {})
  await sleep(300)
  assert.equal(raw.ops.filter((op) => op.op === 'ERR').map((op) => (op as { code: string; message: string }).code + ': ' + (op as { message: string }).message.slice(0, 120)), [], 'the publisher got an ERR')
  assert.ok(raw.closeCode === null, `the publisher was disconnected (${String(raw.closeCode)})`)
  assert.is(got, 1, 'the subscriber on node B got nothing')
})

test.run()
