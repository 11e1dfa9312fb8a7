/**
 * The whole TopicStore contract against two Redis store instances on one Redis and prefix, each call going to
 * the other node than the last: everything a store promises must hold when consecutive calls come from
 * different broker nodes (no state may live in one instance). Properties at 50 runs (the single-node file runs
 * the full 200).
 */
import { suite } from 'uvu'
import { RedisTopicStore } from '../../../server/store/redis/redis-store.ts'
import type { TopicStore } from '../../../server/store/topic-store.ts'
import { runTopicStoreContract } from '../topic-store.contract.ts'
import { haveRedisServer, startRedis, type TestRedis } from '../../cluster/redis-server.ts'
import { within } from '../../helpers.ts'
import { freshPrefix } from './fixture.ts'

if (!haveRedisServer()) throw new Error('redis-server is not installed: the Redis topic store tests need it (apt-get install redis-server)')

let redis: TestRedis | null = null

const setup = suite('redis store, two nodes: setup')
setup.before(async () => {
  redis = await within(20_000, startRedis(), 'redis-server starts')
})
setup('starts one redis-server for the file', () => {})
setup.run()

/** One TopicStore whose calls alternate between two nodes; close() closes both. */
function alternating(nodes: readonly [RedisTopicStore, RedisTopicStore]): TopicStore {
  let next = 0
  return new Proxy(nodes[0], {
    get(_target, key) {
      if (key === 'close') return async () => { for (const n of nodes) await n.close() }
      const node = nodes[next]
      const value: unknown = Reflect.get(node, key)
      if (typeof value !== 'function') return value
      return (...args: unknown[]) => {
        next = 1 - next
        return (value as (...a: unknown[]) => unknown).apply(node, args)
      }
    },
  })
}

runTopicStoreContract('redis, two nodes', (env) => {
  if (redis === null) throw new Error('redis-server did not start')
  const prefix = freshPrefix()
  return alternating([
    new RedisTopicStore({ redis: redis.url, prefix, now: env.now }),
    new RedisTopicStore({ redis: redis.url, prefix, now: env.now }),
  ])
}, { numRuns: 50 })

const teardown = suite('redis store, two nodes: teardown')
teardown.after(async () => {
  await redis?.close()
  redis = null
})
teardown('stops the redis-server', () => {})
teardown.run()
