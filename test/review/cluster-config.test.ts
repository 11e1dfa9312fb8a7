/**
 * Cluster review, configuration (failing now): the `cluster` option's errors must never carry a Redis
 * password, and two nodes must never run under one nodeId.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { resolveClusterConfig } from '../../server/cluster/cluster-options.ts'
import { sleep, startBroker, within } from '../helpers.ts'
import { startRedis } from '../cluster/redis-server.ts'
import { clusterHarness } from './cluster-review.ts'

const test = suite('cluster review: configuration')
const h = clusterHarness(test)

// Cause: server/cluster/cluster-options.ts checkUrl puts JSON.stringify(url) in the "is not a URL" error. Why it
// matters: a typo in the port or host of `rediss://user:pass@…` (SUBWIRE_CLUSTER, a config file) prints the
// password in the startup error, which ends up in logs and CI output; the rest of the code masks it (maskUrl).
test('a cluster URL that does not parse is refused without its password in the error', () => {
  for (const url of ['rediss://user:hunter2secret@cache.example:99999', 'redis://:hunter2secret@ca che', 'redis://u:hunter2secret@[::1']) {
    let err: unknown = null
    try { resolveClusterConfig({ redis: url }) } catch (e) { err = e }
    assert.is((err as { code?: string } | null)?.code, 'bad_option', url)
    assert.not.ok(String((err as Error).message).includes('hunter2secret'), `the password is in the error for ${url}`)
  }
})

// Cause: nothing checks that a nodeId is free (NodeDirectory#beat SADDs and SETs it whoever holds it). Two
// nodes with one id subscribe to one channel, each ignores the other's interest (RedisCluster#onControl drops
// messages with its own id), their heartbeats overwrite one key, and the first one's clean close deletes the
// other's interest hash (NodeDirectory#leave). Why it matters: `nodeId` is an option (a config file copied to
// two machines, or `serve --workers` naming workers `<nodeId>-<n>` in two services) and the result is silent:
// publishes on one never reach subscribers on the other, and both get what either node was sent.
test('a second node with the nodeId of a live node is refused at start', async () => {
  const name = h.name()
  const cluster = { redis: h.redis().url, name, nodeId: 'twin', heartbeatMs: 100, nodeTimeoutMs: 1000 }
  h.track(await startBroker({ cluster }))
  await sleep(200)
  const second = await within(10_000, startBroker({ cluster }).then((b) => { h.track(b); return null }, (e: unknown) => e), 'the second start')
  assert.ok(second !== null, 'the second node with nodeId "twin" started as if it were alone')
  assert.is((second as { code?: string }).code, 'bad_option')
})

// Cause: maskUrl (server/cluster/redis/redis-link.ts) hides only the URL's password field, while ioredis also
// takes any option from the query string (`?password=…`, node_modules/ioredis/built/utils/index.js parseURL).
// Why it matters: `redis://host:6379/?password=…` works, and its password is then shown by /stats `cluster.redis`,
// the "joined the cluster" log line and every `unavailable` error.
test('a password given in the URL\'s query is masked in /stats like one in its userinfo', async () => {
  const locked = await startRedis({ args: ['--requirepass', 'hunter2secret'] })
  h.track({ close: () => locked.close() })
  const b = h.track(await startBroker({ cluster: { redis: `${locked.url}/?password=hunter2secret`, name: h.name(), heartbeatMs: 100, nodeTimeoutMs: 1000 } }))
  assert.is(b.cluster.link, 'up', 'ioredis logged in with the query password')
  const shown = b.cluster.stats()?.redis ?? ''
  assert.not.ok(shown.includes('hunter2secret'), `/stats shows ${shown}`)
})

test.run()
