/**
 * Contract property: an acked work queue under random appends, joins, leaves, acks, naks (with and without
 * delays), working(), term() and clock ticks, pulled after every event as the broker would. A model tracks
 * what each member holds and checks every delivery and dead letter; a final drain acks everything left.
 *
 * Promised: every message is settled exactly once (acked, termed, or dead-lettered after exactly maxDeliver
 * attempts); a message is redelivered only after its attempt failed (nak, timeout, member gone) and not before
 * its delay; a member never holds more than maxInFlight; and nothing deliverable is left waiting.
 */
import * as assert from 'uvu/assert'
import fc from 'fast-check'
import type { PullResult, TopicStore } from '../../../server/store/topic-store.ts'
import { bytes, type Contract } from './harness.ts'

const MEMBERS = ['w0', 'w1', 'w2'] as const

type Cmd =
  | { kind: 'append' }
  | { kind: 'join' | 'leave'; member: number }
  | { kind: 'ack' | 'term' | 'working' | 'strayNak'; pick: number }
  | { kind: 'nak'; pick: number; delay: number | null }
  | { kind: 'tick'; ms: number }

interface Config {
  ackWaitMs: number
  maxDeliver: number | undefined
  maxInFlight: number
  backoffMs: number[]
}

type Settlement = 'acked' | 'termed' | 'dead'

/** What the group must be doing, from the outside. */
class QueueModel {
  readonly appended: number[] = []
  readonly attempts = new Map<number, number>()
  readonly holder = new Map<number, { member: string; deadline: number }>()
  readonly notBefore = new Map<number, number>()
  readonly settled = new Map<number, Settlement>()
  readonly expectDead = new Set<number>()
  readonly members = new Set<string>()
  readonly successfulAcks = new Map<number, number>()
  readonly config: Config

  constructor(config: Config) {
    this.config = config
  }

  held(member: string): number {
    let n = 0
    for (const h of this.holder.values()) if (h.member === member) n++
    return n
  }

  fail(seq: number, now: number, delayMs: number | undefined): void {
    this.holder.delete(seq)
    const attempts = this.attempts.get(seq) ?? 0
    const { maxDeliver, backoffMs } = this.config
    if (maxDeliver !== undefined && attempts >= maxDeliver) {
      this.expectDead.add(seq)
      return
    }
    const backoff = backoffMs.length === 0 ? 0 : backoffMs[Math.min(attempts, backoffMs.length) - 1]
    this.notBefore.set(seq, now + (delayMs ?? backoff))
  }

  settle(seq: number, how: Settlement): void {
    this.holder.delete(seq)
    this.settled.set(seq, how)
  }

  /** Is something deliverable right now (a new message or a due redelivery)? */
  hasDeliverable(now: number): boolean {
    return this.appended.some((seq) => !this.settled.has(seq) && !this.holder.has(seq) && !this.expectDead.has(seq) &&
      (this.notBefore.get(seq) ?? -Infinity) <= now)
  }

  /** Checks a pull against the model and records it. */
  apply(result: PullResult, now: number, step: string): void {
    for (const [seq, h] of [...this.holder]) if (h.deadline <= now) this.fail(seq, now, undefined)
    assert.equal(result.dropped, [], `${step}: nothing is evicted here`)
    for (const dead of result.deadLetters) {
      const seq = dead.message.seq
      assert.ok(this.expectDead.has(seq), `${step}: ${seq} dead-lettered only after its last attempt failed`)
      assert.is(dead.deliveryCount, this.config.maxDeliver, `${step}: dead after exactly maxDeliver attempts`)
      this.expectDead.delete(seq)
      this.settled.set(seq, 'dead')
    }
    assert.equal([...this.expectDead], [], `${step}: every failed last attempt is dead-lettered at the next pull`)
    for (const d of result.deliveries) {
      const seq = d.message.seq
      const count = (this.attempts.get(seq) ?? 0) + 1
      assert.not.ok(this.settled.has(seq), `${step}: ${seq} delivered after it was settled`)
      assert.not.ok(this.holder.has(seq), `${step}: ${seq} delivered while still held`)
      assert.is(d.deliveryCount, count, `${step}: ${seq} delivery count`)
      assert.ok((this.notBefore.get(seq) ?? -Infinity) <= now, `${step}: ${seq} redelivered before its delay`)
      assert.ok(this.members.has(d.member), `${step}: delivered to a member`)
      assert.is(d.deadline, now + this.config.ackWaitMs, `${step}: deadline`)
      this.attempts.set(seq, count)
      this.holder.set(seq, { member: d.member, deadline: d.deadline })
      assert.ok(this.held(d.member) <= this.config.maxInFlight, `${step}: ${d.member} over maxInFlight`)
    }
    const spare = [...this.members].some((m) => this.held(m) < this.config.maxInFlight)
    assert.not.ok(spare && this.hasDeliverable(now), `${step}: a member has room and something deliverable was kept back`)
  }
}

const configArb: fc.Arbitrary<Config> = fc.record({
  ackWaitMs: fc.integer({ min: 10, max: 50 }),
  maxDeliver: fc.option(fc.integer({ min: 1, max: 4 }), { nil: undefined }),
  maxInFlight: fc.integer({ min: 1, max: 3 }),
  backoffMs: fc.array(fc.integer({ min: 0, max: 30 }), { maxLength: 3 }),
})

const pick = fc.nat({ max: 50 })
const member = fc.nat({ max: MEMBERS.length - 1 })
const cmdArb: fc.Arbitrary<Cmd> = fc.oneof(
  { weight: 4, arbitrary: fc.constant({ kind: 'append' as const }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constantFrom('join' as const, 'leave' as const), member }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constantFrom('ack' as const, 'term' as const, 'working' as const, 'strayNak' as const), pick }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('nak' as const), pick, delay: fc.option(fc.integer({ min: 0, max: 40 }), { nil: null }) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('tick' as const), ms: fc.integer({ min: 1, max: 60 }) }) },
)

/** Runs one command against store and model. */
async function step(store: TopicStore, model: QueueModel, cmd: Cmd, now: number, where: string): Promise<void> {
  const delivered = model.appended.filter((seq) => model.attempts.has(seq))
  const held = [...model.holder.entries()]
  switch (cmd.kind) {
    case 'append':
      model.appended.push((await store.append('w', { subject: 'w.job', payload: bytes(1) })).seq)
      return
    case 'join':
      await store.join('w', 'g', MEMBERS[cmd.member])
      model.members.add(MEMBERS[cmd.member])
      return
    case 'leave': {
      const id = MEMBERS[cmd.member]
      await store.leave('w', 'g', id)
      model.members.delete(id)
      for (const [seq, h] of held) if (h.member === id) model.fail(seq, now, 0)
      return
    }
    case 'ack':
    case 'term': {
      if (delivered.length === 0) return
      const seq = delivered[cmd.pick % delivered.length]
      const expected = !model.settled.has(seq)
      const got = cmd.kind === 'ack' ? await store.ack('w', 'g', seq) : await store.term('w', 'g', seq)
      assert.is(got, expected, `${where}: ${cmd.kind} ${seq}`)
      if (!got) return
      model.settle(seq, cmd.kind === 'ack' ? 'acked' : 'termed')
      if (cmd.kind === 'ack') model.successfulAcks.set(seq, (model.successfulAcks.get(seq) ?? 0) + 1)
      return
    }
    case 'working':
    case 'strayNak':
    case 'nak': {
      if (held.length === 0) return
      const [seq, h] = held[cmd.pick % held.length]
      if (cmd.kind === 'strayNak') {
        assert.is(await store.nak('w', 'g', seq, 'stranger'), false, `${where}: a stranger's nak`)
      } else if (cmd.kind === 'working') {
        assert.is(await store.working('w', 'g', seq, h.member), true, `${where}: working ${seq}`)
        h.deadline = now + model.config.ackWaitMs
      } else if (cmd.kind === 'nak') {
        assert.is(await store.nak('w', 'g', seq, h.member, cmd.delay ?? undefined), true, `${where}: nak ${seq}`)
        model.fail(seq, now, cmd.delay ?? undefined)
      }
      return
    }
    case 'tick':
      return
    default: {
      const never: never = cmd
      throw new Error(`unknown command ${JSON.stringify(never)}`)
    }
  }
}

export function groupPropertiesContract(c: Contract): void {
  const s = c.suite('work queue properties')

  c.clockTest(s, 'settles every message exactly once under random acks, naks, timeouts and members leaving', async () => {
    await fc.assert(fc.asyncProperty(configArb, fc.array(cmdArb, { maxLength: 60 }), async (config, cmds) => {
      const { store, clock } = await c.openUntracked()
      try {
        await store.create({ name: 'w', subjects: ['w.>'] })
        await store.openGroup('w', 'g', config)
        const model = new QueueModel(config)
        for (const [i, cmd] of cmds.entries()) {
          const where = `step ${i} ${JSON.stringify(cmd)}`
          if (cmd.kind === 'tick') clock.advance(cmd.ms)
          await step(store, model, cmd, clock.t, where)
          model.apply(await store.pull('w', 'g'), clock.t, where)
          assert.is((await store.groupInfo('w', 'g')).inFlight, model.holder.size, `${where}: in flight`)
        }
        await drain(store, model, clock)
        for (const seq of model.appended) {
          assert.ok(model.settled.has(seq), `${seq} settled`)
          assert.ok((model.successfulAcks.get(seq) ?? 0) <= 1, `${seq} acked at most once`)
          if (model.settled.get(seq) === 'dead') assert.is(model.attempts.get(seq), config.maxDeliver, `${seq} attempts`)
        }
        const info = await store.groupInfo('w', 'g')
        const count = (how: Settlement): number => [...model.settled.values()].filter((v) => v === how).length
        assert.equal([info.acked, info.terminated, info.deadLettered], [count('acked'), count('termed'), count('dead')])
        assert.equal([info.inFlight, info.redeliveries], [0, 0])
        assert.is(info.ackFloor, model.appended.length)
      } finally {
        await store.close()
      }
    }), { numRuns: c.numRuns })
  })
}

/** Lets every deadline and delay pass, acking whatever arrives, until all is settled (bounded). */
async function drain(store: TopicStore, model: QueueModel, clock: { t: number; advance(ms: number): void }): Promise<void> {
  await store.join('w', 'g', 'drainer')
  model.members.add('drainer')
  const longest = model.config.ackWaitMs + Math.max(40, ...model.config.backoffMs) + 1
  for (let round = 0; round < 2000 && model.appended.some((seq) => !model.settled.has(seq)); round++) {
    clock.advance(longest)
    const result = await store.pull('w', 'g')
    model.apply(result, clock.t, `drain round ${round}`)
    for (const d of result.deliveries) {
      assert.ok(await store.ack('w', 'g', d.message.seq), `drain ack ${d.message.seq}`)
      model.settle(d.message.seq, 'acked')
      model.successfulAcks.set(d.message.seq, (model.successfulAcks.get(d.message.seq) ?? 0) + 1)
    }
  }
}
