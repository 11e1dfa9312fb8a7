/**
 * The slow-consumer policy of one subscription (PROTOCOL §8.5), decided in one place: what happens to a
 * message for a subscription whose connection is at its outbound cap. `disconnect` (the broker's default)
 * leaves the decision to the queue, which closes the connection past its cap; `drop_new` drops the message and
 * reports it; `drop_old` and `keep_latest` hold it (held-messages.ts) until the socket drains.
 *
 * Decided per run (subject-index.ts: one owner's subscriptions with one policy on one pattern, which match the
 * same messages), so a connection at its cap costs O(1) per run and publish, not O(subscriptions): the first
 * subscription of a run answers `full` or `heldRun` and the router settles the rest of the run at once: a
 * drop_new run misses the message once (`Run.drops`, each subscription remembering the count it joined at),
 * a drop_old or keep_latest run holds one copy. (300 publishes to a subject one connection had subscribed
 * 100,000 times with drop_new took 3 s on a per-subscription decision, issue 17 §3.) Queue members are not
 * runs of one owner: a member at its cap is passed over and counted, and the next member is tried.
 *
 * What a connection is owed (drops to report, held messages to send) is listed in its ledger, made on first
 * use, so a drain visits those runs rather than every subscription, in slices that yield to the event loop.
 */
import type { Delivery } from './delivery.ts'
import { HeldMessages, snapshot } from './held-messages.ts'
import type { Outbound } from './outbound-queue.ts'

/** What a subscriber wants done when it cannot keep up (PROTOCOL §8.5). */
export const SLOW_POLICY = { disconnect: 'disconnect', dropNew: 'drop_new', dropOld: 'drop_old', keepLatest: 'keep_latest' } as const
export type SlowPolicy = (typeof SLOW_POLICY)[keyof typeof SLOW_POLICY]

/** Runs are keyed by owner and this class: subscriptions with different policies never share a run. */
export function policyClass(policy: SlowPolicy | null): number {
  return policy === SLOW_POLICY.dropNew ? 1 : policy === SLOW_POLICY.dropOld ? 2 : policy === SLOW_POLICY.keepLatest ? 3 : 0
}

/** A run of subscriptions as the policy sees it (subject-index.ts `Run`). */
export interface SlowRun {
  readonly subs: readonly SlowConsumerState[]
  drops: number
  held: HeldMessages | null
  dirty: boolean
}

/** What the policy keeps per subscription (the broker's subscription object carries these fields). */
export interface SlowConsumerState {
  readonly sid: number
  readonly subject: string
  readonly queue: string | null
  /** Its place in its run (subject-index.ts). */
  readonly slot: number
  /** The MSG bytes before the shared tail. */
  readonly prefix: Uint8Array
  /** null: the broker's policy (disconnect). */
  policy: SlowPolicy | null
  /** The run the subject index keeps it in (null once removed). */
  run: SlowRun | null
  /** Messages it missed on its own (as a queue member, or past where its run's delivery stopped). */
  dropped: number
  /** Its run's `drops` when it joined, and the total it was last told. */
  dropBase: number
  droppedReported: number
  /** The first of its run's held messages that are its own (those held before it joined are not). */
  heldFrom: number
}

/** The connection a subscription belongs to; its ledger is found by identity. */
export type SlowOwner = object

/** What one connection is owed: runs with drops to report or messages held, and the bytes held in all. */
class SlowLedger {
  runs: SlowRun[] = []
  /** Queue members with drops to report (a group's run has members of many connections). */
  readonly members = new Set<SlowConsumerState>()
  heldBytes = 0
  /** Drops are reported at most once a second while the connection stays at its cap (PROTOCOL §8.5). */
  nextReport = 0
  /** A drain's work was left for the next turn of the event loop. */
  continuing = false
}

/** What became of an offered message. */
export const OFFERED = {
  /** Queued. */
  sent: 0,
  /** Held back for this subscription's run: the rest of the run takes it from there. */
  heldRun: 1,
  /** Not for this subscription (permission). */
  refused: 2,
  /** The connection is at its cap: the rest of the run misses it too. Not counted yet: the caller counts it. */
  full: 3,
  /** The queue refused it (the connection is closing as a slow consumer, or closed): skip the rest of the run. */
  closed: 4,
} as const
export type Offered = (typeof OFFERED)[keyof typeof OFFERED]

/**
 * Ledgers by connection: made on a connection's first drop or hold, gone with the connection. A WeakMap
 * rather than a field, so idle connections carry nothing; it is read only at the cap and after a drain.
 */
const ledgers = new WeakMap<SlowOwner, SlowLedger>()

function ledgerOf(owner: SlowOwner): SlowLedger {
  let ledger = ledgers.get(owner)
  if (ledger === undefined) ledgers.set(owner, (ledger = new SlowLedger()))
  return ledger
}

/** Fixed allowance per queued MSG for its framing. */
const MSG_OVERHEAD = 64
/** Slow-consumer EVENTs one report sends before it yields. */
const REPORT_SLICE = 1024

function cost(d: Delivery): number {
  return d.payloadLength + d.subject.length + MSG_OVERHEAD
}

/** Bytes `copies` messages add to the queue, with a fixed allowance for their MSG framing. */
function fits(out: Outbound, maxPendingBytes: number, d: Delivery, copies = 1): boolean {
  return out.pendingBytes + copies * cost(d) <= maxPendingBytes
}

/** Queues `d` for `sub`, or says why not (OFFERED); holds it for the run under drop_old and keep_latest. */
export function offer(out: Outbound, maxPendingBytes: number, sub: SlowConsumerState, d: Delivery, owner: SlowOwner): Offered {
  const policy = sub.policy
  if (policy !== null && policy !== SLOW_POLICY.disconnect) {
    if (policy === SLOW_POLICY.dropNew || sub.queue !== null) {
      if (!fits(out, maxPendingBytes, d)) { reportLater(out, maxPendingBytes, owner); return OFFERED.full }
    } else if (!fits(out, maxPendingBytes, d, sub.run === null ? 1 : sub.run.subs.length - sub.slot)) {
      // A holding run is sent a message whole or holds it whole: its first subscription asks room for all
      // (the router goes through a run in slot order), so none is sent a copy it would get again when
      // the run's held copy goes out.
      return hold(out, maxPendingBytes, sub, d, owner)
    }
    // Behind what its run already holds: order within a subscription is kept.
    const held = sub.run?.held
    if (held != null && held.size > 0 && sub.queue === null) return hold(out, maxPendingBytes, sub, d, owner)
  }
  return out.msg(sub.prefix, sub.sid, d) ? OFFERED.sent : OFFERED.closed
}

/** The copy of the publish being routed, made once however many runs hold it. */
let lastTail: Uint8Array | null = null
let lastCopy: Delivery | null = null

function hold(out: Outbound, maxPendingBytes: number, sub: SlowConsumerState, d: Delivery, owner: SlowOwner): Offered {
  const run = sub.run
  const n = cost(d)
  // A run that could never be sent one copy each within half the cap is not held for: it would wait for ever.
  if (run === null || run.subs.length * n > maxPendingBytes >> 1) { reportLater(out, maxPendingBytes, owner); return OFFERED.full }
  const ledger = ledgerOf(owner)
  // A held backlog gets an eighth of the cap per run and the cap per connection: bounded, however many runs.
  const held = (run.held ??= new HeldMessages(sub.policy as 'drop_old' | 'keep_latest', Math.max(64 * 1024, maxPendingBytes >> 3)))
  const room = Math.max(0, maxPendingBytes - ledger.heldBytes)
  if (held.size === 0 && n > room) { reportLater(out, maxPendingBytes, owner); return OFFERED.full }
  const tail = d.binaryTail()
  if (tail !== lastTail) { lastTail = tail; lastCopy = snapshot(d) }
  const before = held.bytes
  run.drops += held.hold(lastCopy as Delivery, n, room)
  ledger.heldBytes += held.bytes - before
  markDirty(run, ledger)
  return OFFERED.heldRun
}

/** The rest of `run`, from `subs[from]`, misses the message (the caller got `full` for `subs[from]`). */
export function dropRest(run: SlowRun, from: number, owner: SlowOwner): void {
  if (from === 0) run.drops++
  else for (let i = from; i < run.subs.length; i++) run.subs[i].dropped++
  if (!run.dirty) markDirty(run, ledgerOf(owner))
}

/**
 * `run` held the message at `subs[from]`, after the subscriptions before it were sent it: those must not get
 * the held copy too (nor was it theirs to count).
 */
export function heldRest(run: SlowRun, from: number): void {
  const next = run.held?.nextSeq ?? 0
  for (let i = 0; i < from; i++) run.subs[i].heldFrom = next
}

/** `sub` missed the message on its own (its run goes on subscription by subscription). */
export function dropOne(sub: SlowConsumerState, owner: SlowOwner): void {
  sub.dropped++
  if (sub.run !== null && !sub.run.dirty) markDirty(sub.run, ledgerOf(owner))
}

/** A queue member at its cap was passed over. */
export function dropMember(sub: SlowConsumerState, owner: SlowOwner): void {
  sub.dropped++
  ledgerOf(owner).members.add(sub)
}

/** A subscription entered `run`: earlier drops and held messages are not its own. */
export function joinRun(sub: SlowConsumerState): void {
  const run = sub.run
  if (run === null) return
  sub.dropBase = run.drops
  sub.heldFrom = run.held?.nextSeq ?? 0
}

function markDirty(run: SlowRun, ledger: SlowLedger): void {
  if (run.dirty) return
  run.dirty = true
  ledger.runs.push(run)
}

/** Once the socket has drained: sends held messages while they fit, oldest first, and reports drops. */
export function afterDrain(out: Outbound, maxPendingBytes: number, owner: SlowOwner): void {
  const ledger = ledgers.get(owner)
  if (ledger === undefined || ledger.continuing) return
  settle(out, maxPendingBytes, ledger, true)
}

function continueDrain(out: Outbound, maxPendingBytes: number, ledger: SlowLedger): void {
  ledger.continuing = false
  settle(out, maxPendingBytes, ledger, true)
}

/** At the cap: reports what is owed at most once a second, when the report itself fits. */
function reportLater(out: Outbound, maxPendingBytes: number, owner: SlowOwner): void {
  const ledger = ledgers.get(owner)
  if (ledger === undefined || ledger.continuing || (ledger.runs.length === 0 && ledger.members.size === 0)) return
  const now = Date.now()
  if (now < ledger.nextReport) return
  ledger.nextReport = now + 1000
  settle(out, maxPendingBytes, ledger, false)
}

/**
 * Releases held messages (after a drain) and reports drops, one slow_consumer EVENT per subscription, while
 * they fit; at most REPORT_SLICE EVENTs before yielding to the event loop (a drain's rest follows on the
 * next turn). Runs with nothing left owed leave the ledger.
 */
function settle(out: Outbound, maxPendingBytes: number, ledger: SlowLedger, drained: boolean): void {
  const budget = { events: REPORT_SLICE }
  const runs = ledger.runs
  let kept = 0
  for (let r = 0; r < runs.length; r++) {
    const run = runs[r]
    let owed = budget.events <= 0
    if (!owed && drained) owed = !release(out, maxPendingBytes, run, ledger)
    if (!owed) owed = !report(out, maxPendingBytes, run.subs, run.drops, budget) || (run.held !== null && run.held.size > 0)
    if (owed) runs[kept++] = run
    else run.dirty = false
  }
  runs.length = kept
  for (const sub of ledger.members) {
    if (budget.events <= 0 || !reportOne(out, maxPendingBytes, sub, 0, budget)) break
    ledger.members.delete(sub)
  }
  if (drained && budget.events <= 0 && !ledger.continuing && !out.congested) {
    ledger.continuing = true
    setImmediate(continueDrain, out, maxPendingBytes, ledger)
  }
}

/** Sends a run its held messages while one copy per subscription fits; true when nothing is left held. */
function release(out: Outbound, maxPendingBytes: number, run: SlowRun, ledger: SlowLedger): boolean {
  const held = run.held
  if (held === null || held.size === 0) return true
  const before = held.bytes
  const subs = run.subs
  const all = held.release((d, seq) => {
    if (!fits(out, maxPendingBytes, d, subs.length)) return false
    for (let i = 0; i < subs.length; i++) if (subs[i].heldFrom <= seq) out.msg(subs[i].prefix, subs[i].sid, d)
    return true
  })
  ledger.heldBytes -= before - held.bytes
  return all
}

/** Reports each subscription's unreported drops; false when it stopped (the budget, or no room). */
function report(out: Outbound, maxPendingBytes: number, subs: readonly SlowConsumerState[], runDrops: number, budget: { events: number }): boolean {
  for (let i = 0; i < subs.length; i++) if (!reportOne(out, maxPendingBytes, subs[i], runDrops, budget)) return false
  return true
}

function reportOne(out: Outbound, maxPendingBytes: number, sub: SlowConsumerState, runDrops: number, budget: { events: number }): boolean {
  const total = sub.dropped + (sub.queue === null ? runDrops - sub.dropBase : 0)
  const unreported = total - sub.droppedReported
  if (unreported <= 0) return true
  if (budget.events <= 0 || out.pendingBytes + 512 > maxPendingBytes) return false
  budget.events--
  sub.droppedReported = total
  out.event(sub.sid, 'slow_consumer', { dropped: unreported, total, subject: sub.subject })
  return true
}
