/**
 * Durable topics in the CLI: `subwire serve --data-dir` (flag, SUBWIRE_DATA_DIR, config `dataDir`, default
 * `./data` against the working directory), `topics add --storage --fsync`, a config file's `storage` and
 * `fsync`, and how `topics ls|info` show storage, bytes on disk and the ranges lost.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { loadServeConfig } from '../../server/cli/serve-config.ts'
import { runCli } from '../../server/cli/main.ts'
import { topicChangesFromFlags } from '../../server/cli/topic-options.ts'
import { topicText } from '../../server/cli/topics.ts'
import { topicsTable } from '../../server/cli/stats.ts'
import { topicReport } from '../../server/monitoring/stats-report.ts'
import { connect, type TopicInfo } from '../../client/index.ts'
import { startBroker, within } from '../helpers.ts'
import { memoryIo } from './memory-io.ts'
import { ConfigFiles, badOption } from './config-files.ts'

const files = new ConfigFiles('subwire-storage-')
const dir = files.dir
const configFile = (content: unknown): string => files.write(content)
test.after(() => files.remove())

function dataDirOf(input: Parameters<typeof loadServeConfig>[0]): unknown {
  return (loadServeConfig(input).broker as { dataDir?: unknown }).dataDir
}

test('serve keeps file topics in ./data under the working directory unless told otherwise', () => {
  assert.is(dataDirOf({ flags: {}, env: {}, cwd: '/srv/app' }), '/srv/app/data')
  assert.is(loadServeConfig({ flags: {}, env: {}, cwd: '/srv/app' }).sources.dataDir, undefined, 'a default is no source')
  assert.is(dataDirOf({ flags: {}, env: {} }), join(process.cwd(), 'data'))
  assert.not.ok(existsSync(join(dir, 'data')), 'resolving it creates nothing')
  dataDirOf({ flags: {}, env: {}, cwd: dir })
  assert.not.ok(existsSync(join(dir, 'data')), 'resolving it creates nothing')
})

test('serve takes the data directory from --data-dir, SUBWIRE_DATA_DIR or dataDir, in that precedence', () => {
  const file = configFile({ dataDir: 'from-file' })
  assert.is(dataDirOf({ flags: { config: file }, env: {}, cwd: '/srv' }), '/srv/from-file')
  assert.is(dataDirOf({ flags: { config: file }, env: { SUBWIRE_DATA_DIR: '/var/lib/subwire' }, cwd: '/srv' }), '/var/lib/subwire')
  assert.is(dataDirOf({ flags: { config: file, 'data-dir': 'flagged' }, env: { SUBWIRE_DATA_DIR: '/var/lib/subwire' }, cwd: '/srv' }), '/srv/flagged')
  assert.equal(loadServeConfig({ flags: { 'data-dir': 'x' }, env: {}, cwd: '/srv' }).sources, { dataDir: 'flag' })
  assert.equal(loadServeConfig({ flags: {}, env: { SUBWIRE_DATA_DIR: 'x' }, cwd: '/srv' }).sources, { dataDir: 'env' })
  assert.equal(loadServeConfig({ flags: { config: file }, env: {}, cwd: '/srv' }).sources, { dataDir: 'file' })
})

test('serve refuses a data directory that is empty or a file, naming where it was set', () => {
  const plain = join(dir, 'plain-file')
  writeFileSync(plain, 'not a directory')
  assert.match(badOption(() => loadServeConfig({ flags: { 'data-dir': '' }, env: {} })), /^--data-dir must be a directory path, not empty/)
  assert.match(badOption(() => loadServeConfig({ flags: { 'data-dir': 'a\0b' }, env: {} })), /^--data-dir must be a directory path \(no NUL character\)/)
  assert.match(badOption(() => loadServeConfig({ flags: { 'data-dir': plain }, env: {} })), /^--data-dir must be a directory, but .*plain-file is a file/)
  assert.match(badOption(() => loadServeConfig({ flags: {}, env: { SUBWIRE_DATA_DIR: plain } })), /^SUBWIRE_DATA_DIR must be a directory/)
  const file = configFile({ dataDir: plain })
  assert.match(badOption(() => loadServeConfig({ flags: { config: file }, env: {} })), new RegExp(`^dataDir in ${file} must be a directory`))
  assert.match(badOption(() => loadServeConfig({ flags: { config: configFile({ dataDir: 7 }) }, env: {} })), /^dataDir in .* must be a directory path, got 7/)
  assert.match(badOption(() => loadServeConfig({ flags: { config: configFile({ dataDirs: 'x' }) }, env: {} })), /unknown option dataDirs in .* \(did you mean dataDir\?\)/)
  const existing = join(dir, 'existing')
  mkdirSync(existing, { recursive: true })
  assert.is(dataDirOf({ flags: { 'data-dir': existing }, env: {} }), existing, 'an existing directory is fine')
})

test('serve --help and --print-config show the data directory', async () => {
  const help = memoryIo()
  assert.is(await within(5000, runCli(['serve', '--help'], help.io), 'serve --help'), 0)
  assert.match(help.out(), /\n {2}--data-dir DIR +directory of file topics .* \[\.\/data\]\n/)
  const printed = memoryIo({ SUBWIRE_DATA_DIR: '/var/lib/subwire' })
  assert.is(await within(5000, runCli(['serve', '--print-config'], printed.io), 'print-config'), 0)
  const shown = JSON.parse(printed.out()) as { options: Record<string, unknown>; sources: Record<string, string> }
  assert.is(shown.options.dataDir, '/var/lib/subwire')
  assert.is(shown.sources.dataDir, 'env')
  const bad = memoryIo({ SUBWIRE_DATA_DIR: join(dir, 'plain-file') })
  writeFileSync(join(dir, 'plain-file'), 'x')
  assert.is(await within(5000, runCli(['serve', '--print-config'], bad.io), 'bad data dir'), 2)
  assert.match(bad.err(), /SUBWIRE_DATA_DIR must be a directory/)
})

test('a config file declares file topics with their fsync, as a word or an interval with units', () => {
  const file = configFile({ topics: [
    { name: 'orders', subjects: ['orders.>'], storage: 'file', fsync: 'always' },
    { name: 'events', subjects: ['events.>'], storage: 'file', fsync: '100ms' },
    { name: 'logs', subjects: ['logs.>'], storage: 'file', fsync: 'never' },
    { name: 'ticks', subjects: ['ticks.>'], storage: 'memory' },
    { name: 'clicks', subjects: ['clicks.>'], storage: 'file', fsync: 250 },
  ] })
  assert.equal(loadServeConfig({ flags: { config: file }, env: {} }).broker.topics, [
    { name: 'orders', subjects: ['orders.>'], storage: 'file', fsync: 'always' },
    { name: 'events', subjects: ['events.>'], storage: 'file', fsync: 100 },
    { name: 'logs', subjects: ['logs.>'], storage: 'file', fsync: 'never' },
    { name: 'ticks', subjects: ['ticks.>'], storage: 'memory' },
    { name: 'clicks', subjects: ['clicks.>'], storage: 'file', fsync: 250 },
  ])
})

test('refuses a bad storage or fsync in the config file, naming the field', () => {
  const rows: Array<[unknown, RegExp]> = [
    [{ storage: 'disk' }, /^topics\[0\]\.storage must be 'memory' .* or 'file' .*, got "disk" \(in /],
    [{ storage: true }, /^topics\[0\]\.storage must be 'memory'/],
    [{ fsync: 'sometimes' }, /^topics\[0\]\.fsync must be 'always' .*, 'never' .* or an interval of 1 ms or more/],
    [{ fsync: 0 }, /^topics\[0\]\.fsync must be 'always'/],
    [{ fsync: '1MiB' }, /^topics\[0\]\.fsync must be 'always'/],
    [{ fsync: 1.5 }, /^topics\[0\]\.fsync must be 'always'/],
    [{ fsync: 2 ** 31 }, /^topics\[0\]\.fsync must be 'always'/],
    [{ fsinc: 'always' }, /^unknown option topics\[0\]\.fsinc \(did you mean fsync\?\)/],
  ]
  for (const [extra, message] of rows) {
    const file = configFile({ topics: [{ name: 'a', subjects: ['a.>'], ...(extra as object) }] })
    assert.match(badOption(() => loadServeConfig({ flags: { config: file }, env: {} })), message, JSON.stringify(extra))
  }
})

test('topics add takes --storage and --fsync', () => {
  assert.equal(topicChangesFromFlags({ subjects: 'jobs.>', storage: 'file', fsync: 'always' }, false).set, { subjects: ['jobs.>'], storage: 'file', fsync: 'always' })
  assert.equal(topicChangesFromFlags({ subjects: 'jobs.>', storage: 'file', fsync: '1s' }, false).set, { subjects: ['jobs.>'], storage: 'file', fsync: 1000 })
  assert.equal(topicChangesFromFlags({ subjects: 'jobs.>', storage: 'file', fsync: '50' }, false).set, { subjects: ['jobs.>'], storage: 'file', fsync: 50 })
  assert.equal(topicChangesFromFlags({ subjects: 'jobs.>', storage: 'memory' }, false).set, { subjects: ['jobs.>'], storage: 'memory' })
  assert.equal(topicChangesFromFlags({ subjects: 'jobs.>', storage: 'file', fsync: 'never' }, false).set, { subjects: ['jobs.>'], storage: 'file', fsync: 'never' })
  assert.equal(topicChangesFromFlags({ fsync: '200ms' }, true).set, { fsync: 200 }, 'an update may change the fsync of a file topic')
})

test('topics add refuses a bad --storage or --fsync with exit code 2 before connecting', async () => {
  const b = await startBroker()
  const url = b.url
  await b.close() // nothing listens: a command that tried to connect would exit 1, not 2
  const rows: Array<[string[], RegExp]> = [
    [['--storage', 'disk'], /--storage must be 'memory' .* or 'file' .*, got "disk"/],
    [['--storage', ''], /--storage must be 'memory'/],
    [['--fsync', 'sometimes'], /--fsync must be 'always' .*, 'never' .* or an interval of 1 ms or more .*, got "sometimes"/],
    [['--fsync', '0'], /--fsync must be 'always'/],
    [['--fsync=-5ms'], /--fsync must be 'always'/],
    [['--fsync', 'always'], /--fsync applies to file topics only: add --storage file/],
    [['--storage', 'memory', '--fsync', '100ms'], /--fsync applies to file topics only/],
    [['--fsync', '1KiB'], /--fsync must be 'always'/],
  ]
  for (const [flags, message] of rows) {
    const m = memoryIo({ SUBWIRE_URL: url })
    const args = ['topics', 'add', 'jobs', '--subjects', 'jobs.>', ...flags]
    assert.is(await within(5000, runCli(args, m.io), args.join(' ')), 2, args.join(' '))
    assert.match(m.err(), message, args.join(' '))
  }
  const help = memoryIo()
  await runCli(['topics', 'add', '--help'], help.io)
  for (const flag of ['--storage memory|file', '--fsync always|never|TIME']) assert.ok(help.out().includes(flag), flag)
})

type StoredInfo = TopicInfo

function info(name: string, extra: Partial<StoredInfo> & { fsync?: 'always' | 'never' | number } = {}): StoredInfo {
  const { fsync, ...rest } = extra
  return {
    name, messages: 10, bytes: 1280, firstSeq: 1, lastSeq: 10, firstTime: 1_700_000_000_000, lastTime: 1_700_000_001_000,
    config: { name, subjects: [`${name}.>`], discard: 'old', duplicateWindowMs: 120_000, ...(fsync === undefined ? {} : { fsync }) },
    consumers: [], storage: 'memory', diskBytes: 0, lost: [], ...rest,
  }
}

test('topics info shows storage, fsync, bytes on disk and the ranges lost', () => {
  const file = topicText(info('orders', { storage: 'file', diskBytes: 3 * 1024 * 1024, lost: [{ fromSeq: 5, toSeq: 9 }, { fromSeq: 20, toSeq: 20 }], fsync: 'always' }))
  assert.match(file, /\n {2}storage {3}file \(fsync always\), 3\.00 MiB on disk\n {2}lost {6}5-9, 20-20 \(6 messages\)\n/)
  assert.match(topicText(info('events', { storage: 'file', diskBytes: 0, lost: [], fsync: 100 })), /\n {2}storage {3}file \(fsync every 100ms\), 0 B on disk\n {2}messages/)
  const memory = topicText(info('ticks', { storage: 'memory', diskBytes: 0, lost: [] }))
  assert.match(memory, /\n {2}storage {3}memory\n {2}messages/)
  assert.not.match(memory, /lost/)
  const many = Array.from({ length: 25 }, (_, i) => ({ fromSeq: i * 10 + 1, toSeq: i * 10 + 2 }))
  assert.match(topicText(info('torn', { storage: 'file', diskBytes: 1, lost: many })), / {2}lost {6}1-2, 11-12, .*, 191-192, \+5 more \(50 messages\)\n/)
})

test('topics ls shows STORAGE (memory, or file and its bytes on disk) and LOST when a topic lost messages', () => {
  const rows = (list: StoredInfo[]) => topicsTable(list.map(topicReport))
  const clean = rows([info('orders', { storage: 'file', diskBytes: 2048, lost: [] }), info('ticks', { storage: 'memory', diskBytes: 0, lost: [] })])
  assert.match(clean, /^TOPIC +SUBJECTS +MESSAGES +BYTES +STORAGE +SEQ +LAST STORED +GROUPS\n/)
  assert.match(clean, /\norders +orders\.> +10 +1\.25 KiB +file 2\.00 KiB +1\.\.10 /)
  assert.match(clean, /\nticks +ticks\.> +10 +1\.25 KiB +memory +1\.\.10 /)
  assert.not.match(clean, /LOST/)
  const lossy = rows([info('orders', { storage: 'file', diskBytes: 2048, lost: [{ fromSeq: 5, toSeq: 9 }, { fromSeq: 20, toSeq: 20 }] }), info('ticks', { storage: 'memory', diskBytes: 0, lost: [] })])
  assert.match(lossy, /^TOPIC +SUBJECTS +MESSAGES +BYTES +STORAGE +SEQ +LAST STORED +GROUPS +LOST\n/)
  assert.match(lossy, /\norders +.* +5-9, 20-20\n/)
  assert.match(lossy, /\nticks +.*Z\n/, 'nothing lost: the cell is empty')
})

/** Runs one command line against a broker; returns its exit code and output. */
async function run(url: string, args: string[]): Promise<{ code: number; out: string; err: string }> {
  const m = memoryIo({ SUBWIRE_URL: url })
  const code = await within(10_000, runCli(args, m.io), `subwire ${args.join(' ')}`)
  return { code, out: m.out(), err: m.err() }
}

test('topics add --storage file creates a file topic that ls and info show with its bytes on disk, and --json carries them', async () => {
  const data = join(dir, 'broker-data')
  const b = await startBroker({ dataDir: data, topics: [{ name: 'ticks', subjects: ['ticks.>'] }] })
  try {
    const add = await run(b.url, ['topics', 'add', 'jobs', '--subjects', 'jobs.>', '--storage', 'file', '--fsync', '100ms'])
    assert.is(add.code, 0, add.err)
    assert.match(add.out, /^created topic jobs\n(.*\n)*? {2}storage {3}file \(fsync every 100ms\), [\d.]+ (B|KiB) on disk\n/)
    const config = b.topics.info('jobs').config
    assert.equal([config.subjects, config.storage, config.fsync], [['jobs.>'], 'file', 100])
    const c = await within(3000, connect(b.url, { reconnect: false }), 'connect')
    try {
      for (let i = 0; i < 3; i++) await within(5000, c.publishAck(`jobs.${i}`, 'x'.repeat(100)), 'publishAck')
    } finally {
      await c.close()
    }
    const ls = await run(b.url, ['topics', 'ls'])
    assert.match(ls.out, /^TOPIC +SUBJECTS +MESSAGES +BYTES +STORAGE +SEQ +LAST STORED +GROUPS\n/)
    assert.match(ls.out, /\njobs +jobs\.> +3 +[\d.]+ (B|KiB) \/ 64\.0 MiB +file [\d.]+ (B|KiB) +1\.\.3 /)
    assert.match(ls.out, /\nticks +ticks\.> +0 +0 B \/ 64\.0 MiB +memory +- \(last 0\)/)
    assert.not.match(ls.out, /LOST/)
    assert.match((await run(b.url, ['topics', 'info', 'ticks'])).out, /\n {2}storage {3}memory\n/)
    const reported = JSON.parse((await run(b.url, ['topics', 'info', 'jobs', '--json'])).out) as StoredInfo
    assert.equal([reported.storage, reported.lost, reported.config.fsync], ['file', [], 100])
    assert.ok(reported.diskBytes > 300, `diskBytes ${reported.diskBytes}`)
    const ticks = JSON.parse((await run(b.url, ['topics', 'info', 'ticks', '--json'])).out) as StoredInfo
    assert.equal([ticks.storage, ticks.diskBytes, ticks.lost], ['memory', 0, []])
  } finally {
    await b.close()
  }
})

test('topics add --storage file fails with the broker\'s bad_option and exit code 1 when it has no data directory', async () => {
  const b = await startBroker()
  try {
    const r = await run(b.url, ['topics', 'add', 'jobs', '--subjects', 'jobs.>', '--storage', 'file'])
    assert.is(r.code, 1)
    assert.match(r.err, /^subwire topics: bad_option: /)
    assert.not.match(r.err, /--help/, 'not a usage error: the broker refused it')
  } finally {
    await b.close()
  }
})

test.run()
