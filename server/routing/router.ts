/**
 * The publish path: validate the subject, match it through the subject index, pick one member per queue
 * group, and hand each subscriber's connection the shared encoded message; then tell the cluster seam
 * (cluster/cluster-adapter.ts). Synchronous from start to end, so per-publisher FIFO order holds by
 * construction. Subscriptions enter and leave the index here too, so the cluster hears of every interest
 * change, and messages from other nodes come back in through `receive` (local delivery only).
 */
import { ENCODING, PUB_FLAG, STATUS_HEADER } from '../../shared/protocol.ts'
import { quoteSubject, subjectProblem } from '../../shared/subject.ts'
import type { ErrorCode } from '../../shared/errors.ts'
import { SubjectIndex, type MatchResult, type QueueGroup, type Run } from './subject-index.ts'
import { Delivery } from '../outbound/delivery.ts'
import { OFFERED, SLOW_POLICY, dropMember, dropOne, dropRest, heldRest, joinRun, type Offered } from '../outbound/slow-consumer.ts'
import type { ClusterAdapter, ClusterMessage, ClusterReceiver, RoutePlan } from '../cluster/cluster-adapter.ts'
import type { ServerSubscription } from './subscription.ts'

/** Why a publish was refused; the connection turns it into an ERR for the publisher. */
export interface Refusal {
  code: ErrorCode
  message: string
}

/** Who published: the router needs only its echo preference. */
export interface Publisher {
  readonly echo: boolean
}

/** Counters of the publish path. */
export interface RouterStats {
  published: number
  delivered: number
  /** Payload bytes published (headers included). */
  bytesIn: number
  /** Bytes of MSG tails queued to subscribers. */
  bytesOut: number
  /** Publishes that matched no subscription (WHAT_USERS_ASK 15: "why didn't my message arrive?"). */
  unmatched: number
}

const EMPTY = new Uint8Array(0)
const INBOX_SUBJECT_PREFIX = '_INBOX.'
const NO_RESPONDERS = Object.freeze({ [STATUS_HEADER]: 'no_responders' }) as Record<string, string>

export class Router implements ClusterReceiver {
  readonly index: SubjectIndex<ServerSubscription>
  readonly stats: RouterStats = { published: 0, delivered: 0, bytesIn: 0, bytesOut: 0, unmatched: 0 }
  readonly #maxSubjectLength: number
  /** Reused for every publish: routing is synchronous, so one is enough and the hot path allocates none. */
  readonly #delivery = new Delivery()
  /**
   * Publishes being routed right now. A delivery can publish again before the outer fan-out ends (a slow
   * consumer's `$SYS` event, a no_responders answer, a message from another node): such a nested publish gets
   * a Delivery of its own, or it would overwrite the one the outer loop is still handing out.
   */
  #depth = 0
  readonly #cluster: ClusterAdapter
  /** Read once: a single node never calls the seam on its publish path. */
  readonly #clustered: boolean

  constructor(options: { maxSubjectLength: number; cacheSize: number; cluster: ClusterAdapter }) {
    this.#maxSubjectLength = options.maxSubjectLength
    this.index = new SubjectIndex({ cacheSize: options.cacheSize })
    this.#cluster = options.cluster
    this.#clustered = options.cluster.clustered
  }

  /** Adds a plain subscription to the index and announces its interest to the cluster. */
  subscribe(sub: ServerSubscription): void {
    this.index.insert(sub)
    joinRun(sub)
    this.#cluster.addInterest(sub.subject, sub.queue)
  }

  /**
   * Removes a plain subscription from the index and withdraws its interest. While a publish is being routed
   * (an auto-unsubscribe, or a nested publish's), it leaves the index once routing ends: the fan-out loops read
   * the index's runs in place, and a removal swaps another subscription into the slot being read.
   */
  unsubscribe(sub: ServerSubscription): void {
    if (this.#depth > 0) { this.#leaving.push(sub); return }
    // Only what was announced is withdrawn, so the adapter's counts stay balanced (cluster contract 4).
    if (!this.index.remove(sub)) return
    if (sub.interestWithdrawn) sub.interestWithdrawn = false
    else this.#cluster.removeInterest(sub.subject, sub.queue)
  }

  /**
   * A connection's session was parked (or taken back): its queue-group members stop counting for this node's
   * share of their groups on other nodes, which pick a node by its connected members; a node whose members are
   * all parked still keeps what reaches it. Plain subscriptions stay announced: the session's log wants them.
   */
  park(subs: Iterable<ServerSubscription>, parked: boolean): void {
    if (!this.#clustered) return
    for (const sub of subs) {
      if (sub.queue === null || !sub.active || sub.interestWithdrawn === parked) continue
      sub.interestWithdrawn = parked
      if (parked) this.#cluster.removeInterest(sub.subject, sub.queue)
      else this.#cluster.addInterest(sub.subject, sub.queue)
    }
  }

  /** Subscriptions removed while a publish was being routed (`unsubscribe`). */
  readonly #leaving: ServerSubscription[] = []

  #removeLeaving(): void {
    for (let i = 0; i < this.#leaving.length; i++) this.unsubscribe(this.#leaving[i])
    this.#leaving.length = 0
  }

  #loan(): Delivery {
    return this.#depth === 0 ? this.#delivery : new Delivery()
  }

  /**
   * A message published on another node: delivered to local subscriptions only (cluster contract 3), and to the
   * queue groups it names (their one member cluster-wide was chosen here). False when a named group has no
   * member here any more.
   */
  receive(m: ClusterMessage): readonly string[] | null {
    let matches = this.index.cached(m.subject)
    if (matches === undefined) {
      // The cache holds only subjects this node validated (#match trusts it), so the router checks the subject
      // itself before caching it, although the adapter checked it too: a hot subject from another node then
      // costs one lookup per message, not a trie walk and a sort (a 50-subscriber fan-out received from
      // another node allocated ~2 KB per message in that walk).
      if (this.#refusal(m.subject, 'subject') !== null) return null
      matches = this.index.match(m.subject, !m.subject.startsWith(INBOX_SUBJECT_PREFIX))
    }
    const d = this.#loan().load(m.subject, m.reply, m.headers, m.encoding, m.payload, m.tail ?? null)
    const queues = m.queues ?? null
    let missed: string[] | null = null
    this.#depth++
    try {
      let delivered = m.groupsOnly === true ? 0 : deliverPlain(this.index, matches, null, d)
      if (queues !== null) {
        for (let q = 0; q < queues.length; q++) {
          const group = findGroup(matches.groups, queues[q])
          if (group !== null && deliverGroup(group, null, d)) delivered++
          else (missed ??= []).push(queues[q])
        }
      }
      this.stats.delivered += delivered
      this.stats.bytesOut += delivered * (d.payloadLength + d.subject.length)
    } finally {
      if (--this.#depth === 0 && this.#leaving.length > 0) this.#removeLeaving()
    }
    return missed
  }

  /** Validates a subject and reply subject without routing (for paths that store before they route). */
  check(subject: string, reply: string | null): Refusal | null {
    return (this.index.cached(subject) === undefined ? this.#refusal(subject, 'subject') : null) ?? this.#replyRefusal(reply)
  }

  #refusal(subject: string, what: 'subject' | 'reply subject'): Refusal | null {
    const problem = subjectProblem(subject, false, this.#maxSubjectLength)
    return problem === null ? null : { code: 'bad_subject', message: `invalid ${what} ${quoteSubject(subject)}: ${problem}` }
  }

  #replyRefusal(reply: string | null): Refusal | null {
    return reply === null ? null : this.#refusal(reply, 'reply subject')
  }

  /**
   * Routes one message. `tail` is the publisher's encoded `subject … payload` bytes when it published in
   * binary (fanned out as they are); null otherwise. Returns a refusal, or null when routed.
   */
  publish(from: Publisher | null, flags: number, subject: string, reply: string | null,
    headers: Record<string, string> | null, encoding: number, payload: Uint8Array, tail: Uint8Array | null): Refusal | null {
    const matches = this.#match(subject, reply)
    if (!isMatch(matches)) return matches
    return this.#route(from, flags, matches, this.#loan().load(subject, reply, headers, encoding, payload, tail), tail)
  }

  /** `publish` for a binary PUB without headers whose payload is the last `payloadLength` bytes of `tail`. */
  publishTail(from: Publisher | null, flags: number, subject: string, reply: string | null, encoding: number,
    tail: Uint8Array, payloadLength: number): Refusal | null {
    const matches = this.#match(subject, reply)
    if (!isMatch(matches)) return matches
    return this.#route(from, flags, matches, this.#loan().loadTail(subject, reply, encoding, tail, payloadLength), tail)
  }

  /** The subscriptions matching a valid subject, or why the subject or reply subject is refused. */
  #match(subject: string, reply: string | null): MatchResult<ServerSubscription> | Refusal {
    // A cached subject was validated when it entered the cache.
    let matches = this.index.cached(subject)
    if (matches === undefined) {
      const refusal = this.#refusal(subject, 'subject')
      if (refusal !== null) return refusal
      // Reply subjects are unique per request: cached, each would push a hot subject out of the cache.
      matches = this.index.match(subject, !subject.startsWith(INBOX_SUBJECT_PREFIX))
    }
    return this.#replyRefusal(reply) ?? matches
  }

  #route(from: Publisher | null, flags: number, matches: MatchResult<ServerSubscription>, d: Delivery, tail: Uint8Array | null): null {
    this.stats.published++
    this.stats.bytesIn += d.payloadLength
    let delivered = 0
    let remote = false
    this.#depth++
    try {
      // Clustered, queue groups are decided before local delivery: a group with members on other nodes may
      // take this message there (one member cluster-wide).
      const plan = this.#clustered ? this.#cluster.route(d.subject) : null
      delivered = deliverPlain(this.index, matches, from, d) +
        (plan === null ? deliverGroups(matches.groups, from, d) : this.#deliverGroupsPlanned(matches.groups, from, d, plan))
      if (plan !== null) {
        remote = true
        this.#cluster.publish(d, plan)
      }
    } finally {
      if (--this.#depth === 0 && this.#leaving.length > 0) this.#removeLeaving()
    }
    this.stats.delivered += delivered
    this.stats.bytesOut += delivered * (tail === null ? d.payloadLength + d.subject.length : tail.length)
    if (delivered === 0 && !remote) {
      this.stats.unmatched++
      const reply = d.reply
      if ((flags & PUB_FLAG.request) !== 0 && reply !== null) {
        this.publish(null, 0, reply, null, NO_RESPONDERS, ENCODING.msgpack, EMPTY, null)
      }
    }
    return null
  }

  #deliverGroupsPlanned(groups: QueueGroup<ServerSubscription>[], from: Publisher | null, d: Delivery, plan: RoutePlan): number {
    let n = 0
    for (let g = 0; g < groups.length; g++) {
      const group = groups[g]
      const members = group.single !== null ? group.single.length : membersOf(group.runs)
      if (!this.#cluster.takeLocal(plan, group.name, members)) continue
      // Kept here but nobody here took it (a publisher with echo off, members at their cap): another node's.
      if (deliverGroup(group, from, d)) n++
      else this.#cluster.takeElsewhere(plan, group.name)
    }
    return n
  }
}

function isMatch(m: MatchResult<ServerSubscription> | Refusal): m is MatchResult<ServerSubscription> {
  return (m as Refusal).code === undefined
}

/**
 * Every plain run gets the message. A run is one owner's subscriptions with one policy on one pattern: when its
 * owner answers for the whole run (at its cap, closing, or holding it for the run), the rest of the run is
 * settled at once, and so are the runs of the same key that follow (a match result keeps them side by side).
 * That makes a connection at its cap cost O(1) per run, not per subscription (issue 17 §3). A small result
 * (up to 256 subscriptions) is walked as one array instead: the common fan-out, where each run is one
 * subscriber's, at the old loop's cost.
 */
function deliverPlain(index: SubjectIndex<ServerSubscription>, matches: MatchResult<ServerSubscription>, from: Publisher | null, d: Delivery): number {
  const runs = matches.plain
  if (runs.length === 0) return 0
  const flat = index.flat(matches)
  if (flat !== null) return deliverFlat(flat, from, d)
  let n = 0
  let fullKey = -1
  for (let r = 0; r < runs.length; r++) {
    const run = runs[r]
    if (fullKey !== -1 && run.key === fullKey) { dropRun(run); continue }
    const subs = run.subs
    for (let i = 0; i < subs.length; i++) {
      const sub = subs[i]
      if (!sub.active || (sub.conn === from && !from.echo)) continue
      const offered = sub.conn.deliver(sub, d)
      if (offered === SENT) n++
      else if (offered !== REFUSED) {
        n += settleRest(run, i, offered)
        // At its cap, the owner drops this message for every drop_new run of it (holding runs decide each).
        if (offered === OFFERED.full && sub.policy === SLOW_POLICY.dropNew) fullKey = run.key
        break
      }
    }
  }
  return n
}

/** A small result, subscription by subscription (each one's drop counted on its own, bounded by FLAT_MAX). */
function deliverFlat(subs: readonly ServerSubscription[], from: Publisher | null, d: Delivery): number {
  let n = 0
  let heldBy: Run<ServerSubscription> | null = null
  for (let i = 0; i < subs.length; i++) {
    const sub = subs[i]
    if (!sub.active || (sub.conn === from && !from.echo)) continue
    if (heldBy !== null && sub.run === heldBy) { n++; continue } // its run holds this message for it
    const offered = sub.conn.deliver(sub, d)
    if (offered === SENT) n++
    else if (offered === OFFERED.heldRun) { heldRest(sub.run as Run<ServerSubscription>, sub.slot); heldBy = sub.run; n++ }
    else if (offered === OFFERED.full) dropOne(sub, sub.conn)
  }
  return n
}

// Module constants rather than OFFERED.x in the loops: measurably cheaper per subscription (router micro-bench).
const SENT = OFFERED.sent
const REFUSED = OFFERED.refused

/** The owner answered for the rest of `run` from `subs[i]` on; returns how many of them take the message. */
function settleRest(run: Run<ServerSubscription>, i: number, offered: Offered): number {
  if (offered === OFFERED.heldRun) { heldRest(run, i); return run.subs.length - i }
  if (offered === OFFERED.full) dropRest(run, i, run.subs[i].conn)
  return 0
}

function dropRun(run: Run<ServerSubscription>): void {
  if (run.subs.length > 0) dropRest(run, 0, run.subs[0].conn)
}

/** Members one publish offers itself to in a group before it gives up on the group: those at their cap refuse. */
const GROUP_TRIES = 64

/**
 * One member per group, round-robin from the group's cursor, passing over members that cannot take it. A parked
 * member (a resumable session without its socket) is passed over without counting as a try, and keeps the message
 * for its client only when no connected member took it: a row of parked members never uses up the tries.
 */
function deliverGroups(groups: QueueGroup<ServerSubscription>[], from: Publisher | null, d: Delivery): number {
  let n = 0
  for (let g = 0; g < groups.length; g++) if (deliverGroup(groups[g], from, d)) n++
  return n
}

function deliverGroup(group: QueueGroup<ServerSubscription>, from: Publisher | null, d: Delivery): boolean {
  const runs = group.runs
  // Most groups sit on one pattern: one run, read as the array it is.
  const single = group.single
  const members = single !== null ? single.length : membersOf(runs)
  let keeper: ServerSubscription | null = null
  let sent = false
  for (let k = 0, t = 0; k < members && t < GROUP_TRIES; k++) {
    const i = group.next % members
    group.next = i + 1
    const sub = single !== null ? single[i] : memberAt(runs, i)
    if (!sub.active || (sub.conn === from && !from.echo)) continue
    if (sub.conn.parked === true) { keeper ??= sub; continue }
    t++
    const offered = sub.conn.deliver(sub, d)
    if (offered === SENT) { sent = true; break }
    if (offered === OFFERED.full) dropMember(sub, sub.conn)
  }
  if (!sent && keeper !== null) sent = keeper.conn.deliver(keeper, d) === SENT
  return sent
}

function findGroup(groups: readonly QueueGroup<ServerSubscription>[], name: string): QueueGroup<ServerSubscription> | null {
  for (let g = 0; g < groups.length; g++) if (groups[g].name === name) return groups[g]
  return null
}

function membersOf(runs: readonly Run<ServerSubscription>[]): number {
  let n = 0
  for (let r = 0; r < runs.length; r++) n += runs[r].subs.length
  return n
}

function memberAt(runs: readonly Run<ServerSubscription>[], i: number): ServerSubscription {
  let r = 0
  while (i >= runs[r].subs.length) i -= runs[r++].subs.length
  return runs[r].subs[i]
}
