/**
 * Contract property: random appends (random subjects, sizes, msgIds, expectedLastSeq), clock ticks and purges
 * under random limits. After every step the store must hold exactly what a naive reference model of the rules
 * holds, and the limits must hold.
 */
import * as assert from 'uvu/assert'
import fc from 'fast-check'
import type { DiscardPolicy, StoredMessage, TopicStore } from '../../../server/store/topic-store.ts'
import { MESSAGE_OVERHEAD_BYTES } from '../../../server/store/message-intake.ts'
import { bytes, cost, outcome, readAll, type Contract } from './harness.ts'

const SUBJECTS = ['p.a', 'p.b.1', 'p.b.2', 'p.c'] as const

interface Limits {
  maxMsgs?: number
  maxBytes?: number
  maxAgeMs?: number
  maxMsgsPerSubject?: number
  discard: DiscardPolicy
  duplicateWindowMs: number
}

type Cmd =
  | { kind: 'append'; subject: string; size: number; msgId: string | null; expect: 'none' | 'right' | 'wrong' }
  | { kind: 'tick'; ms: number }
  | { kind: 'purge'; subject: string | null }

interface ModelMsg {
  seq: number
  subject: string
  size: number
  time: number
}

/** The rules written as plainly as possible, with arrays and filters: slow, and obviously right. */
class LogModel {
  msgs: ModelMsg[] = []
  lastSeq = 0
  lostThrough = 0
  readonly dedup = new Map<string, { seq: number; time: number }>()
  readonly limits: Limits

  constructor(limits: Limits) {
    this.limits = limits
  }

  expire(now: number): void {
    const { maxAgeMs, duplicateWindowMs } = this.limits
    if (maxAgeMs !== undefined) {
      for (const m of this.msgs) if (now - m.time > maxAgeMs) this.lostThrough = Math.max(this.lostThrough, m.seq)
      this.msgs = this.msgs.filter((m) => now - m.time <= maxAgeMs)
    }
    for (const [id, e] of this.dedup) if (now - e.time >= duplicateWindowMs) this.dedup.delete(id)
  }

  /** The sequence stored (or found duplicate), or the error code. */
  append(cmd: Extract<Cmd, { kind: 'append' }>, now: number): { seq: number; duplicate: boolean } | string {
    this.expire(now)
    const original = cmd.msgId === null ? undefined : this.dedup.get(cmd.msgId)
    if (original !== undefined) return { seq: original.seq, duplicate: true }
    if (cmd.expect === 'wrong') return 'wrong_last_seq'
    const { maxBytes, maxMsgs, discard, maxMsgsPerSubject } = this.limits
    const size = cost(cmd.subject, cmd.size)
    if (maxBytes !== undefined && size > maxBytes) return 'max_payload'
    const msg: ModelMsg = { seq: this.lastSeq + 1, subject: cmd.subject, size, time: now }
    const after = this.#trimSubject([...this.msgs, msg], cmd.subject)
    const over = (ms: ModelMsg[]): boolean =>
      (maxMsgs !== undefined && ms.length > maxMsgs) || (maxBytes !== undefined && ms.reduce((n, m) => n + m.size, 0) > maxBytes)
    if (discard === 'new' && over(after)) return 'topic_full'
    this.lastSeq++
    this.msgs = after
    while (over(this.msgs)) this.lostThrough = Math.max(this.lostThrough, (this.msgs.shift() as ModelMsg).seq)
    if (cmd.msgId !== null && this.limits.duplicateWindowMs > 0) this.dedup.set(cmd.msgId, { seq: msg.seq, time: now })
    return { seq: msg.seq, duplicate: false }
  }

  purge(subject: string | null): number {
    const gone = this.msgs.filter((m) => subject === null || m.subject === subject)
    if (subject === null) this.lostThrough = this.lastSeq
    for (const m of gone) this.lostThrough = Math.max(this.lostThrough, m.seq)
    this.msgs = this.msgs.filter((m) => !gone.includes(m))
    return gone.length
  }

  #trimSubject(msgs: ModelMsg[], subject: string): ModelMsg[] {
    const per = this.limits.maxMsgsPerSubject
    if (per === undefined) return msgs
    const ofSubject = msgs.filter((m) => m.subject === subject)
    const drop = new Set(ofSubject.slice(0, Math.max(0, ofSubject.length - per)))
    return msgs.filter((m) => !drop.has(m))
  }
}

const optional = (arb: fc.Arbitrary<number>): fc.Arbitrary<number | undefined> => fc.option(arb, { nil: undefined })

// Small ages, windows and ticks so that runs often land exactly on a limit's boundary.
const limitsArb: fc.Arbitrary<Limits> = fc.record({
  maxMsgs: optional(fc.integer({ min: 1, max: 8 })),
  // From below one message's cost (every append max_payload) to about four messages.
  maxBytes: optional(fc.integer({ min: MESSAGE_OVERHEAD_BYTES, max: 4 * (MESSAGE_OVERHEAD_BYTES + 45) })),
  maxAgeMs: optional(fc.integer({ min: 1, max: 30 })),
  maxMsgsPerSubject: optional(fc.integer({ min: 1, max: 3 })),
  discard: fc.constantFrom<DiscardPolicy>('old', 'new'),
  duplicateWindowMs: fc.integer({ min: 0, max: 30 }),
})

const cmdArb: fc.Arbitrary<Cmd> = fc.oneof(
  { weight: 6, arbitrary: fc.record({
    kind: fc.constant('append' as const),
    subject: fc.constantFrom(...SUBJECTS),
    size: fc.integer({ min: 0, max: 40 }),
    msgId: fc.option(fc.constantFrom('m1', 'm2', 'm3'), { nil: null }),
    expect: fc.constantFrom('none' as const, 'none' as const, 'right' as const, 'wrong' as const),
  }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('tick' as const), ms: fc.integer({ min: 0, max: 15 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('purge' as const), subject: fc.option(fc.constantFrom(...SUBJECTS), { nil: null }) }) },
)

const shape = (ms: readonly (StoredMessage | ModelMsg)[]): string[] => ms.map((m) => `${m.seq}:${m.subject}:${m.size}`)

async function checkAgainst(store: TopicStore, model: LogModel, now: number, step: string): Promise<void> {
  model.expire(now)
  const held = await readAll(store, 'p', '>', 0, 3)
  assert.equal(shape(held), shape(model.msgs), `${step}: held messages`)
  const info = await store.info('p')
  const { maxMsgs, maxBytes, maxMsgsPerSubject } = model.limits
  assert.is(info.messages, model.msgs.length, `${step}: info.messages`)
  assert.is(info.bytes, model.msgs.reduce((n, m) => n + m.size, 0), `${step}: info.bytes`)
  assert.ok(maxMsgs === undefined || info.messages <= maxMsgs, `${step}: maxMsgs holds`)
  assert.ok(maxBytes === undefined || info.bytes <= maxBytes, `${step}: maxBytes holds`)
  for (const subject of SUBJECTS) {
    const n = held.filter((m) => m.subject === subject).length
    assert.ok(maxMsgsPerSubject === undefined || n <= maxMsgsPerSubject, `${step}: maxMsgsPerSubject holds`)
  }
  assert.ok(held.every((m, i) => i === 0 || m.seq > held[i - 1].seq), `${step}: sequences increase`)
  assert.is(info.lastSeq, model.lastSeq, `${step}: lastSeq`)
  assert.is(info.firstSeq, model.msgs[0]?.seq ?? model.lastSeq + 1, `${step}: firstSeq`)
  const filtered = await readAll(store, 'p', 'p.b.*', 0, 2)
  assert.equal(shape(filtered), shape(model.msgs.filter((m) => m.subject.startsWith('p.b.'))), `${step}: filtered read`)
  const lastPer = await store.lastPerSubject('p')
  const expectedLast = model.msgs.filter((m, i) => !model.msgs.slice(i + 1).some((later) => later.subject === m.subject))
  assert.equal(shape(lastPer), shape(expectedLast), `${step}: last per subject`)
  const lostTo = Math.min(info.firstSeq - 1, model.lostThrough)
  const gap = (await store.read('p', { startSeq: 1, limit: 1 })).gap
  assert.equal(gap, lostTo >= 1 ? { fromSeq: 1, toSeq: lostTo } : null, `${step}: gap from seq 1`)
}

export function logPropertiesContract(c: Contract): void {
  const s = c.suite('log properties')

  c.clockTest(s, 'holds exactly what the retention rules say after every step of random appends, ticks and purges', async () => {
    await fc.assert(fc.asyncProperty(limitsArb, fc.array(cmdArb, { maxLength: 40 }), async (limits, cmds) => {
      const { store, clock } = await c.openUntracked()
      try {
        await store.create({ name: 'p', subjects: ['p.>'], ...limits })
        const model = new LogModel(limits)
        for (const [i, cmd] of cmds.entries()) {
          const step = `step ${i} ${JSON.stringify(cmd)}`
          if (cmd.kind === 'tick') clock.advance(cmd.ms)
          else if (cmd.kind === 'purge') {
            model.expire(clock.t)
            assert.is(await store.purge('p', cmd.subject === null ? {} : { subject: cmd.subject }), model.purge(cmd.subject), step)
          } else {
            const expectedLastSeq = cmd.expect === 'none' ? undefined : cmd.expect === 'right' ? model.lastSeq : model.lastSeq + 1
            const input = { subject: cmd.subject, payload: bytes(cmd.size), ...(cmd.msgId === null ? {} : { msgId: cmd.msgId }), expectedLastSeq }
            const want = model.append(cmd, clock.t)
            const got = await outcome(async () => {
              const r = await store.append('p', input)
              return { seq: r.seq, duplicate: r.duplicate }
            })
            assert.equal(got, want, step)
          }
          await checkAgainst(store, model, clock.t, step)
        }
      } finally {
        await store.close()
      }
    }), { numRuns: c.numRuns })
  })
}
