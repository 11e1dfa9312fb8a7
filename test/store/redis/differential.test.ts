/**
 * The Redis store against the memory store (the engine), step by step under random operations: the contract
 * checks what must hold, this checks that both stores answer exactly the same (which member gets which message in
 * which order, delivery counts, deadlines, dead letters, drops, gaps, counters, what a read returns), since they
 * promise the same semantics.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import fc from 'fast-check'
import { MemoryTopicStore } from '../../../server/store/memory/memory-store.ts'
import type { PullResult, TopicStore } from '../../../server/store/topic-store.ts'
import { haveRedisServer, startRedis, type TestRedis } from '../../cluster/redis-server.ts'
import { within } from '../../helpers.ts'
import { ManualClock } from '../contract/harness.ts'
import { Stores, freshPrefix } from './fixture.ts'

if (!haveRedisServer()) throw new Error('redis-server is not installed: the Redis topic store tests need it (apt-get install redis-server)')

const test = suite('redis store: answers as the memory store does')
let redis: TestRedis
const stores = new Stores()
test.before(async () => {
  redis = await within(20_000, startRedis(), 'redis-server starts')
})
test.after.each(() => stores.closeAll())
test.after(() => redis.close())

const MEMBERS = ['a/1', 'a/2', 'b/1'] as const
const SUBJECTS = ['w.x', 'w.y', 'w.z.1'] as const

type Cmd =
  | { kind: 'append'; subject: number; size: number }
  | { kind: 'join' | 'leave'; member: number }
  | { kind: 'ack' | 'term'; seq: number; member: number | null }
  | { kind: 'nak'; seq: number; member: number; delay: number | null }
  | { kind: 'working'; seq: number; member: number }
  | { kind: 'tick'; ms: number }
  | { kind: 'purge'; subject: number | null }
  | { kind: 'pull' }

const seq = fc.integer({ min: 1, max: 10 })
const member = fc.nat({ max: MEMBERS.length - 1 })
const cmdArb: fc.Arbitrary<Cmd> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('append' as const), subject: fc.nat({ max: SUBJECTS.length - 1 }), size: fc.nat({ max: 30 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constantFrom('join' as const, 'leave' as const), member }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constantFrom('ack' as const, 'term' as const), seq, member: fc.option(member, { nil: null }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('nak' as const), seq, member, delay: fc.option(fc.nat({ max: 40 }), { nil: null }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('working' as const), seq, member }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('tick' as const), ms: fc.integer({ min: 1, max: 60 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('purge' as const), subject: fc.option(fc.nat({ max: SUBJECTS.length - 1 }), { nil: null }) }) },
  { weight: 3, arbitrary: fc.constant({ kind: 'pull' as const }) },
)

const setupArb = fc.record({
  maxMsgs: fc.option(fc.integer({ min: 2, max: 10 }), { nil: undefined }),
  maxAgeMs: fc.option(fc.integer({ min: 20, max: 200 }), { nil: undefined }),
  maxMsgsPerSubject: fc.option(fc.integer({ min: 1, max: 4 }), { nil: undefined }),
  ackWaitMs: fc.integer({ min: 10, max: 80 }),
  maxDeliver: fc.option(fc.integer({ min: 1, max: 4 }), { nil: undefined }),
  maxInFlight: fc.integer({ min: 1, max: 3 }),
  backoffMs: fc.array(fc.nat({ max: 30 }), { maxLength: 3 }),
  filter: fc.constantFrom('>', 'w.*', 'w.z.>'),
})

/** A pull as plain data, payload bytes included. */
function shape(r: PullResult): unknown {
  return {
    deliveries: r.deliveries.map((d) => [d.member, d.message.seq, d.message.subject, [...d.message.payload].join(), d.deliveryCount, d.deadline]),
    deadLetters: r.deadLetters.map((d) => [d.message.seq, d.deliveryCount, d.reason, d.message.size]),
    gap: r.gap,
    dropped: r.dropped,
  }
}

/** What one command answers on a store: a value, or the error code. */
async function run(store: TopicStore, cmd: Cmd): Promise<unknown> {
  try {
    switch (cmd.kind) {
      case 'append': return await store.append('w', { subject: SUBJECTS[cmd.subject], payload: Uint8Array.from({ length: cmd.size }, (_, i) => i) })
      case 'join': return await store.join('w', 'g', MEMBERS[cmd.member])
      case 'leave': return await store.leave('w', 'g', MEMBERS[cmd.member])
      case 'ack': return await store.ack('w', 'g', cmd.seq, cmd.member === null ? undefined : MEMBERS[cmd.member])
      case 'term': return await store.term('w', 'g', cmd.seq, cmd.member === null ? undefined : MEMBERS[cmd.member])
      case 'nak': return await store.nak('w', 'g', cmd.seq, MEMBERS[cmd.member], cmd.delay ?? undefined)
      case 'working': return await store.working('w', 'g', cmd.seq, MEMBERS[cmd.member])
      case 'tick': return null
      case 'purge': return await store.purge('w', cmd.subject === null ? {} : { subject: SUBJECTS[cmd.subject] })
      case 'pull': {
        const r = await store.pull('w', 'g')
        // The Redis pull also answers its next deadline; the memory store's is asked right after.
        const next = 'nextDeadline' in r ? r.nextDeadline : await store.nextDeadline('w', 'g')
        return { ...(shape(r) as object), next }
      }
      default: {
        const never: never = cmd
        throw new Error(`unknown command ${JSON.stringify(never)}`)
      }
    }
  } catch (err) {
    return { error: (err as { code?: string }).code ?? String(err) }
  }
}

test('answers every step of random group and log operations as the memory store does', async () => {
  await fc.assert(fc.asyncProperty(setupArb, fc.array(cmdArb, { maxLength: 60 }), async (setup, cmds) => {
    const clock = new ManualClock()
    const memory = new MemoryTopicStore({ now: clock.now })
    const red = stores.open({ redis: redis.url, prefix: freshPrefix(), now: clock.now })
    const { filter, ackWaitMs, maxDeliver, maxInFlight, backoffMs, ...limits } = setup
    const group = { filter, ackWaitMs, maxInFlight, backoffMs, ...(maxDeliver === undefined ? {} : { maxDeliver }) }
    for (const s of [memory, red] as TopicStore[]) {
      await s.create({ name: 'w', subjects: ['w.>'], ...limits })
      await s.openGroup('w', 'g', group)
    }
    for (const [i, cmd] of cmds.entries()) {
      const c = cmd
      if (c.kind === 'tick') clock.advance(c.ms)
      const step = `step ${i} ${JSON.stringify(c)}`
      assert.equal(await run(red, c), await run(memory, c), step)
      assert.equal(await red.groupInfo('w', 'g'), memory.groupInfo('w', 'g'), `${step}: group info`)
      assert.is(await red.nextDeadline('w', 'g'), memory.nextDeadline('w', 'g'), `${step}: next deadline`)
      const [ri, mi] = [await red.info('w'), memory.info('w')]
      assert.equal([ri.messages, ri.bytes, ri.firstSeq, ri.lastSeq, ri.firstTime, ri.lastTime], [mi.messages, mi.bytes, mi.firstSeq, mi.lastSeq, mi.firstTime, mi.lastTime], `${step}: topic info`)
      const [rr, mr] = [await red.read('w', { startSeq: 1, filter: 'w.*' }), memory.read('w', { startSeq: 1, filter: 'w.*' })]
      assert.equal({ ...rr, messages: rr.messages.map((m) => m.seq) }, { ...mr, messages: mr.messages.map((m) => m.seq) }, `${step}: read`)
      const since = clock.t - 40
      const [rt, mt] = [await red.read('w', { startTime: since, limit: 3 }), memory.read('w', { startTime: since, limit: 3 })]
      assert.equal({ ...rt, messages: rt.messages.map((m) => m.seq) }, { ...mt, messages: mt.messages.map((m) => m.seq) }, `${step}: read by time`)
      assert.is((await red.last('w', 'w.z.>'))?.seq, memory.last('w', 'w.z.>')?.seq, `${step}: last`)
      assert.equal((await red.lastPerSubject('w')).map((m) => m.seq), memory.lastPerSubject('w').map((m) => m.seq), `${step}: last per subject`)
    }
    await red.close()
  }), { numRuns: 150 })
})

test.run()
