/**
 * One acked consumer group over one topic log: the state machine of an at-least-once work queue.
 *
 * A message the group has looked at is either settled (acked, termed, dead-lettered, or not matching the
 * filter) or pending. A pending message is in one of three states:
 *
 *   ready ──assign──► in_flight ──ack / term──► settled
 *     ▲                  │ nak, ack timeout, member left
 *     │                  ▼
 *     └──due── waiting ◄─┤ (a delay: nak's delayMs or backoffMs; none → straight to ready)
 *                        └──► dead-lettered once `maxDeliver` attempts have failed
 *
 * No timers live here: `pull(now)` fires whatever is due by the caller's clock, then hands out redeliveries
 * (lowest sequence first) and new messages (from the cursor), each to the member holding the fewest, while
 * that one is below `maxInFlight` (member-loads.ts: round-robin while everyone keeps up).
 *
 * Costs (p = pending messages, m = members): ack/nak/working/term O(log p); pull O((due + delivered) · log p);
 * join O(1); leave O(held · log p); info O(1), whatever m. The ack floor is O(1) because pending records are
 * created in sequence order and a Map iterates in insertion order, so its first key is the lowest pending
 * sequence.
 */
import { MemberLoads, type LoadedMember } from './member-loads.ts'
import { MinHeap } from './min-heap.ts'
import {
  DEAD_LETTER_REASON, DEFAULT_READ_LIMIT, topicStoreError,
  type DeadLetter, type GroupDelivery, type GroupInfo, type PullResult, type ReadQuery, type ReadResult,
  type ResolvedGroupConfig, type SeqRange, type StoredMessage,
} from '../topic-store.ts'

/** What a group needs from its topic's log. */
export interface GroupSource {
  read(query: ReadQuery, now: number): ReadResult
  get(seq: number): StoredMessage | null
}

const STATE = {
  ready: 'ready',
  inFlight: 'in_flight',
  waiting: 'waiting',
} as const
type PendingState = (typeof STATE)[keyof typeof STATE]

interface Pending {
  readonly seq: number
  state: PendingState
  member: Member | null
  /** The member it was last delivered to: the one whose ack (late ones too) settles it. */
  last: string | null
  /** Attempts so far. */
  deliveries: number
  /** in_flight: the ack deadline; waiting: when it becomes ready. */
  at: number
  /** Bumped whenever `at` changes or the record settles, so stale timer entries are skipped. */
  gen: number
}

interface Timer {
  readonly at: number
  readonly seq: number
  readonly gen: number
}

interface Member extends LoadedMember {
  readonly id: string
  readonly held: Set<number>
  /** False once it left: what it held is failed without touching the load order. */
  joined: boolean
}

/** A group's progress as a store persists it: what a restart needs to go on where it stopped. */
export interface GroupState {
  /** Next sequence the group has not looked at. */
  readonly cursor: number
  /** Delivered and unsettled messages with their delivery counts, by ascending sequence. */
  readonly pending: ReadonlyArray<readonly [seq: number, deliveries: number]>
  readonly acked: number
  readonly terminated: number
  readonly deadLettered: number
}

/** Heaps use lazy deletion; rebuild one once stale entries could outnumber live ones (bounds memory). */
const HEAP_SLACK = 64

/** One consumer group. All methods take the store's `now`. */
export class ConsumerGroup {
  readonly name: string
  #config: ResolvedGroupConfig
  readonly #source: GroupSource
  /** seq → record, in ascending sequence order (records are only created as the cursor advances). */
  readonly #pending = new Map<number, Pending>()
  readonly #timers = new MinHeap<Timer>((a, b) => a.at < b.at || (a.at === b.at && a.seq < b.seq))
  readonly #ready = new MinHeap<number>((a, b) => a < b)
  readonly #members = new Map<string, Member>()
  /** Members by how many messages each holds: the next handout goes to the lightest. */
  readonly #loads = new MemberLoads<Member>()
  /** Messages held by members, in all. */
  #inFlight = 0
  #cursor: number
  #deadLetters: DeadLetter[] = []
  #dropped: number[] = []
  #acked = 0
  #terminated = 0
  #deadLettered = 0

  constructor(name: string, config: ResolvedGroupConfig, source: GroupSource, startSeq: number) {
    this.name = name
    this.#config = config
    this.#source = source
    this.#cursor = startSeq
  }

  get config(): ResolvedGroupConfig {
    return this.#config
  }

  /** Takes new settings; progress and pending messages stay. Lowering maxInFlight only slows new handouts. */
  reconfigure(config: ResolvedGroupConfig): void {
    this.#config = config
  }

  join(id: string): void {
    if (this.#members.has(id)) return
    const member: Member = { id, held: new Set(), joined: true, load: 0, prevPeer: null, nextPeer: null }
    this.#members.set(id, member)
    this.#loads.add(member)
  }

  /** Removes a member; each message it held becomes ready at once (the attempt counts as failed). */
  leave(id: string, now: number): void {
    const member = this.#members.get(id)
    if (member === undefined) return
    this.#members.delete(id)
    this.#loads.remove(member)
    member.joined = false
    for (const seq of [...member.held]) this.#fail(this.#pending.get(seq) as Pending, now, 0)
  }

  /**
   * Settles a pending message. A member's ack counts when the message was last delivered to it (a late ack
   * after a timeout still means the work is done); another member cannot settle work it was never given.
   */
  ack(seq: number, member?: string): boolean {
    const rec = this.#pending.get(seq)
    if (rec === undefined || (member !== undefined && rec.last !== member)) return false
    this.#settle(rec)
    this.#acked++
    return true
  }

  /** Settles a pending message without redelivery or dead-lettering. */
  term(seq: number, member?: string): boolean {
    const rec = this.#pending.get(seq)
    if (rec === undefined || (member !== undefined && rec.last !== member)) return false
    this.#settle(rec)
    this.#terminated++
    return true
  }

  /** The holder gives it back: redelivered after `delayMs`, or after the backoff when left out. */
  nak(seq: number, member: string, now: number, delayMs?: number): boolean {
    if (delayMs !== undefined && !(Number.isSafeInteger(delayMs) && delayMs >= 0)) {
      throw topicStoreError('bad_option', 'nak delayMs must be a non-negative integer')
    }
    const rec = this.#heldBy(seq, member)
    if (rec === null) return false
    this.#fail(rec, now, delayMs)
    return true
  }

  /** The holder is still at it: its deadline becomes now + ackWaitMs. */
  working(seq: number, member: string, now: number): boolean {
    const rec = this.#heldBy(seq, member)
    if (rec === null) return false
    this.#schedule(rec, now + this.#config.ackWaitMs)
    return true
  }

  /** Fires what is due, then hands out redeliveries and new messages within every member's maxInFlight. */
  pull(now: number): PullResult {
    this.#fireTimers(now)
    const deliveries: GroupDelivery[] = []
    this.#deliverReady(now, deliveries)
    const gap = this.#deliverNew(now, deliveries)
    const deadLetters = this.#deadLetters
    const dropped = this.#dropped
    this.#deadLetters = []
    this.#dropped = []
    return { deliveries, deadLetters, gap, dropped }
  }

  /** When a timer next falls due, or null. */
  nextDeadline(): number | null {
    for (let t = this.#timers.peek(); t !== undefined; t = this.#timers.peek()) {
      const rec = this.#pending.get(t.seq)
      if (rec !== undefined && rec.gen === t.gen) return t.at
      this.#timers.pop()
    }
    return null
  }

  /** Its progress, for a store to persist (members are not: they are connections, gone after a restart). */
  state(): GroupState {
    const pending: Array<readonly [number, number]> = []
    for (const rec of this.#pending.values()) pending.push([rec.seq, rec.deliveries])
    return { cursor: this.#cursor, pending, acked: this.#acked, terminated: this.#terminated, deadLettered: this.#deadLettered }
  }

  /**
   * Takes back persisted progress, on a group with no members yet (recovery): every pending message is ready
   * for redelivery at once, its attempts counted.
   */
  restore(state: GroupState): void {
    this.#cursor = state.cursor
    for (const [seq, deliveries] of state.pending) {
      const rec: Pending = { seq, state: STATE.ready, member: null, last: null, deliveries, at: 0, gen: 0 }
      this.#pending.set(seq, rec)
      this.#ready.push(seq)
    }
    this.#acked = state.acked
    this.#terminated = state.terminated
    this.#deadLettered = state.deadLettered
  }

  info(): GroupInfo {
    const inFlight = this.#inFlight
    const first = this.#pending.keys().next()
    return {
      name: this.name,
      config: this.#config,
      members: this.#members.size,
      ackFloor: first.done ? this.#cursor - 1 : first.value - 1,
      nextSeq: this.#cursor,
      inFlight,
      redeliveries: this.#pending.size - inFlight,
      acked: this.#acked,
      terminated: this.#terminated,
      deadLettered: this.#deadLettered,
    }
  }

  // ------------------------------------------------------------------------------------------------------

  #heldBy(seq: number, member: string): Pending | null {
    const rec = this.#pending.get(seq)
    return rec !== undefined && rec.state === STATE.inFlight && rec.member?.id === member ? rec : null
  }

  #release(rec: Pending): void {
    const member = rec.member
    if (member !== null && member.held.delete(rec.seq)) {
      this.#inFlight--
      if (member.joined) this.#loads.down(member)
    }
    rec.member = null
  }

  #settle(rec: Pending): void {
    this.#release(rec)
    rec.gen++
    this.#pending.delete(rec.seq)
  }

  /** An attempt failed: dead-letter it after maxDeliver attempts, else redeliver after `delayMs` or the backoff. */
  #fail(rec: Pending, now: number, delayMs: number | undefined): void {
    this.#release(rec)
    const { maxDeliver } = this.#config
    if (maxDeliver !== null && rec.deliveries >= maxDeliver) {
      this.#deadLetter(rec)
      return
    }
    const delay = delayMs ?? this.#backoff(rec.deliveries)
    if (delay > 0) {
      rec.state = STATE.waiting
      this.#schedule(rec, now + delay)
    } else {
      this.#makeReady(rec)
    }
  }

  #deadLetter(rec: Pending): void {
    // Taken now, not at the next pull: the log may evict it in between.
    const message = this.#source.get(rec.seq)
    this.#settle(rec)
    if (message === null) {
      this.#dropped.push(rec.seq)
      return
    }
    this.#deadLettered++
    // A copy with its body: a store that keeps bodies on disk may compact or delete them before the broker
    // moves the dead letter (dead letters are rare, so the copy costs nothing that matters).
    const { seq, time, subject, headers, encoding, payload, size } = message
    this.#deadLetters.push({ message: { seq, time, subject, headers, encoding, payload, size }, deliveryCount: rec.deliveries, reason: DEAD_LETTER_REASON.maxDeliver })
  }

  /** Delay before the attempt after attempt `n` failed: backoffMs[n-1], the last entry repeating. */
  #backoff(n: number): number {
    const list = this.#config.backoffMs
    return list.length === 0 ? 0 : list[Math.min(n, list.length) - 1]
  }

  #schedule(rec: Pending, at: number): void {
    rec.at = at
    rec.gen++
    this.#timers.push({ at, seq: rec.seq, gen: rec.gen })
    if (this.#timers.size > 2 * this.#pending.size + HEAP_SLACK) {
      this.#timers.retain((t) => this.#pending.get(t.seq)?.gen === t.gen)
    }
  }

  #makeReady(rec: Pending): void {
    rec.state = STATE.ready
    rec.gen++
    this.#ready.push(rec.seq)
    if (this.#ready.size > 2 * this.#pending.size + HEAP_SLACK) {
      this.#ready.retain((seq) => this.#pending.get(seq)?.state === STATE.ready)
    }
  }

  #fireTimers(now: number): void {
    for (let t = this.#timers.peek(); t !== undefined && t.at <= now; t = this.#timers.peek()) {
      this.#timers.pop()
      const rec = this.#pending.get(t.seq)
      if (rec === undefined || rec.gen !== t.gen) continue
      if (rec.state === STATE.inFlight) this.#fail(rec, now, undefined)
      else if (rec.state === STATE.waiting) this.#makeReady(rec)
    }
  }

  /** The member holding the fewest messages, when it is below maxInFlight; else null (everyone is full). O(1). */
  #pickMember(): Member | null {
    const member = this.#loads.lightest()
    return member !== null && member.held.size < this.#config.maxInFlight ? member : null
  }

  #assign(rec: Pending, member: Member, message: StoredMessage, now: number, out: GroupDelivery[]): void {
    rec.state = STATE.inFlight
    rec.member = member
    rec.last = member.id
    rec.deliveries++
    member.held.add(rec.seq)
    this.#inFlight++
    this.#loads.up(member)
    const deadline = now + this.#config.ackWaitMs
    this.#schedule(rec, deadline)
    out.push({ member: member.id, message, deliveryCount: rec.deliveries, deadline })
  }

  #deliverReady(now: number, out: GroupDelivery[]): void {
    for (let seq = this.#ready.peek(); seq !== undefined; seq = this.#ready.peek()) {
      const rec = this.#pending.get(seq)
      if (rec === undefined || rec.state !== STATE.ready) {
        this.#ready.pop()
        continue
      }
      const message = this.#source.get(seq)
      if (message === null) {
        this.#ready.pop()
        this.#settle(rec)
        this.#dropped.push(seq)
        continue
      }
      const member = this.#pickMember()
      if (member === null) return
      this.#ready.pop()
      this.#assign(rec, member, message, now, out)
    }
  }

  /** Reads past the cursor for as many messages as members can take. Returns the range lost before the cursor. */
  #deliverNew(now: number, out: GroupDelivery[]): SeqRange | null {
    let gap: SeqRange | null = null
    const maxInFlight = this.#config.maxInFlight
    // Each round either fills every member or reaches the end of the log, so few rounds run.
    for (let first = this.#pickMember(); first !== null; first = this.#pickMember()) {
      // Never more than the members can take: the lightest's room, or all room if nobody is over the limit
      // (a lowered maxInFlight leaves some over it; then the sum undercounts, and more rounds run).
      const spare = Math.max(maxInFlight - first.held.size, this.#members.size * maxInFlight - this.#inFlight)
      const limit = Math.min(spare, DEFAULT_READ_LIMIT)
      const result = this.#source.read({ startSeq: this.#cursor, filter: this.#config.filter, limit }, now)
      // The first round can start behind the log; later ones start where the last ended, so one gap at most.
      if (result.gap !== null) gap = result.gap
      for (const message of result.messages) {
        const member = this.#pickMember()
        if (member === null) { this.#cursor = message.seq; return gap } // cannot happen: limit ≤ spare
        const rec: Pending = { seq: message.seq, state: STATE.ready, member: null, last: null, deliveries: 0, at: 0, gen: 0 }
        this.#pending.set(message.seq, rec)
        this.#assign(rec, member, message, now, out)
      }
      this.#cursor = result.nextSeq
      if (result.messages.length < limit) break
    }
    return gap
  }
}
