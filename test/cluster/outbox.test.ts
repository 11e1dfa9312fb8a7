/**
 * The cluster's outbox (server/cluster/redis/outbox.ts) inside the broker's write phase (FlushScheduler): what a
 * task publishes for other nodes leaves as one PUBLISH per node, ordered, and before any of the task's writes to
 * local connections, whichever came first in the task. A recording publisher stands in for the ioredis connection.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { Outbox, type Publisher } from '../../server/cluster/redis/outbox.ts'
import { decodeBatch, encodeBody, encodeHead } from '../../server/cluster/redis/cluster-frame.ts'
import { FlushScheduler, type Outbound } from '../../server/outbound/outbound-queue.ts'

const LIMITS = { maxSubjectLength: 256, maxHeaders: 64, maxPayload: 1 << 20 }

/** Every call in the order it happened: PUBLISHes and local connection flushes. */
class Timeline implements Publisher {
  readonly calls: Array<{ kind: 'publish'; channel: string; subjects: string[] } | { kind: 'local' }> = []
  fail = false

  publish(channel: string, message: Buffer): Promise<unknown> {
    const batch = decodeBatch(message, LIMITS)
    this.calls.push({ kind: 'publish', channel, subjects: batch?.messages.map((m) => m.subject) ?? ['<undecodable>'] })
    return this.fail ? Promise.reject(new Error('injected')) : Promise.resolve(1)
  }

  /** A connection queue the scheduler flushes: records when its write would happen. */
  local(): Outbound {
    return { flushScheduled: () => { this.calls.push({ kind: 'local' }) } } as unknown as Outbound
  }
}

function add(outbox: Outbox, channel: string, subject: string, payloadBytes = 4): void {
  const body = encodeBody(subject, null, null, 0, new Uint8Array(payloadBytes))
  outbox.add(channel, encodeHead(body.length, null), body)
}

const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

test('every message a task publishes for a node leaves in one PUBLISH, in order, before the task writes to local connections', async () => {
  const scheduler = new FlushScheduler()
  const redis = new Timeline()
  const outbox = new Outbox('n0', () => {}, (task) => scheduler.beforeWrites(task))
  outbox.use(redis)
  // A local-only delivery first: its flush is scheduled before the outbox has anything.
  scheduler.schedule(redis.local())
  add(outbox, 'node:a', 'a.1')
  add(outbox, 'node:b', 'b.1')
  add(outbox, 'node:a', 'a.2')
  add(outbox, 'node:a', 'a.3')
  assert.equal(redis.calls.length, 0, 'nothing is written while the task runs')
  await settle()
  assert.equal(redis.calls, [
    { kind: 'publish', channel: 'node:a', subjects: ['a.1', 'a.2', 'a.3'] },
    { kind: 'publish', channel: 'node:b', subjects: ['b.1'] },
    { kind: 'local' },
  ])
  assert.equal(outbox.stats.sent, 4)
  assert.equal(outbox.stats.batches, 2)
})

test('each task gets its own PUBLISH: a message of the next task is not held back for a batch', async () => {
  const scheduler = new FlushScheduler()
  const redis = new Timeline()
  const outbox = new Outbox('n0', () => {}, (task) => scheduler.beforeWrites(task))
  outbox.use(redis)
  add(outbox, 'node:a', 'first')
  await settle()
  add(outbox, 'node:a', 'second')
  await settle()
  assert.equal(redis.calls.map((c) => c.kind === 'publish' ? c.subjects : []), [['first'], ['second']])
})

test('a batch that reaches its byte bound leaves at once, and the rest of the task follows in order', async () => {
  const redis = new Timeline()
  const outbox = new Outbox('n0', () => {})
  outbox.use(redis)
  add(outbox, 'node:a', 'big.1', 200 * 1024)
  add(outbox, 'node:a', 'big.2', 100 * 1024)
  assert.equal(redis.calls.length, 1, 'past 256 KiB the batch is sent during the task')
  add(outbox, 'node:a', 'small')
  await settle()
  assert.equal(redis.calls.map((c) => c.kind === 'publish' ? c.subjects : []), [['big.1', 'big.2'], ['small']])
})

test('messages for a node are dropped and counted while the link is down and when a PUBLISH fails', async () => {
  const dropped: number[] = []
  const redis = new Timeline()
  const outbox = new Outbox('n0', (n) => dropped.push(n))
  add(outbox, 'node:a', 'no.link')
  outbox.use(redis)
  redis.fail = true
  add(outbox, 'node:a', 'fails.1')
  add(outbox, 'node:a', 'fails.2')
  await settle()
  assert.equal(dropped, [1, 2])
  assert.equal(outbox.stats.dropped, 3)
  assert.equal(outbox.stats.sent, 0, 'a failed PUBLISH is not counted as sent')
  add(outbox, 'node:a', 'queued')
  outbox.use(null)
  await settle()
  assert.equal(outbox.stats.dropped, 4, 'what was queued when the link went down is dropped, not sent later')
})

test.run()
