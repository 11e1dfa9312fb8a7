/** `subwire serve` configuration: flags > env > file > defaults, validated with messages naming the field. */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { join } from 'node:path'
import { envName, flagName, loadServeConfig, parseQuantity, SERVE_OPTIONS } from '../../server/cli/serve-config.ts'
import { runCli } from '../../server/cli/main.ts'
import type { CliIo } from '../../server/cli/io.ts'
import type { BrokerOptions } from '../../server/options.ts'
import { within } from '../helpers.ts'
import { memoryIo } from './memory-io.ts'
import { ConfigFiles, badOption } from './config-files.ts'

const files = new ConfigFiles('subwire-config-')
const dir = files.dir
const configFile = (content: unknown): string => files.write(content)


test('names every option the same way as a flag, a variable and a file key', () => {
  assert.is(flagName('maxPayload'), 'max-payload')
  assert.is(envName('maxPayload'), 'SUBWIRE_MAX_PAYLOAD')
  assert.is(envName('port'), 'SUBWIRE_PORT')
  assert.is(envName('shutdownTimeoutMs'), 'SUBWIRE_SHUTDOWN_TIMEOUT_MS')
  for (const key of ['port', 'host', 'path', 'maxPayload', 'maxFrame', 'heartbeatMs', 'maxPendingBytes', 'closeGraceMs', 'logLevel', 'shutdownTimeoutMs']) {
    assert.ok(key in SERVE_OPTIONS, `${key} is configurable`)
  }
})

test('covers every createBroker option but the programmatic ones (server, logger, fileStore) and the file-only auth, tls and topics', () => {
  // The keys of BrokerOptions, spelled out: a new broker option fails this test until serve can set it.
  const brokerOptions = ['port', 'host', 'path', 'server', 'logger', 'serverName', 'maxPayload', 'maxFrame', 'maxSubjectLength', 'maxHeaders',
    'maxOpsPerFrame', 'maxSubscriptionsPerConnection', 'heartbeatMs', 'connectTimeoutMs', 'maxPendingBytes', 'highWaterBytes', 'stallMs',
    'closeGraceMs', 'subjectCacheSize', 'auth', 'tls', 'allowedOrigins', 'authTimeoutMs', 'maxConnections', 'maxConnectionsPerIp',
    'maxConnectsPerSecond', 'maxMsgsPerSecond', 'maxBytesPerSecond', 'perMessageDeflate', 'trustProxy', 'topics', 'maxTopics',
    'defaultTopicMaxBytes', 'maxPendingBytesPerClient', 'maxSubscriptions', 'maxSubscriptionsPerIp', 'headersTimeoutMs',
    'requestTimeoutMs', 'dataDir', 'fileStore', 'resumeWindowMs', 'resumeMaxBytes', 'resumeMaxTotalBytes', 'resumeMaxSessions', 'cluster'] as const satisfies ReadonlyArray<keyof BrokerOptions>
  // Compile-time: a BrokerOptions key missing from the list above fails the type check.
  const listsEveryKey: Exclude<keyof BrokerOptions, (typeof brokerOptions)[number]> extends never ? true : false = true
  assert.ok(listsEveryKey)
  const elsewhere = new Set(['server', 'logger', 'auth', 'tls', 'topics', 'fileStore'])
  for (const key of brokerOptions) if (!elsewhere.has(key)) assert.ok(key in SERVE_OPTIONS, `${key} is configurable`)
  const config = loadServeConfig({ flags: { 'max-topics': '5', 'default-topic-max-bytes': '8MiB' }, env: {} })
  assert.is(config.broker.maxTopics, 5)
  assert.is(config.broker.defaultTopicMaxBytes, 8 * 1024 * 1024)
  const limits = loadServeConfig({ flags: { 'max-subscriptions-per-ip': '5000', 'headers-timeout-ms': '2s' }, env: { SUBWIRE_MAX_SUBSCRIPTIONS: '9000', SUBWIRE_REQUEST_TIMEOUT_MS: '1m' } })
  assert.is(limits.broker.maxSubscriptionsPerIp, 5000)
  assert.is(limits.broker.maxSubscriptions, 9000)
  assert.is(limits.broker.headersTimeoutMs, 2000)
  assert.is(limits.broker.requestTimeoutMs, 60_000)
  assert.match(badOption(() => loadServeConfig({ flags: { 'headers-timeout-ms': String(2 ** 31) }, env: {} })), /headers-timeout-ms/)
})

test('maxPendingBytesPerClient is another name for maxPendingBytes, with the same precedence', () => {
  const file = configFile({ maxPendingBytes: '8MiB' })
  const config = loadServeConfig({ flags: { config: file, 'max-pending-bytes-per-client': '16MiB' }, env: {} })
  assert.is(config.broker.maxPendingBytes, 16 * 1024 * 1024)
  assert.is((config.broker as Record<string, unknown>).maxPendingBytesPerClient, undefined)
  assert.equal(config.sources, { maxPendingBytes: 'flag' })
  const both = configFile({ maxPendingBytes: '8MiB', maxPendingBytesPerClient: '16MiB' })
  assert.match(badOption(() => loadServeConfig({ flags: { config: both }, env: {} })), /maxPendingBytesPerClient is another name for maxPendingBytes: set one of them/)
})

test('a config file declares topics, with sizes and durations in units', () => {
  const file = configFile({ topics: [
    { name: 'orders', subjects: ['orders.>'], maxMsgs: 100_000, maxBytes: '1MiB', maxAgeMs: '24h', duplicateWindowMs: '2m', discard: 'new' },
    { name: 'sensors', subjects: ['sensors.>'], maxMsgsPerSubject: 1 },
  ] })
  const config = loadServeConfig({ flags: { config: file }, env: {} })
  assert.equal(config.broker.topics, [
    { name: 'orders', subjects: ['orders.>'], maxMsgs: 100_000, maxBytes: 1_048_576, maxAgeMs: 86_400_000, duplicateWindowMs: 120_000, discard: 'new' },
    { name: 'sensors', subjects: ['sensors.>'], maxMsgsPerSubject: 1 },
  ])
  assert.equal(config.sources, {}, 'topics come only from the file')
})

test('refuses a bad topic in the config file, naming its field', () => {
  const rows: Array<[unknown, RegExp]> = [
    [[{ name: 'a', subjects: ['a.>'] }, { name: 'b', subjects: ['b.>'], maxMsgs: -5 }], /^topics\[1\]\.maxMsgs must be a positive integer, got -5 \(in .*\)$/],
    [[{ name: 'a', subjects: ['a.>'], maxMsgs: 1.5 }], /^topics\[0\]\.maxMsgs must be a positive integer, got 1\.5/],
    [[{ name: 'a', subjects: ['a.>'], maxBytes: 'lots' }], /^topics\[0\]\.maxBytes must be a positive size in bytes .*, got "lots"/],
    [[{ name: 'a', subjects: ['a.>'], maxAgeMs: '1MiB' }], /^topics\[0\]\.maxAgeMs must be a positive duration/],
    [[{ name: 'a', subjects: ['a.>'], duplicateWindowMs: -1 }], /^topics\[0\]\.duplicateWindowMs must be a duration of 0 or more/],
    [[{ name: 'a', subjects: ['a.>'], discard: 'oldest' }], /^topics\[0\]\.discard must be 'old' .* or 'new'/],
    [[{ name: 'a.b', subjects: ['a.>'] }], /^topics\[0\]\.name must be a topic name: one subject token/],
    [[{ subjects: ['a.>'] }], /^topics\[0\]\.name must be a topic name.*, but it is missing/],
    [[{ name: 'a', subjects: [] }], /^topics\[0\]\.subjects must be a non-empty list of subject patterns/],
    [[{ name: 'a', subjects: ['a.>', 'b..c'] }], /^topics\[0\]\.subjects\[1\] is not a valid subject pattern \(subject has an empty token\), got "b\.\.c"/],
    [[{ name: 'a', subjects: ['a.>'], maxMsg: 5 }], /^unknown option topics\[0\]\.maxMsg \(did you mean maxMsgs\?\) \(in /],
    [[{ name: 'a', subjects: ['a.>'] }, { name: 'a', subjects: ['b.>'] }], /^topics\[1\]\.name "a" is also the name of topics\[0\]/],
    [[{ name: 'a', subjects: ['orders.>'] }, { name: 'b', subjects: ['orders.eu.*'] }], /^topics\[1\]\.subjects overlap topics\[0\]'s \(orders\.eu\.\* and orders\.>\)/],
    [{ name: 'a' }, /^topics in .* must be a list of topic configs/],
  ]
  for (const [topics, message] of rows) {
    const file = configFile({ topics })
    assert.match(badOption(() => loadServeConfig({ flags: { config: file }, env: {} })), message, JSON.stringify(topics))
  }
  const many = configFile({ maxTopics: 1, topics: [{ name: 'a', subjects: ['a.>'] }, { name: 'b', subjects: ['b.>'] }] })
  assert.match(badOption(() => loadServeConfig({ flags: { config: many }, env: {} })), /declares 2 topics, more than maxTopics \(1\)/)
})

test('flags win over variables, variables over the file, the file over the defaults', () => {
  const file = configFile({ port: 1111, host: '0.0.0.0', maxPayload: 2048, heartbeatMs: 3000 })
  const config = loadServeConfig({
    flags: { config: file, port: '3333' },
    env: { SUBWIRE_PORT: '2222', SUBWIRE_HOST: '127.0.0.2' },
  })
  assert.is(config.broker.port, 3333)
  assert.is(config.broker.host, '127.0.0.2')
  assert.is(config.broker.maxPayload, 2048)
  assert.is(config.broker.heartbeatMs, 3000)
  assert.is(config.shutdownTimeoutMs, 10_000)
  assert.equal(config.sources, { port: 'flag', host: 'env', maxPayload: 'file', heartbeatMs: 'file' })
})

test('reads the config file named by SUBWIRE_CONFIG', () => {
  const file = configFile({ serverName: 'from-file' })
  assert.is(loadServeConfig({ flags: {}, env: { SUBWIRE_CONFIG: file } }).broker.serverName, 'from-file')
})

test('takes sizes and durations with units', () => {
  const rows: Array<[string, 'bytes' | 'ms', number]> = [
    ['1048576', 'bytes', 1_048_576], ['1MiB', 'bytes', 1_048_576], ['64 KiB', 'bytes', 65_536], ['2kb', 'bytes', 2000],
    ['250ms', 'ms', 250], ['10s', 'ms', 10_000], ['1.5s', 'ms', 1500], ['2min', 'ms', 120_000], ['1e6', 'bytes', 1_000_000],
    ['2m', 'ms', 120_000], ['1h', 'ms', 3_600_000], ['1d', 'ms', 86_400_000], ['2m', 'bytes', 2 * 1024 * 1024],
  ]
  for (const [raw, kind, want] of rows) assert.is(parseQuantity(raw, kind), want, raw)
  assert.is(parseQuantity('10s', 'bytes'), '10s', 'a duration unit is not a size')
  const config = loadServeConfig({ flags: { 'max-pending-bytes': '16MiB', 'shutdown-timeout-ms': '3s' }, env: {} })
  assert.is(config.broker.maxPendingBytes, 16 * 1024 * 1024)
  assert.is(config.shutdownTimeoutMs, 3000)
})

test('refuses bad values with a message naming the field as it was written', () => {
  assert.match(badOption(() => loadServeConfig({ flags: { port: 'abc' }, env: {} })), /^--port must be an integer, got "abc"/)
  assert.match(badOption(() => loadServeConfig({ flags: {}, env: { SUBWIRE_MAX_PAYLOAD: 'lots' } })), /^SUBWIRE_MAX_PAYLOAD must be a size in bytes/)
  const file = configFile({ port: 70000 })
  assert.match(badOption(() => loadServeConfig({ flags: { config: file }, env: {} })), new RegExp(`^port in ${file} must be at most 65535`))
  assert.match(badOption(() => loadServeConfig({ flags: { path: 'ws' }, env: {} })), /--path must start with '\/'/)
  assert.match(badOption(() => loadServeConfig({ flags: { 'log-level': 'loud' }, env: {} })), /--log-level must be one of fatal, error/)
  assert.match(badOption(() => loadServeConfig({ flags: {}, env: { SUBWIRE_PER_MESSAGE_DEFLATE: 'maybe' } })), /SUBWIRE_PER_MESSAGE_DEFLATE must be true or false/)
})

test('refuses unknown keys in a config file and suggests the likely one', () => {
  const file = configFile({ maxPayLoad: 10, hartbeatMs: 5 })
  const message = badOption(() => loadServeConfig({ flags: { config: file }, env: {} }))
  assert.match(message, /unknown option maxPayLoad in .* \(did you mean maxPayload\?\)/)
  assert.match(message, /unknown option hartbeatMs in .* \(did you mean heartbeatMs\?\)/)
})

test('refuses a missing or malformed config file', () => {
  assert.match(badOption(() => loadServeConfig({ flags: { config: join(dir, 'missing.json') }, env: {} })), /cannot read the config file/)
  assert.match(badOption(() => loadServeConfig({ flags: { config: configFile('{ port: 1 ') }, env: {} })), /is not valid JSON/)
  assert.match(badOption(() => loadServeConfig({ flags: { config: configFile([1, 2]) }, env: {} })), /must hold a JSON object/)
})

test('needs tlsCert and tlsKey together', () => {
  assert.match(badOption(() => loadServeConfig({ flags: { 'tls-cert': 'cert.pem' }, env: {} })), /tlsCert and tlsKey go together/)
})

test('serve --print-config shows each value with its source, and bad config exits 2 naming the field', async () => {
  const ok = memoryIo({ SUBWIRE_HEARTBEAT_MS: '5s' })
  assert.is(await within(5000, runCli(['serve', '--print-config', '--port', '0'], ok.io), 'print-config'), 0)
  const printed = JSON.parse(ok.out()) as { options: Record<string, unknown>; sources: Record<string, string> }
  assert.is(printed.options.heartbeatMs, 5000)
  assert.equal(printed.sources, { heartbeatMs: 'env', port: 'flag' })
  const bad = memoryIo({ SUBWIRE_STALL_MS: '-1' })
  assert.is(await within(5000, runCli(['serve', '--print-config'], bad.io), 'bad config'), 2)
  assert.match(bad.err(), /SUBWIRE_STALL_MS/)
})

test('every command answers --help with its usage and exit code 0', async () => {
  for (const command of ['serve', 'pub', 'sub', 'req', 'stats', 'topics', 'topics add']) {
    const m = memoryIo()
    assert.is(await within(5000, runCli([...command.split(' '), '--help'], m.io), `${command} --help`), 0, command)
    assert.match(m.out(), new RegExp(`^Usage: subwire ${command}`), command)
  }
  const top = memoryIo()
  assert.is(await runCli(['--help'], top.io), 0)
  assert.match(top.out(), /Commands:/)
  const unknown = memoryIo()
  assert.is(await runCli(['frobnicate'], unknown.io), 2)
})

test.run()
