/**
 * Harness of the TopicStore contract suite: a manual clock, fresh stores closed after each test, and small
 * helpers that `await` everything (a store may answer with values or Promises).
 */
import { suite, type Test } from 'uvu'
import { SubwireError } from '../../../shared/errors.ts'
import type { ReadQuery, StoredMessage, TopicConfig, TopicStore } from '../../../server/store/topic-store.ts'
import { MESSAGE_OVERHEAD_BYTES } from '../../../server/store/message-intake.ts'
import { utf8Length } from '../../../shared/subject.ts'

/** What a store under test must take from the suite: its clock. */
export interface ContractEnv {
  /** Epoch ms; the store must read time only from here so tests move time instead of sleeping. */
  readonly now: () => number
}

/** Options of the contract suite. */
export interface TopicStoreContractOptions {
  /**
   * False when the store cannot take its clock from `env.now`: tests that move time are then skipped.
   * @default true
   */
  readonly controllableClock?: boolean
  /**
   * Runs per fast-check property.
   * @default 200
   */
  readonly numRuns?: number
}

export type MakeStore = (env: ContractEnv) => TopicStore | Promise<TopicStore>

/** A clock that moves only when told. */
export class ManualClock {
  t = 1_700_000_000_000
  readonly now = (): number => this.t
  advance(ms: number): void {
    this.t += ms
  }
}

export interface Fixture {
  readonly store: TopicStore
  readonly clock: ManualClock
}

/** What each part of the contract gets. */
export interface Contract {
  readonly name: string
  readonly numRuns: number
  /** A suite named `<store>: <title>`. */
  suite(title: string): Test
  /** Registers a test that moves the clock (skipped when the store's clock is not controllable). */
  clockTest(s: Test, name: string, fn: () => Promise<void>): void
  /** A fresh store with its own clock, closed after the current test. */
  open(): Promise<Fixture>
  /** A fresh store for one property run; the caller closes it. */
  openUntracked(): Promise<Fixture>
  /** Runs every suite made so far. */
  run(): void
}

export function makeContract(name: string, makeStore: MakeStore, options: TopicStoreContractOptions): Contract {
  const controllable = options.controllableClock ?? true
  const open: TopicStore[] = []
  const suites: Test[] = []
  const openUntracked = async (): Promise<Fixture> => {
    const clock = new ManualClock()
    return { store: await makeStore({ now: clock.now }), clock }
  }
  return {
    name,
    numRuns: options.numRuns ?? 200,
    suite(title) {
      const s = suite(`${name}: ${title}`)
      s.after.each(async () => {
        for (const store of open.splice(0)) await store.close()
      })
      suites.push(s)
      return s
    },
    clockTest(s, testName, fn) {
      // A store whose clock cannot be driven (a real Redis, say) does not get the clock tests registered at all.
      if (controllable) s(testName, fn)
    },
    async open() {
      const fixture = await openUntracked()
      open.push(fixture.store)
      return fixture
    },
    openUntracked,
    run() {
      for (const s of suites) s.run()
    },
  }
}

/** The SubwireError code `fn` fails with, `'no error'`, or a description of a foreign failure. */
export async function failure(fn: () => unknown): Promise<string> {
  try {
    await fn()
  } catch (err) {
    if (err instanceof SubwireError) return err.code
    return `not a SubwireError: ${String(err)}`
  }
  return 'no error'
}

/** What `fn` resolves to, or the SubwireError code it fails with (foreign failures propagate). */
export async function outcome<T>(fn: () => Promise<T>): Promise<T | string> {
  try {
    return await fn()
  } catch (err) {
    if (err instanceof SubwireError) return err.code
    throw err
  }
}

/**
 * What a message counts against `maxBytes` in every store (server/store/message-intake.ts): its subject,
 * header keys and values (UTF-8), payload, and MESSAGE_OVERHEAD_BYTES.
 */
export function cost(subject: string, payloadBytes: number, headers: Record<string, string> = {}): number {
  let n = MESSAGE_OVERHEAD_BYTES + utf8Length(subject) + payloadBytes
  for (const [k, v] of Object.entries(headers)) n += utf8Length(k) + utf8Length(v)
  return n
}

/** `n` bytes, each `fill` (or a running pattern), so payload mix-ups show. */
export function bytes(n: number, fill?: number): Uint8Array {
  const b = new Uint8Array(n)
  for (let i = 0; i < n; i++) b[i] = fill ?? (i * 31 + 7) & 0xff
  return b
}

/** Creates a topic with the given limits over `<name>.>`. */
export async function topic(store: TopicStore, name: string, limits: Omit<TopicConfig, 'name' | 'subjects'> = {}): Promise<void> {
  await store.create({ name, subjects: [`${name}.>`], ...limits })
}

/** Appends `count` messages of `size` bytes to `subject`; returns their sequences. */
export async function publish(store: TopicStore, name: string, subject: string, count = 1, size = 1): Promise<number[]> {
  const seqs: number[] = []
  for (let i = 0; i < count; i++) seqs.push((await store.append(name, { subject, payload: bytes(size) })).seq)
  return seqs
}

/** Every message a read from `startSeq` returns, page by page (bounded). */
export async function readAll(store: TopicStore, name: string, filter = '>', startSeq = 0, pageSize = 7): Promise<StoredMessage[]> {
  const out: StoredMessage[] = []
  let query: ReadQuery = { startSeq, filter, limit: pageSize }
  for (let page = 0; page < 100_000; page++) {
    const r = await store.read(name, query)
    out.push(...r.messages)
    if (r.nextSeq > r.lastSeq) return out
    query = { startSeq: r.nextSeq, filter, limit: pageSize }
  }
  throw new Error('read did not catch up within 100000 pages')
}

/** Sequences of messages. */
export function seqsOf(messages: readonly StoredMessage[]): number[] {
  return messages.map((m) => m.seq)
}
