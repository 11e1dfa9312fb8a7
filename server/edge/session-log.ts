/**
 * The delivery log of one resumable session (PROTOCOL §4.10): every MSG the session's subscriptions were
 * sent or, while it is parked, would have been sent, numbered 1, 2, 3, … in the order written. Both sides count
 * MSGs without a topic sequence, so the numbers never travel with a MSG. The log keeps the numbers
 * `first..count`: what the client acknowledged is trimmed, and past its byte budget the oldest go. What goes
 * unacknowledged is charged to its subscription in the loss ledger, for the `gap` report a resume answers.
 */
import { Delivery, payloadOfTail } from '../outbound/delivery.ts'

/**
 * Allowance per logged message beyond its tail's bytes: the entry object and its slot. Measured with the tails in
 * chunks: 125 B of heap per entry of a 20-byte tail (test/resume/measure-log-memory.ts), against 338 B when each
 * tail was a Uint8Array of its own (typed array and ArrayBuffer objects per message).
 */
const ENTRY_OVERHEAD = 104
/**
 * Tails are copied into chunks of this size, a session's own (a tail is a view of its publisher's frame: kept as
 * it is, it would hold the whole frame). A session with messages logged holds at most two chunks' slack beyond
 * what it counts; an empty log lets its chunk go. Tails over a quarter of it get a buffer of their own.
 */
const CHUNK = 4096

/** One logged MSG: the publish's fields and where its tail's copy is. The Delivery is made only for a replay. */
class Entry {
  /** Renumbered only by `keep` (a resume that may not be replayed some of the held messages). */
  index: number
  readonly sid: number
  readonly prefix: Uint8Array
  readonly chunk: Uint8Array
  readonly offset: number
  readonly length: number
  readonly subject: string
  readonly reply: string | null
  readonly headers: Record<string, string> | null
  readonly encoding: number
  readonly payloadLength: number

  constructor(index: number, sid: number, prefix: Uint8Array, chunk: Uint8Array, offset: number, length: number, d: Delivery) {
    this.index = index
    this.sid = sid
    this.prefix = prefix
    this.chunk = chunk
    this.offset = offset
    this.length = length
    this.subject = d.subject
    this.reply = d.reply
    this.headers = d.headers
    this.encoding = d.encoding
    this.payloadLength = d.payloadLength
  }

  get bytes(): number {
    return this.length + ENTRY_OVERHEAD
  }

  delivery(): Delivery {
    const tail = this.chunk.subarray(this.offset, this.offset + this.length)
    return new Delivery().load(this.subject, this.reply, this.headers, this.encoding, payloadOfTail(tail, this.payloadLength), tail)
  }
}

/** Evicted messages whose receipt is not known yet, as runs of one sid: `[sid, from, count]`. */
type LossRun = [number, number, number]

/**
 * Most uncertain runs kept; past it the oldest is counted lost outright (an upper bound, README notes). Runs are
 * made only when unacknowledged messages are evicted (a client far behind on its acks): a legitimate client
 * rarely has one, and a hostile one cannot make a session hold more than this.
 */
const MAX_RUNS = 64
/** Sids an ended session remembers losses for (tombstones are many; their answer then says `lostPartial`). */
const TOMBSTONE_SIDS = 64

/**
 * Messages lost to a session, by sid. Evictions of messages the client may or may not have received (sent
 * before the cut, not acknowledged) stay as index runs until the client says how many it got; evictions
 * while parked are certain.
 */
export class LossLedger {
  readonly certain = new Map<number, number>()
  readonly #runs: LossRun[] = []
  /**
   * Drops a slow_consumer EVENT told the client, not yet known to have arrived, by sid: the count and the
   * number of the last MSG written before the EVENT (a client count past it shows the EVENT was read).
   */
  readonly #told = new Map<number, [number, number]>()
  /** Runs past MAX_RUNS, oldest first, as one: per sid how many, all numbered up to `to`. */
  #coarse: { to: number; readonly counts: Map<number, number> } | null = null
  /** True once sids were forgotten (`seal`): the counts cover only some subscriptions. */
  partial = false

  told(sid: number, n: number, after: number): void {
    const t = this.#told.get(sid)
    if (t === undefined) this.#told.set(sid, [n, after])
    else { t[0] += n; t[1] = after }
  }

  add(sid: number, n: number): void {
    this.certain.set(sid, (this.certain.get(sid) ?? 0) + n)
  }

  /** Forgets everything (told to the client). */
  clear(): void {
    this.certain.clear()
    this.#runs.length = 0
    this.#told.clear()
    this.#coarse = null
  }

  /** Keeps the counts of at most TOMBSTONE_SIDS sids (an ended session's ledger outlives its memory budget). */
  seal(): void {
    // No count comes any more to show an EVENT arrived: told drops are counted (an upper bound, as runs are).
    for (const [sid, [n]] of this.#told) this.add(sid, n)
    this.#told.clear()
    if (this.#coarse !== null) for (const [sid, n] of this.#coarse.counts) this.add(sid, n)
    this.#coarse = null
    if (this.certain.size <= TOMBSTONE_SIDS) return
    this.partial = true
    let n = 0
    for (const sid of this.certain.keys()) if (++n > TOMBSTONE_SIDS) this.certain.delete(sid)
  }

  /** Message `index` of `sid` was evicted before the client acknowledged it. */
  uncertain(sid: number, index: number): void {
    const runs = this.#runs
    const last = runs[runs.length - 1]
    if (last !== undefined && last[0] === sid && last[1] + last[2] === index) { last[2]++; return }
    if (runs.length >= MAX_RUNS) {
      // Folded into one coarse run, still let go once the client's count passes its end: the receipt of a
      // message in it is not known, so a count inside it counts the whole run (an upper bound).
      const [oldSid, from, n] = runs.shift() as LossRun
      const c = (this.#coarse ??= { to: 0, counts: new Map() })
      c.to = from + n - 1
      c.counts.set(oldSid, (c.counts.get(oldSid) ?? 0) + n)
    }
    runs.push([sid, index, 1])
  }

  /** The client acknowledged every message up to `index`: runs below it were received after all. */
  acked(index: number): void {
    const runs = this.#runs
    let drop = 0
    while (drop < runs.length && runs[drop][1] + runs[drop][2] - 1 <= index) drop++
    if (drop > 0) runs.splice(0, drop)
    if (this.#coarse !== null && this.#coarse.to <= index) this.#coarse = null
    if (this.#told.size > 0) for (const [sid, t] of this.#told) if (t[1] < index) this.#told.delete(sid)
  }

  /** Lost per sid for a client that received messages 1..`received`. */
  lostAbove(received: number): Map<number, number> {
    const out = new Map(this.certain)
    for (const [sid, from, n] of this.#runs) {
      const above = Math.min(n, from + n - 1 - received)
      if (above > 0) out.set(sid, (out.get(sid) ?? 0) + above)
    }
    if (this.#coarse !== null && this.#coarse.to > received) for (const [sid, n] of this.#coarse.counts) out.set(sid, (out.get(sid) ?? 0) + n)
    for (const [sid, [n, after]] of this.#told) if (after >= received) out.set(sid, (out.get(sid) ?? 0) + n)
    return out
  }
}

/** What a log asks of the broker-wide budget (session-registry.ts). */
export interface LogBudget {
  /** Bytes all logs hold together, and the most they may. */
  total: number
  readonly maxTotal: number
  /**
   * All logs are full and `log` needs room: lets one message go somewhere (the registry decides whose: the
   * biggest owner's). False when nothing could go. Without it, a log makes room in itself only.
   */
  readonly makeRoom?: (log: SessionLog) => boolean
}

/** Bytes one owner's logs hold together (session-registry.ts `Owner`). */
export interface LogShare {
  bytes: number
}

export class SessionLog {
  /** The number of the last message written (0: none yet). */
  count = 0
  /** Highest number the client acknowledged. */
  acked = 0
  bytes = 0
  readonly loss = new LossLedger()
  /** Numbers above it were logged while parked: their eviction is a certain loss. */
  parkedAt = Number.MAX_SAFE_INTEGER
  /** Whose share of the broker-wide budget this log's bytes count against. */
  share: LogShare | null = null
  readonly #entries: Entry[] = []
  #head = 0
  /** The chunk tails are copied into, and how much of it is used. */
  #chunk: Uint8Array | null = null
  #used = 0
  readonly #maxBytes: number
  readonly #budget: LogBudget

  constructor(maxBytes: number, budget: LogBudget) {
    this.#maxBytes = maxBytes
    this.#budget = budget
  }

  /** Number of the oldest message still held (count + 1 when none is). */
  get first(): number {
    return this.#head < this.#entries.length ? this.#entries[this.#head].index : this.count + 1
  }

  /** Logs one message for `sid` (already sent, or held while parked). */
  append(sid: number, prefix: Uint8Array, d: Delivery): void {
    const index = ++this.count
    const tail = d.binaryTail()
    const bytes = tail.length + ENTRY_OVERHEAD
    const budget = this.#budget
    // What is held stays one unbroken run of numbers (the client's count of a replay depends on it), so a
    // message that cannot be held even in an empty log lets everything older go first. Past the broker-wide
    // budget the registry says whose oldest goes (the biggest owner's: one user never takes another's replay
    // below an equal share); without a registry, this log's own.
    while (this.#head < this.#entries.length && this.bytes + bytes > this.#maxBytes) this.#evict()
    while (budget.total + bytes > budget.maxTotal) {
      if (budget.makeRoom !== undefined ? !budget.makeRoom(this) : !this.evictOldest()) break
    }
    if (this.bytes + bytes > this.#maxBytes || budget.total + bytes > budget.maxTotal) { this.#lose(sid, index); return }
    let chunk: Uint8Array
    let offset = 0
    if (tail.length > CHUNK >> 2) {
      chunk = new Uint8Array(tail) // a copy (`slice()` of a Node Buffer would be a view of the frame again)
    } else {
      if (this.#chunk === null || this.#used + tail.length > CHUNK) { this.#chunk = new Uint8Array(CHUNK); this.#used = 0 }
      chunk = this.#chunk
      offset = this.#used
      chunk.set(tail, offset)
      this.#used += tail.length
    }
    this.#entries.push(new Entry(index, sid, prefix, chunk, offset, tail.length, d))
    this.#charge(bytes)
  }

  #charge(bytes: number): void {
    this.bytes += bytes
    this.#budget.total += bytes
    if (this.share !== null) this.share.bytes += bytes
  }

  /** Lets the oldest held message go (counted lost unless acknowledged); false when none is held. */
  evictOldest(): boolean {
    if (this.#head === this.#entries.length) return false
    this.#evict()
    return true
  }

  #evict(): void {
    const e = this.#entries[this.#head]
    this.#entries[this.#head++] = undefined as unknown as Entry
    this.#charge(-e.bytes)
    if (e.index > this.acked) this.#lose(e.sid, e.index)
    this.#compact()
  }

  #lose(sid: number, index: number): void {
    if (index > this.parkedAt) this.loss.add(sid, 1)
    else this.loss.uncertain(sid, index)
  }

  #compact(): void {
    if (this.#head === this.#entries.length) {
      this.#entries.length = 0
      this.#head = 0
      this.#chunk = null
      return
    }
    if (this.#head > 1024 && this.#head * 2 > this.#entries.length) {
      this.#entries.splice(0, this.#head)
      this.#head = 0
    }
  }

  /** The client has every message up to `index`: those are let go. Beyond what was written, ignored. */
  ack(index: number): void {
    if (!(index > this.acked && index <= this.count)) return
    this.acked = index
    while (this.#head < this.#entries.length && this.first <= index) {
      const e = this.#entries[this.#head]
      this.#entries[this.#head++] = undefined as unknown as Entry
      this.#charge(-e.bytes)
    }
    this.#compact()
    this.loss.acked(index)
  }

  /** Calls `write` for each held message after `index`, in order, until it returns false. */
  replay(index: number, write: (sid: number, prefix: Uint8Array, d: Delivery) => boolean): void {
    const entries = this.#entries
    for (let i = this.#head; i < entries.length; i++) {
      const e = entries[i]
      if (e.index > index && !write(e.sid, e.prefix, e.delivery())) return
    }
  }

  /**
   * Calls `write` for held messages from number `index` on, in order, while it returns true. Returns the number
   * of the next one not written (`count + 1` when all were); `index` below `first` was let go: returns it as is.
   */
  replayFrom(index: number, write: (sid: number, prefix: Uint8Array, d: Delivery, tailLength: number, index: number) => boolean): number {
    const first = this.first
    if (index < first) return index
    const entries = this.#entries
    for (let i = this.#head + (index - first); i < entries.length; i++) {
      const e = entries[i]
      if (!write(e.sid, e.prefix, e.delivery(), e.length, e.index)) return e.index
    }
    return this.count + 1
  }

  /**
   * Keeps only the held messages `keep` accepts, renumbered to end at `count` as before (the client numbers
   * the replay as it arrives, so a gap in it would shift every later number); calls `drop` for each one let go.
   * Meant for a resume, once its count is acknowledged: what remains is all unacknowledged and is replayed.
   */
  keep(keep: (sid: number, subject: string, reply: string | null, headers: Record<string, string> | null) => boolean, drop: (sid: number) => void): void {
    const entries = this.#entries
    let kept = this.#head
    for (let i = this.#head; i < entries.length; i++) {
      const e = entries[i]
      if (keep(e.sid, e.subject, e.reply, e.headers)) { entries[kept++] = e; continue }
      this.#charge(-e.bytes)
      drop(e.sid)
    }
    entries.length = kept
    let index = this.count - (kept - this.#head)
    this.acked = Math.max(this.acked, index)
    for (let i = this.#head; i < kept; i++) entries[i].index = ++index
    this.#compact()
  }

  /**
   * The session ended unresumed: what is held and unacknowledged is lost too. Returns the ledger, which a
   * later attempt to resume asks how much was lost above what it received.
   */
  end(): LossLedger {
    for (let i = this.#head; i < this.#entries.length; i++) {
      const e = this.#entries[i]
      if (e.index > this.acked) this.#lose(e.sid, e.index)
    }
    this.clear()
    this.loss.seal()
    return this.loss
  }

  /** Lets every message go (the session ended). */
  clear(): void {
    this.#charge(-this.bytes)
    this.#entries.length = 0
    this.#head = 0
    this.#chunk = null
  }
}
