/**
 * The Redis topic store when Redis is gone or stuck: every operation rejects with `unavailable` within a bound
 * (never hangs, never crashes the process), and works again once Redis is back. Each test has its own
 * redis-server, since the tests kill or stop it.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { freePort } from '../../bench/systems/server-process.ts'
import { haveRedisServer, startRedis, type TestRedis } from '../../cluster/redis-server.ts'
import { within } from '../../helpers.ts'
import { Stores, codeOf, freshPrefix, sleep } from './fixture.ts'
import type { RedisTopicStore } from '../../../server/store/redis/redis-store.ts'

if (!haveRedisServer()) throw new Error('redis-server is not installed: the Redis topic store tests need it (apt-get install redis-server)')

const test = suite('redis store: Redis outages')
let redis: TestRedis | null = null
const stores = new Stores()
test.after.each(async () => {
  await stores.closeAll()
  await redis?.close()
  redis = null
})

const payload = new Uint8Array([1])

/** Every kind of call a broker makes, each expected to reject with `unavailable`. */
function calls(store: RedisTopicStore): Array<() => Promise<unknown>> {
  return [
    () => store.append('t', { subject: 't.x', payload }),
    () => store.read('t', { startSeq: 1 }),
    () => store.info('t'),
    () => store.list(),
    () => store.topicFor('t.x'),
    () => store.create({ name: 'u', subjects: ['u.>'] }),
    () => store.pull('t', 'g'),
    () => store.ack('t', 'g', 1),
    () => store.leaveMembers('A/'),
  ]
}

/** Retries `fn` (bounded) until it stops failing `unavailable`; the reconnect takes a moment. */
async function once<T>(fn: () => Promise<T>, what: string): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn()
    } catch (err) {
      if (attempt >= 100 || (err as { code?: string }).code !== 'unavailable') throw err
      await sleep(100)
    }
  }
}

test('rejects every operation with unavailable at once while Redis is down, and works again after a restart', async () => {
  redis = await within(20_000, startRedis(), 'redis-server starts')
  const store = stores.open({ redis: redis.url, prefix: freshPrefix(), commandTimeoutMs: 500 })
  await store.create({ name: 't', subjects: ['t.>'] })
  await store.openGroup('t', 'g')
  await store.append('t', { subject: 't.x', payload })
  await redis.kill()
  for (const call of calls(store)) assert.is(await within(3000, codeOf(call), 'a call while Redis is down'), 'unavailable')
  await within(20_000, redis.restart(), 'redis-server restarts')
  // An in-memory Redis comes back empty (what survives a Redis crash is its persistence's business).
  await within(15_000, once(() => store.create({ name: 't', subjects: ['t.>'] }), 'create after the restart'), 'create after the restart')
  assert.is((await store.append('t', { subject: 't.x', payload })).seq, 1)
  assert.is((await store.info('t')).lastSeq, 1)
})

test('append notices come again after Redis restarts: the subscriber resubscribes by itself', async () => {
  redis = await within(20_000, startRedis(), 'redis-server starts')
  const prefix = freshPrefix()
  const writer = stores.open({ redis: redis.url, prefix, commandTimeoutMs: 500 })
  const listener = stores.open({ redis: redis.url, prefix })
  const heard: number[] = []
  listener.onAppended((_topic, lastSeq) => heard.push(lastSeq))
  await writer.create({ name: 't', subjects: ['t.>'] })
  const appendUntilHeard = async (what: string): Promise<void> => {
    const before = heard.length
    for (let i = 0; i < 100 && heard.length === before; i++) {
      await writer.append('t', { subject: 't.x', payload }).catch(() => {})
      await sleep(50)
    }
    assert.ok(heard.length > before, what)
  }
  await appendUntilHeard('a notice before the restart')
  await within(20_000, redis.restart(), 'redis-server restarts')
  // In memory: the topic is gone with the restart; the writer makes it again.
  await within(15_000, once(() => writer.create({ name: 't', subjects: ['t.>'] }), 'create'), 'create after the restart')
  await within(15_000, appendUntilHeard('a notice after the restart'), 'a notice after the restart')
})

test('rejects with unavailable within the command timeout when Redis stops answering', async () => {
  redis = await within(20_000, startRedis(), 'redis-server starts')
  const store = stores.open({ redis: redis.url, prefix: freshPrefix(), commandTimeoutMs: 300 })
  await store.create({ name: 't', subjects: ['t.>'] })
  const pid = redis.pid
  assert.ok(pid !== undefined)
  process.kill(pid, 'SIGSTOP')
  try {
    assert.is(await within(3000, codeOf(() => store.append('t', { subject: 't.x', payload })), 'append to a stuck Redis'), 'unavailable')
    assert.is(await within(3000, codeOf(() => store.read('t', { startSeq: 1 })), 'read from a stuck Redis'), 'unavailable')
  } finally {
    process.kill(pid, 'SIGCONT')
  }
  const { seq } = await within(15_000, once(() => store.append('t', { subject: 't.x', payload }), 'append'), 'append once Redis answers again')
  assert.ok(seq >= 1)
})

test('rejects with unavailable when no Redis listens at all', async () => {
  const store = stores.open({ redis: `redis://127.0.0.1:${await freePort()}`, prefix: freshPrefix(), commandTimeoutMs: 300 })
  assert.is(await within(5000, codeOf(() => store.create({ name: 't', subjects: ['t.>'] })), 'create without Redis'), 'unavailable')
  assert.is(await within(5000, codeOf(() => store.append('t', { subject: 't.x', payload })), 'append without Redis'), 'unavailable')
})

test('a listener added while Redis is down hears appends once it is up', async () => {
  redis = await within(20_000, startRedis(), 'redis-server starts')
  const prefix = freshPrefix()
  const listener = stores.open({ redis: redis.url, prefix, commandTimeoutMs: 300 })
  await listener.list()
  await redis.kill()
  const heard: number[] = []
  listener.onAppended((_topic, lastSeq) => heard.push(lastSeq))
  await sleep(1000) // longer than the command timeout: a SUBSCRIBE queued meanwhile would have timed out
  await within(20_000, redis.restart(), 'redis-server restarts')
  const writer = stores.open({ redis: redis.url, prefix })
  await within(10_000, once(() => writer.create({ name: 't', subjects: ['t.>'] }), 'create'), 'create')
  for (let i = 0; i < 100 && heard.length === 0; i++) {
    await writer.append('t', { subject: 't.x', payload })
    await sleep(50)
  }
  assert.ok(heard.length > 0, 'a notice arrived')
})

test('tries the next of several URLs of the same Redis when one does not answer', async () => {
  redis = await within(20_000, startRedis(), 'redis-server starts')
  const dead = `redis://127.0.0.1:${await freePort()}`
  const store = stores.open({ redis: [dead, redis.url], prefix: freshPrefix(), commandTimeoutMs: 300 })
  assert.is(await within(5000, codeOf(() => store.info('t')), 'the first call, to the dead address'), 'unavailable')
  await within(10_000, once(() => store.create({ name: 't', subjects: ['t.>'] }), 'create'), 'create through the second URL')
  assert.is((await store.append('t', { subject: 't.x', payload })).seq, 1)
})

test('refuses appends as storage_full while Redis is at maxmemory, and takes them again once a purge frees room', async () => {
  redis = await within(20_000, startRedis({ args: ['--maxmemory', '4mb', '--maxmemory-policy', 'noeviction'] }), 'redis-server starts')
  const store = stores.open({ redis: redis.url, prefix: freshPrefix() })
  await store.create({ name: 't', subjects: ['t.>'] })
  const big = new Uint8Array(64 * 1024)
  let code = 'no error'
  for (let i = 0; i < 1000 && code === 'no error'; i++) code = await codeOf(() => store.append('t', { subject: 't.x', payload: big }))
  assert.is(code, 'storage_full')
  const before = await store.info('t')
  assert.ok(before.messages > 0)
  assert.is((await store.read('t', { startSeq: 1 })).messages.length, before.messages, 'the counters agree with the stream')
  assert.is(before.lastSeq, before.messages, 'no sequence was used by a refused append')
  await store.purge('t')
  assert.is((await store.append('t', { subject: 't.x', payload })).seq, before.lastSeq + 1)
})

test('a closed store rejects with unavailable', async () => {
  redis = await within(20_000, startRedis(), 'redis-server starts')
  const store = stores.open({ redis: redis.url, prefix: freshPrefix() })
  await store.create({ name: 't', subjects: ['t.>'] })
  await store.close()
  assert.is(await codeOf(() => store.info('t')), 'unavailable')
})

test.run()
