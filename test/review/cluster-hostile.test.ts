/**
 * Cluster review, hostile bytes that are handled (passing): random and truncated batches on a node's channel
 * and garbage on the control channel neither crash the node nor stop cross-node delivery, and every malformed
 * batch is counted.
 */
import { randomBytes } from 'node:crypto'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { connect, type Client } from '../../client/index.ts'
import { encodeBatchStart, encodeBody, encodeHead } from '../../server/cluster/redis/cluster-frame.ts'
import { until, within } from '../helpers.ts'
import { clusterHarness, remoteInterest } from './cluster-review.ts'

const test = suite('cluster review: hostile bytes that are handled')
const h = clusterHarness(test)

/** A deterministic generator (xorshift), so a failure can be replayed. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1
  return () => { x ^= x << 13; x ^= x >>> 17; x ^= x << 5; return (x >>> 0) / 2 ** 32 }
}

test('random, truncated and bit-flipped batches and control messages: no crash, counted, delivery goes on', async () => {
  const [a, b] = await h.nodes(2)
  const sub = h.track(await within(5000, connect(b.url), 'connect')) as Client
  const orders = sub.subscribe('orders.eu')
  await within(3000, sub.flush(), 'flush')
  await remoteInterest(a, 'orders.eu')
  const raw = h.raw()
  const name = b.cluster.stats()?.name ?? ''
  const channel = `subwire:${name}:n:${b.cluster.nodeId}`
  const control = `subwire:${name}:interest`
  const body = encodeBody('orders.eu', '_INBOX.x.1', { k: 'v' }, 0, Uint8Array.of(0xc0))
  const good = Buffer.concat([encodeBatchStart('fuzzer'), encodeHead(body.length, ['q']), body])
  const next = rng(14)
  const rejectedBefore = b.cluster.stats()?.rejected ?? 0
  let sent = 0
  for (let i = 0; i < 400; i++) {
    const kind = i % 4
    let bad: Buffer
    if (kind === 0) bad = randomBytes(Math.floor(next() * 64))
    else if (kind === 1) bad = good.subarray(0, Math.max(3, Math.floor(next() * (good.length - 1)))) // truncated
    else {
      bad = Buffer.from(good)
      for (let f = 0; f < 3; f++) bad[2 + Math.floor(next() * (bad.length - 2))] ^= 1 << Math.floor(next() * 8)
      bad[0] = 1
    }
    await raw.publish(channel, bad)
    sent++
    if (kind === 3) await raw.publish(control, ['{', '[]', 'null', '{"n":5}', '{"n":"z","t":"set","k":[["',
      '{"n":"z","t":"set","k":[[null,1],["\\u0000",1],["a",1e400]]}', '{"n":"z","t":"nope"}', randomBytes(16).toString('latin1')][i % 8] ?? '')
  }
  assert.ok(sent === 400)
  await until(5000, () => (b.cluster.stats()?.rejected ?? 0) > rejectedBefore, 'rejections counted')
  assert.is(b.cluster.link, 'up')
  const pub = h.track(await within(5000, connect(a.url), 'connect')) as Client
  // Bit-flipped batches may decode into valid messages on orders.eu: skip what was not published by `pub`.
  const it = orders[Symbol.asyncIterator]()
  pub.publish('orders.eu', 'after the fuzz')
  let found = false
  for (let k = 0; k < 500 && !found; k++) {
    const r = await within(5000, it.next(), 'the real message')
    if (r.done === true) break
    found = r.value.data === 'after the fuzz'
  }
  assert.ok(found, 'a real publish still crosses')
})

test.run()
