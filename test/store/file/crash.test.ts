/**
 * Crash safety of file topics with real broker processes (issue 13, Tests): a child `subwire serve` is killed
 * with SIGKILL during heavy publishAck traffic, or in the middle of an acked work queue, and restarted on the
 * same data directory. SIGKILL keeps the page cache, so this tests what the broker confirms and journals, in
 * which order (the power-loss tests with the fault layer test fsync).
 *
 * Each run picks its crash points from a seed printed on stderr; `SUBWIRE_CRASH_SEED=<seed>` replays one.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { connect, type Client, type Msg, type TopicInfo } from '../../../client/index.ts'
import { sleep, until, within } from '../../helpers.ts'
import { between, counterOf, crashSeed, killAll, publishUntil, seeded, startChild, type ChildBroker } from './crash-child.ts'

/** What a file topic's info adds (storage, bytes on disk, the ranges lost at recovery). */
type FileTopicInfo = TopicInfo & { storage?: string; diskBytes?: number; lost?: Array<{ fromSeq: number; toSeq: number }> }

const IN_FLIGHT = 256
const dirs: string[] = []
test.after.each(async () => {
  await killAll()
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true })
})

function dataDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'subwire-crash-'))
  dirs.push(dir)
  return dir
}

function log(text: string): void {
  process.stderr.write(`  [crash] ${text}\n`)
}

async function client(child: ChildBroker, name: string): Promise<Client> {
  return within(10_000, connect(child.url, { reconnect: false, name }), `connect ${name}`)
}

async function info(c: Client, topic: string): Promise<FileTopicInfo> {
  return await within(10_000, c.topics.info(topic), `info ${topic}`) as FileTopicInfo
}

/** Every message a topic holds, by replay from its first sequence: `[seq, counter]` in the order delivered. */
async function replayAll(c: Client, topic: string, subject: string): Promise<{ info: FileTopicInfo; got: Array<[number, number]> }> {
  const before = await info(c, topic)
  const got: Array<[number, number]> = []
  const sub = c.subscribe(subject, { deliver: 'all', callback: (err, m) => { if (err === null && m !== null) got.push([m.seq, counterOf(m.data)]) } })
  try {
    await until(60_000, () => got.length >= before.messages, `the replay of ${before.messages} messages (got ${got.length})`)
    await within(5000, c.flush(), 'flush after the replay')
  } finally {
    sub.unsubscribe()
  }
  return { info: before, got }
}

/**
 * Checks a file topic after a restart against every confirm so far (counter → seq): each confirmed message is
 * there once, at its seq; the log is 1..N without holes, in order (a torn tail may only shorten it: lastSeq may
 * stay above N, never below); no counter is stored twice; nothing is reported lost. Returns lastSeq.
 */
async function checkLog(c: Client, confirmed: ReadonlyMap<number, number>, sent: number, what: string): Promise<number> {
  const { info: i, got } = await replayAll(c, 'orders', 'orders.>')
  assert.is(i.storage, 'file', `${what}: storage`)
  assert.equal(i.lost, [], `${what}: nothing lost`)
  assert.is(i.firstSeq, 1, `${what}: firstSeq`)
  assert.is(got.length, i.messages, `${what}: replayed exactly what info counts`)
  assert.ok(i.lastSeq >= i.messages, `${what}: lastSeq ${i.lastSeq} below the ${i.messages} messages held`)
  const bySeq = new Map<number, number>()
  const seen = new Set<number>()
  const duplicated: number[] = []
  for (const [k, [seq, n]] of got.entries()) {
    assert.is(seq, k + 1, `${what}: replay in order, no holes (position ${k})`)
    assert.ok(Number.isSafeInteger(n) && n >= 0 && n < sent, `${what}: seq ${seq} holds a payload that was sent (counter ${n})`)
    if (seen.has(n)) duplicated.push(n)
    seen.add(n)
    bySeq.set(seq, n)
  }
  assert.equal(duplicated.slice(0, 20), [], `${what}: no message stored twice (${duplicated.length} duplicated)`)
  const missing: string[] = []
  for (const [n, seq] of confirmed) if (bySeq.get(seq) !== n) missing.push(`${n}@${seq}→${String(bySeq.get(seq))}`)
  assert.equal(missing.slice(0, 20), [], `${what}: every confirmed message at its seq (${missing.length} of ${confirmed.size} not, counter@seq→found)`)
  // One connection's publishes are stored in the order sent: a later counter never has a lower seq.
  let previous = 0
  for (const n of [...confirmed.keys()].sort((a, b) => a - b)) {
    const seq = confirmed.get(n) ?? 0
    assert.ok(seq > previous, `${what}: counter ${n} confirmed at seq ${seq}, not after ${previous}`)
    previous = seq
  }
  return i.lastSeq
}

test('a broker killed with SIGKILL during heavy publishAck traffic keeps every confirmed message, once and in order', async () => {
  const seed = crashSeed()
  const random = seeded(seed)
  const rounds = 3
  const dir = dataDir()
  const confirmed = new Map<number, number>()
  let sent = 0
  let lastSeq = 0
  for (let round = 0; round < rounds; round++) {
    const stopAfter = between(random, 1000, 8000)
    log(`seed ${seed} round ${round}: SIGKILL after ${stopAfter} confirms (replay with SUBWIRE_CRASH_SEED=${seed})`)
    const child = await startChild(dir)
    const c = await client(child, `publisher-${round}`)
    if (round === 0) {
      const config = { name: 'orders', subjects: ['orders.>'], storage: 'file' as const, fsync: 'always' as const }
      await within(10_000, c.topics.add(config), 'add the file topic')
    } else {
      lastSeq = await checkLog(c, confirmed, sent, `seed ${seed} after crash ${round}`)
    }
    const run = await publishUntil(c, {
      subject: (n) => `orders.${n % 16}`,
      firstCounter: sent,
      inFlight: IN_FLIGHT,
      stopAfter,
      maxSent: stopAfter * 4 + IN_FLIGHT,
      deadlineMs: 60_000,
      onStop: () => { if (child.child.pid !== undefined) process.kill(child.child.pid, 'SIGKILL') },
    })
    await child.kill()
    await c.close()
    assert.equal(run.early.map((e) => (e as { code?: string }).code ?? e.message), [], `seed ${seed} round ${round}: no publishAck failed before the kill`)
    assert.ok(run.confirmed.size >= stopAfter, `seed ${seed} round ${round}: ${run.confirmed.size} confirms`)
    for (const [n, seq] of run.confirmed) {
      assert.ok(seq > lastSeq, `seed ${seed} round ${round}: seq ${seq} (counter ${n}) is new, after ${lastSeq} from before the crash`)
      confirmed.set(n, seq)
    }
    const seqs = new Set(run.confirmed.values())
    assert.is(seqs.size, run.confirmed.size, `seed ${seed} round ${round}: no seq confirmed twice`)
    sent += run.sent
    log(`seed ${seed} round ${round}: ${run.confirmed.size} confirmed of ${run.sent} sent; killed`)
  }
  const child = await startChild(dir)
  const c = await client(child, 'checker')
  try {
    const end = await checkLog(c, confirmed, sent, `seed ${seed} after the last crash`)
    const after = await within(10_000, c.publishAck('orders.after', `${sent}:after`), 'a publish after the restarts')
    assert.is(after.seq, end + 1, `seed ${seed}: the next seq goes on from the log, never reusing one`)
  } finally {
    await c.close()
    await child.kill()
  }
})

/** One acked member of group `workers`: acks at once and records what it got, until told to stop acking. */
interface Worker { c: Client; stop(): void; pinger: Promise<void> }

interface Deliveries {
  /** Seqs acked before the crash (acks sent while the broker was alive). */
  ackedBefore: Set<number>
  /** Seqs delivered after the restart. */
  after: Map<number, number>
  /** Seqs acked in all. */
  acked: Set<number>
  /** Seqs acked before the crash whose ack a later flush round trip proved the broker had read. */
  processed: Set<number>
  phase: 'before' | 'after'
  crashed: boolean
}

/**
 * `members` acked workers of group `workers`, all connected before any joins, then joining in one tick, so the
 * kill finds the work shared out (a member joining alone could drain the queue before the others arrive).
 */
async function workers(child: ChildBroker, members: number, tag: string, d: Deliveries, onAck: () => void, settings: { maxInFlight: number; ackWaitMs: number }): Promise<Worker[]> {
  const clients = await Promise.all(Array.from({ length: members }, (_, i) => client(child, `worker-${i}-${tag}`)))
  const joined = clients.map((c) => joinGroup(c, d, onAck, settings))
  // The kill may come before every flush is answered: a failed flush then is expected.
  await within(10_000, Promise.all(clients.map((c) => c.flush().catch((err: unknown) => { if (!d.crashed) throw err }))), `the ${tag} workers joined`)
  return joined
}

function joinGroup(c: Client, d: Deliveries, onAck: () => void, settings: { maxInFlight: number; ackWaitMs: number }): Worker {
  let acking = true
  const mine: number[] = []
  c.subscribe('jobs.>', {
    queue: 'workers', ack: true, ...settings,
    callback: (err, m: Msg | null) => {
      // After the kill the first broker's messages are left unacked: an ack sent then never reaches it.
      if (err !== null || m === null || !acking || (d.phase === 'before' && d.crashed)) return
      if (d.phase === 'after') d.after.set(m.seq, (d.after.get(m.seq) ?? 0) + 1)
      m.ack()
      d.acked.add(m.seq)
      if (d.phase === 'before') { d.ackedBefore.add(m.seq); mine.push(m.seq) }
      onAck()
    },
  })
  // Before the crash, flush round trips one after another: a PONG proves the broker read every ack sent before
  // its PING (what it read and had not yet journaled is what a kill can take from it).
  const pinger = d.phase === 'after' ? Promise.resolve() : (async () => {
    let proven = 0
    for (let i = 0; i < 100_000 && !d.crashed; i++) {
      const upTo = mine.length
      try {
        await c.flush()
      } catch {
        return
      }
      for (; proven < upTo; proven++) d.processed.add(mine[proven] ?? 0)
    }
  })()
  return { c, stop: () => { acking = false }, pinger }
}

test('a work queue killed with SIGKILL mid-way resumes after a restart: nothing acked redelivered beyond the acks in flight', async () => {
  const seed = crashSeed()
  const random = seeded(seed)
  const total = 4000
  const members = 4
  const settings = { maxInFlight: 32, ackWaitMs: 3000 }
  const killAfter = between(random, Math.floor(total * 0.2), Math.floor(total * 0.8))
  log(`seed ${seed}: work queue of ${total}, SIGKILL after ${killAfter} acks (replay with SUBWIRE_CRASH_SEED=${seed})`)
  const dir = dataDir()
  const first = await startChild(dir)
  const producer = await client(first, 'producer')
  const config = { name: 'jobs', subjects: ['jobs.>'], storage: 'file' as const, fsync: 'always' as const }
  await within(10_000, producer.topics.add(config), 'add the file topic')
  const fill = await publishUntil(producer, { subject: (n) => `jobs.${n % 8}`, firstCounter: 0, inFlight: IN_FLIGHT, stopAfter: total, maxSent: total, deadlineMs: 60_000, onStop: () => undefined })
  assert.equal(fill.early, [], 'the fill had no failure')
  assert.is(fill.confirmed.size, total)
  await producer.close()

  const d: Deliveries = { ackedBefore: new Set(), after: new Map(), acked: new Set(), processed: new Set(), phase: 'before', crashed: false }
  const onAck = (): void => {
    if (d.phase === 'before' && !d.crashed && d.ackedBefore.size >= killAfter) {
      d.crashed = true // acks from here on never reach the broker: not counted as acked
      if (first.child.pid !== undefined) process.kill(first.child.pid, 'SIGKILL')
    }
  }
  const before = await workers(first, members, 'before', d, onAck, settings)
  await within(60_000, first.exited, `the kill after ${killAfter} acks (acked ${d.ackedBefore.size})`)
  await first.kill()
  for (const w of before) await w.c.close()
  await within(10_000, Promise.all(before.map((w) => w.pinger)), "the flush loops to end")
  log(`seed ${seed}: ${d.ackedBefore.size} acked before the kill`)

  d.phase = 'after'
  const second = await startChild(dir)
  const admin = await client(second, 'admin')
  try {
    const reopened = await info(admin, 'jobs')
    assert.is(reopened.storage, 'file')
    assert.equal(reopened.lost, [], 'nothing lost')
    assert.is(reopened.messages, total, 'every job still stored')
    const group = reopened.consumers.find((g) => g.name === 'workers')
    assert.ok(group !== undefined, 'the group is reopened')
    log(`seed ${seed}: reopened with ackFloor ${group?.ackFloor}, in flight ${group?.inFlight}`)
    const after = await workers(second, members, 'after', d, () => undefined, settings)
    await until(60_000, () => d.acked.size >= total, `every job acked (${d.acked.size} of ${total})`)
    let floor = 0
    for (let i = 0; i < 300 && floor < total; i++) {
      floor = (await info(admin, 'jobs')).consumers.find((g) => g.name === 'workers')?.ackFloor ?? 0
      if (floor < total) await sleep(100)
    }
    assert.is(floor, total, `seed ${seed}: the group's ack floor moves to the end`)
    for (const w of after) w.stop()
    const redelivered = [...d.ackedBefore].filter((seq) => d.after.has(seq))
    const readByBroker = redelivered.filter((seq) => d.processed.has(seq)).length
    log(`seed ${seed}: ${redelivered.length} acked before the crash were delivered again (bound ${settings.maxInFlight * members}); ` +
      `${readByBroker} of them after a flush round trip proved the broker had read the ack; ${d.processed.size} of ${d.ackedBefore.size} acks proven read`)
    // An ack the broker had read before answering a later PING (the client's flush resolved) was not in flight.
    assert.is(readByBroker, 0, `seed ${seed}: ${readByBroker} messages redelivered after the restart although the broker had read their acks and answered a flush after them (first: ${redelivered.filter((seq) => d.processed.has(seq)).slice(0, 10).join(', ')})`)
    assert.ok(redelivered.length <= settings.maxInFlight * members,
      `seed ${seed}: ${redelivered.length} acked messages redelivered after the restart, more than maxInFlight × members = ${settings.maxInFlight * members} (first: ${redelivered.slice(0, 20).join(', ')})`)
    const neverDelivered: number[] = []
    for (let seq = 1; seq <= total; seq++) if (!d.acked.has(seq)) neverDelivered.push(seq)
    assert.equal(neverDelivered, [], 'every job delivered and acked at least once')
    for (const w of after) await w.c.close()
  } finally {
    await admin.close()
    await second.kill()
  }
})

test.run()
