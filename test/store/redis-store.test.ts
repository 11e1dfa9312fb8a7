/**
 * The Redis topic store (server/store/redis/) against one real redis-server for the whole file: the shared
 * TopicStore contract, each store under its own key prefix so tests never see each other's topics. The
 * properties run their full 200 times (about 6 s for the whole file against a local redis-server).
 */
import { suite } from 'uvu'
import { RedisTopicStore } from '../../server/store/redis/redis-store.ts'
import { runTopicStoreContract } from './topic-store.contract.ts'
import { haveRedisServer, startRedis, type TestRedis } from '../cluster/redis-server.ts'
import { within } from '../helpers.ts'

if (!haveRedisServer()) throw new Error('redis-server is not installed: the Redis topic store tests need it (apt-get install redis-server)')

let redis: TestRedis | null = null
let stores = 0

// First in the file, so it runs before the contract's suites: they open stores against this server.
const setup = suite('redis store: setup')
setup.before(async () => {
  redis = await within(20_000, startRedis(), 'redis-server starts')
})
setup('starts one redis-server for the file', () => {})
setup.run()

runTopicStoreContract('redis', (env) => {
  if (redis === null) throw new Error('redis-server did not start')
  stores++
  return new RedisTopicStore({ redis: redis.url, prefix: `contract:${process.pid}:${stores}:`, now: env.now })
})

const teardown = suite('redis store: teardown')
teardown.after(async () => {
  await redis?.close()
  redis = null
})
teardown('stops the redis-server', () => {})
teardown.run()
