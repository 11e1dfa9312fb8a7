/**
 * `subwire serve`'s cluster options (issue 14): `--cluster URL` (SUBWIRE_CLUSTER, config `cluster` as a URL or
 * the broker's object), `--cluster-name`, `--workers N` (needs a cluster), and passwords never printed.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { availableParallelism } from 'node:os'
import { loadServeConfig } from '../../server/cli/serve-config.ts'
import { runCli } from '../../server/cli/main.ts'
import { masker, maskUrls, maskValue, passwordsOf } from '../../server/cli/redact.ts'
import { sleep, startBroker, within } from '../helpers.ts'
import { haveRedisServer, startRedis } from '../cluster/redis-server.ts'
import { attachMonitoring } from '../../server/monitoring/monitoring.ts'
import type { Broker } from '../../server/broker.ts'
import { memoryIo } from './memory-io.ts'
import { ConfigFiles, badOption } from './config-files.ts'

const files = new ConfigFiles('subwire-cluster-config-')
test.after(() => files.remove())

const SECRET = 's3cret-pw'

test('--cluster, SUBWIRE_CLUSTER and the config file key cluster set the broker option, flags first', () => {
  assert.equal(loadServeConfig({ flags: { cluster: 'redis://127.0.0.1:6379' }, env: {} }).broker.cluster, 'redis://127.0.0.1:6379')
  assert.equal(loadServeConfig({ flags: {}, env: { SUBWIRE_CLUSTER: 'redis://10.0.0.1:6379' } }).broker.cluster, 'redis://10.0.0.1:6379')
  const file = files.write({ cluster: { redis: 'redis://10.0.0.2:6379', name: 'eu', heartbeatMs: 500 } })
  const fromFile = loadServeConfig({ flags: { config: file }, env: {} })
  assert.equal(fromFile.broker.cluster, { redis: 'redis://10.0.0.2:6379', name: 'eu', heartbeatMs: 500 })
  assert.equal(fromFile.sources, { cluster: 'file' })
  const flagWins = loadServeConfig({ flags: { config: file, cluster: 'redis://10.0.0.3:6379' }, env: { SUBWIRE_CLUSTER: 'redis://10.0.0.1:6379' } })
  assert.equal(flagWins.broker.cluster, 'redis://10.0.0.3:6379')
  assert.equal(loadServeConfig({ flags: {}, env: {} }).broker.cluster, undefined, 'alone by default')
})

test('several comma-separated URLs are several addresses of the one Redis', () => {
  assert.equal(loadServeConfig({ flags: { cluster: 'redis://a:6379, redis://b:6379' }, env: {} }).broker.cluster, { redis: ['redis://a:6379', 'redis://b:6379'] })
})

test('--cluster-name names the cluster, over the name in the config file', () => {
  assert.equal(loadServeConfig({ flags: { cluster: 'redis://h:6379', 'cluster-name': 'eu' }, env: {} }).broker.cluster, { redis: 'redis://h:6379', name: 'eu' })
  const file = files.write({ cluster: { redis: 'redis://h:6379', name: 'us' } })
  assert.equal(loadServeConfig({ flags: { config: file }, env: { SUBWIRE_CLUSTER_NAME: 'eu' } }).broker.cluster, { redis: 'redis://h:6379', name: 'eu' })
  assert.match(badOption(() => loadServeConfig({ flags: { cluster: 'redis://h:6379', 'cluster-name': 'e u' }, env: {} })), /^--cluster-name: name must be/)
  assert.match(badOption(() => loadServeConfig({ flags: { 'cluster-name': 'eu' }, env: {} })), /^--cluster-name names a cluster, so it needs --cluster/)
})

test('refuses a cluster that is not a Redis URL or a cluster object, naming the field', () => {
  const rows: Array<[Record<string, string>, Record<string, string>, unknown, RegExp]> = [
    [{ cluster: 'http://h:6379' }, {}, undefined, /^--cluster redis URL must start with redis:\/\/ or rediss:\/\//],
    [{ cluster: 'not a url' }, {}, undefined, /^--cluster must be a Redis URL/],
    [{}, { SUBWIRE_CLUSTER: 'redis://' }, undefined, /^SUBWIRE_CLUSTER /],
    [{}, {}, { cluster: { redis: 'redis://h:6379', nodes: 3 } }, /^cluster in .* unknown key "nodes"/],
    [{}, {}, { cluster: { redis: 'redis://h:6379', heartbeatMs: 10 } }, /^cluster in .* heartbeatMs must be an integer from 50/],
    [{}, {}, { cluster: 6379 }, /^cluster in .* must be a Redis URL .* or an object/],
    [{}, {}, { cluster: { name: 'eu' } }, /^cluster in .* redis must be a Redis URL/],
  ]
  for (const [flags, env, content, message] of rows) {
    const withFile = content === undefined ? flags : { ...flags, config: files.write(content) }
    assert.match(badOption(() => loadServeConfig({ flags: withFile, env })), message, JSON.stringify([flags, env, content]))
  }
})

test('--workers needs --cluster: workers that share no state would split the clients', () => {
  assert.match(badOption(() => loadServeConfig({ flags: { workers: '2' }, env: {} })), /^--workers needs --cluster/)
  assert.match(badOption(() => loadServeConfig({ flags: {}, env: { SUBWIRE_WORKERS: '2' } })), /^SUBWIRE_WORKERS needs --cluster/)
})

test('--workers takes 1 to 64, or auto (and 0) for one per core', () => {
  const cluster = 'redis://127.0.0.1:6379'
  assert.is(loadServeConfig({ flags: { cluster }, env: {} }).workers, null, 'one broker in this process by default')
  assert.is(loadServeConfig({ flags: { cluster, workers: '2' }, env: {} }).workers, 2)
  assert.is(loadServeConfig({ flags: { cluster, workers: '64' }, env: {} }).workers, 64)
  assert.is(loadServeConfig({ flags: { cluster, workers: 'auto' }, env: {} }).workers, Math.min(64, availableParallelism()))
  assert.is(loadServeConfig({ flags: { cluster, workers: '0' }, env: {} }).workers, Math.min(64, availableParallelism()))
  assert.is(loadServeConfig({ flags: { config: files.write({ cluster, workers: 3 }) }, env: {} }).workers, 3)
  const long = files.write({ cluster: { redis: cluster, nodeId: 'n'.repeat(62) }, workers: 2 })
  assert.match(badOption(() => loadServeConfig({ flags: { config: long }, env: {} })), /^cluster in .*: nodeId must be at most 61 characters with workers in /)
  for (const bad of ['65', '-1', '1.5', 'many']) {
    assert.match(badOption(() => loadServeConfig({ flags: { cluster, workers: bad }, env: {} })), /^--workers must be/, bad)
  }
})

test('masks the password of a URL, and the secrets of a line', () => {
  assert.is(maskUrls('redis://app:s3cret@redis:6379/0'), 'redis://app:***@redis:6379/0')
  assert.is(maskUrls('rediss://:s3cret@h'), 'rediss://:***@h')
  assert.is(maskUrls('{"url":"rediss://u:p%40ss@h:1","b":"redis://h:2"}'), '{"url":"rediss://u:***@h:1","b":"redis://h:2"}')
  assert.is(maskUrls('redis://h:6379'), 'redis://h:6379', 'a port is not a password')
  assert.equal(passwordsOf(['redis://u:p%40ss@h', 'redis://h', 'nonsense']), ['p%40ss', 'p@ss'])
  assert.is(maskValue('"redis//app:s3cret@h"'), '"redis//app:***@h"')
  assert.is(maskValue('"rediss://app:s3cret@h"'), '"rediss://app:***@h"')
  assert.is(masker(['p@ss'])('{"password":"p@ss"}'), '{"password":"***"}')
})

test('serve never prints the Redis password: not in --print-config, errors or --help', async () => {
  const url = `rediss://app:${SECRET}@redis.example:6380/2`
  const printed = memoryIo()
  assert.is(await within(5000, runCli(['serve', '--print-config', '--cluster', url, '--workers', '2'], printed.io), 'print-config'), 0)
  assert.not.match(printed.out(), SECRET)
  const shown = JSON.parse(printed.out()) as { options: Record<string, unknown> }
  assert.equal([shown.options.cluster, shown.options.workers], ['rediss://app:***@redis.example:6380/2', 2])
  const rows: string[][] = [
    ['serve', '--cluster', `redis//app:${SECRET}@h`],
    ['serve', '--cluster', `http://app:${SECRET}@h`],
    ['serve', '--cluster', `redis://app:${SECRET}@h`, '--cluster-name', 'no spaces'],
    ['serve', '--config', files.write({ cluster: { redis: `redis://app:${SECRET}@h`, nope: 1 } })],
  ]
  for (const argv of rows) {
    const m = memoryIo()
    assert.is(await within(5000, runCli(argv, m.io), argv.join(' ')), 2, argv.join(' '))
    assert.not.match(m.err(), SECRET, argv.join(' '))
    assert.match(m.err(), /cluster/, argv.join(' '))
  }
  const help = memoryIo({ SUBWIRE_CLUSTER: url })
  assert.is(await within(5000, runCli(['serve', '--help'], help.io), 'help'), 0)
  assert.match(help.out(), /--cluster URL/)
  assert.match(help.out(), /--workers N/)
  assert.not.match(help.out(), SECRET)
})

test('subwire stats shows the cluster: its Redis (password masked), the link and every node with its connections', async () => {
  if (!haveRedisServer()) return console.log('  (skipped: no redis-server)')
  const redis = await within(20_000, startRedis({ args: ['--requirepass', SECRET] }), 'redis-server')
  const brokers: Broker[] = []
  try {
    for (const nodeId of ['s1', 's2']) {
      brokers.push(await within(10_000, startBroker({ cluster: { redis: `redis://:${SECRET}@127.0.0.1:${redis.port}`, name: 'st', nodeId, heartbeatMs: 100, nodeTimeoutMs: 1000 } }), nodeId))
    }
    const monitors = brokers.map((b) => attachMonitoring(b))
    try {
      const [b1] = brokers as [Broker]
      let out = ''
      // The nodes learn of each other by their heartbeats: ask until both are listed (bounded).
      for (let i = 0; i < 50 && !/^s2 /m.test(out); i++) {
        const m = memoryIo()
        assert.is(await within(10_000, runCli(['stats', '--server', b1.url], m.io), 'stats'), 0, m.err())
        out = m.out()
        if (!/^s2 /m.test(out)) await sleep(100)
      }
      assert.match(out, new RegExp(`^cluster {6}st on redis://:\\*\\*\\*@127\\.0\\.0\\.1:${redis.port} as node s1, link up, 2 nodes`, 'm'))
      assert.match(out, /^NODE +HOST +PID +CONNECTIONS/m)
      assert.match(out, /^s1 \(this\) /m)
      assert.match(out, /^s2 /m)
      assert.not.match(out, SECRET)
    } finally {
      for (const m of monitors) m.close()
    }
  } finally {
    for (const b of brokers) await within(5000, b.close(), 'a broker to close')
    await redis.close()
  }
})

test.run()
