/**
 * File topics through the broker and the client: options, publisher confirms that wait for the disk, the
 * storage errors a publisher sees, restarts, a corrupt range as a gap, and what monitoring shows.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { connect, type Client, type Status } from '../../client/index.ts'
import { attachMonitoring, createBroker, type Broker, type BrokerOptions } from '../../server/index.ts'
import { SubwireError } from '../../shared/errors.ts'
import { FaultyIo } from '../store/file/faulty-io.ts'
import { DataDir } from '../store/file/fixture.ts'
import { sleep, take, until, within } from '../helpers.ts'

let dir: DataDir
const open: Array<{ close(): unknown }> = []
test.before.each(() => { dir = new DataDir() })
test.after.each(async () => {
  for (const x of open.splice(0).reverse()) await x.close()
  dir.remove()
})

async function start(options: BrokerOptions = {}): Promise<{ b: Broker; c: Client }> {
  const b = await createBroker({ port: 0, dataDir: dir.path, ...options })
  open.push(b)
  const c = await connect(b.url)
  open.push(c)
  return { b, c }
}

async function restart(b: Broker, c: Client, options: BrokerOptions = {}): Promise<{ b: Broker; c: Client }> {
  await c.close()
  await b.close()
  open.length = 0
  return start(options)
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await within(5000, p, 'the answer')
    return 'no error'
  } catch (err) {
    return err instanceof SubwireError ? err.code : `not a SubwireError: ${String(err)}`
  }
}

test('a file topic without dataDir is refused with bad_option, at start and at run time', async () => {
  assert.is(await codeOf(createBroker({ port: 0, topics: [{ name: 'o', subjects: ['o.>'], storage: 'file' }] })), 'bad_option')
  const b = await createBroker({ port: 0 })
  open.push(b)
  const c = await connect(b.url)
  open.push(c)
  assert.is(await codeOf(c.topics.add({ name: 'o', subjects: ['o.>'], storage: 'file' })), 'bad_option')
})

test('unknown keys are refused: a broker option, a topic config key', async () => {
  assert.is(await codeOf(createBroker({ port: 0, dataDri: './x' } as BrokerOptions)), 'bad_option')
  const { c } = await start()
  assert.is(await codeOf(c.topics.add({ name: 'o', subjects: ['o.>'], maxMesages: 10 } as never)), 'bad_topic_config')
  assert.is(await codeOf(c.topics.add({ name: 'o', subjects: ['o.>'], storage: 'disk' } as never)), 'bad_topic_config')
  assert.is(await codeOf(c.topics.add({ name: 'o', subjects: ['o.>'], storage: 'file', fsync: 'sometimes' } as never)), 'bad_topic_config')
})

test('file topics declared at start and created at run time are both reopened with their messages', async () => {
  const declared = [{ name: 'orders', subjects: ['orders.>'], storage: 'file' as const, fsync: 'always' as const, maxBytes: 2 ** 30 }]
  let { b, c } = await start({ topics: declared })
  await c.topics.add({ name: 'jobs', subjects: ['jobs.>'], storage: 'file' })
  const confirms = await Promise.all(Array.from({ length: 500 }, (_, i) => c.publishAck(`orders.${i % 5}`, { i })))
  assert.equal(confirms.map((r) => r.seq), Array.from({ length: 500 }, (_, i) => i + 1))
  await c.publishAck('jobs.a', 'job')
  ;({ b, c } = await restart(b, c, { topics: declared }))
  const orders = await c.topics.info('orders')
  assert.is(orders.messages, 500)
  assert.is(orders.storage, 'file')
  assert.ok(orders.diskBytes > 500 * 20)
  assert.equal(orders.lost, [])
  assert.is((await c.topics.info('jobs')).messages, 1)
  const replay = await take(c.subscribe('orders.>', { deliver: 'all' }), 500)
  assert.equal(replay.map((m) => (m.data as { i: number }).i), Array.from({ length: 500 }, (_, i) => i))
  assert.is((await c.publishAck('orders.x', 'next')).seq, 501)
})

test('a topic deleted through the API leaves no files behind', async () => {
  const { c } = await start()
  await c.topics.add({ name: 'gone', subjects: ['gone.>'], storage: 'file' })
  await c.publishAck('gone.a', 1)
  assert.ok(existsSync(join(dir.path, 'topics', 'gone')))
  await c.topics.delete('gone')
  assert.not.ok(existsSync(join(dir.path, 'topics', 'gone')))
})

test('a publisher sees storage_full on a full disk, the other topics go on, and publishes resume when space returns', async () => {
  const io = new FaultyIo()
  const { c } = await start({ fileStore: { io }, topics: [{ name: 'f', subjects: ['f.>'], storage: 'file' }, { name: 'm', subjects: ['m.>'] }] })
  await c.publishAck('f.a', 1)
  io.failWrites = 'ENOSPC'
  assert.is(await codeOf(c.publishAck('f.a', 2)), 'storage_full')
  assert.is((await c.publishAck('m.a', 'memory topic')).seq, 1)
  const live = c.subscribe('other.>')
  c.publish('other.b', 'core pub/sub outside topics still flows')
  assert.is((await take(live, 1))[0].data, 'core pub/sub outside topics still flows')
  io.failWrites = null
  assert.is((await c.publishAck('f.a', 3)).seq, 2)
})

test('a failed fsync fails the confirm with storage_failed and the topic stays read-only until a restart', async () => {
  const io = new FaultyIo()
  let { b, c } = await start({ fileStore: { io }, topics: [{ name: 'f', subjects: ['f.>'], storage: 'file' }] })
  await c.publishAck('f.a', 'kept')
  io.failSync = 'EIO'
  assert.is(await codeOf(c.publishAck('f.a', 'not kept')), 'storage_failed')
  io.failSync = null
  assert.is(await codeOf(c.publishAck('f.a', 'refused')), 'storage_failed')
  const replay = await take(c.subscribe('f.>', { deliver: 'all' }), 1)
  assert.is(replay[0].data, 'kept')
  ;({ b, c } = await restart(b, c))
  assert.ok((await c.publishAck('f.a', 'after restart')).seq >= 2)
})

test('a corrupt range is a gap for replay subscribers, and the messages after it still arrive', async () => {
  let { b, c } = await start({ fileStore: { segmentBytes: 4096 }, topics: [{ name: 'log', subjects: ['log.>'], storage: 'file', fsync: 'never' }] })
  for (let i = 1; i <= 200; i++) await c.publishAck('log.a', `entry ${i} ${'x'.repeat(50)}`)
  await c.close()
  await b.close()
  open.length = 0
  const victim = dir.segments('log')[1]
  const data = readFileSync(victim)
  data[Math.floor(data.length / 2)] ^= 0x01
  writeFileSync(victim, data)
  ;({ b, c } = await start({ fileStore: { segmentBytes: 4096 } }))
  const info = await c.topics.info('log')
  assert.is(info.lost.length, 1)
  const seen: Status[] = []
  void (async () => { for await (const s of c.status()) seen.push(s) })()
  const got: number[] = []
  c.subscribe('log.>', { deliver: 'all', callback: (_e, m) => { if (m !== null) got.push(m.seq) } })
  await until(5000, () => got.length >= 200 - (info.lost[0].toSeq - info.lost[0].fromSeq + 1), 'every readable message')
  await until(2000, () => seen.some((s) => s.type === 'gap'), 'the gap event')
  const gap = seen.find((s) => s.type === 'gap') as Extract<Status, { type: 'gap' }>
  assert.equal([gap.from, gap.to], [info.lost[0].fromSeq, info.lost[0].toSeq])
  assert.ok(got.includes(200))
  assert.ok(got.every((s) => s < info.lost[0].fromSeq || s > info.lost[0].toSeq))
})

test('a work queue on a file topic resumes after a restart: acked jobs are never delivered again', async () => {
  const topics = [{ name: 'jobs', subjects: ['jobs.>'], storage: 'file' as const }]
  let { b, c } = await start({ topics })
  for (let i = 1; i <= 30; i++) await c.publishAck('jobs.x', i)
  const acked: number[] = []
  const sub = c.subscribe('jobs.>', { queue: 'w', ack: true, maxInFlight: 5, callback: (_e, m) => { if (m !== null && (m.data as number) <= 10) { m.ack(); acked.push(m.data as number) } } })
  await until(3000, () => acked.length === 10, 'ten acks')
  await c.flush()
  await sleep(50)
  sub.unsubscribe()
  ;({ b, c } = await restart(b, c, { topics }))
  const again: number[] = []
  c.subscribe('jobs.>', { queue: 'w', ack: true, callback: (_e, m) => { if (m !== null) { again.push(m.data as number); m.ack() } } })
  await until(3000, () => again.length >= 20, 'the other twenty')
  await sleep(100)
  assert.equal([...again].sort((x, y) => x - y), Array.from({ length: 20 }, (_, i) => i + 11))
  const info = await c.topics.info('jobs')
  assert.is(info.consumers[0].ackFloor, 30)
})

test('/stats and /metrics show storage, bytes on disk and lost', async () => {
  const { b, c } = await start({ topics: [{ name: 'f', subjects: ['f.>'], storage: 'file' }, { name: 'm', subjects: ['m.>'] }] })
  const monitoring = attachMonitoring(b)
  open.push(monitoring)
  await c.publishAck('f.a', 'x')
  const base = b.url.replace('ws://', 'http://')
  const stats = await (await fetch(`${base}stats`)).json() as { topics: Array<{ name: string; storage: string; diskBytes: number; lost: unknown[] }> }
  const f = stats.topics.find((t) => t.name === 'f')
  assert.equal([f?.storage, f?.lost], ['file', []])
  assert.ok((f?.diskBytes ?? 0) > 0)
  assert.is(stats.topics.find((t) => t.name === 'm')?.storage, 'memory')
  const metrics = await (await fetch(`${base}metrics`)).text()
  assert.match(metrics, /subwire_topic_disk_bytes\{topic="f"\} [1-9]/)
  assert.match(metrics, /subwire_topic_lost_messages\{topic="f"\} 0/)
})

test.run()
