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
import { SubjectIndex, type MatchResult, type QueueGroup } from './subject-index.ts'
import { Delivery } from '../outbound/delivery.ts'
import type { ClusterAdapter, ClusterMessage, ClusterReceiver } from '../cluster/cluster-adapter.ts'
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
  /** A second one for messages from other nodes, which may arrive while a local publish is being routed. */
  readonly #remote = new Delivery()
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
    this.#cluster.addInterest(sub.subject, sub.queue)
  }

  /** Removes a plain subscription from the index and withdraws its interest. */
  unsubscribe(sub: ServerSubscription): void {
    this.index.remove(sub)
    this.#cluster.removeInterest(sub.subject, sub.queue)
  }

  /** A message published on another node: delivered to local subscriptions only (cluster contract 3). */
  receive(m: ClusterMessage): void {
    const matches = this.index.match(m.subject, !m.subject.startsWith(INBOX_SUBJECT_PREFIX))
    const d = this.#remote.load(m.subject, m.reply, m.headers, m.encoding, m.payload, null)
    const delivered = deliverPlain(matches, null, d) + deliverGroups(matches.groups, null, d)
    this.stats.delivered += delivered
    this.stats.bytesOut += delivered * (d.payloadLength + d.subject.length)
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
    return this.#route(from, flags, matches, this.#delivery.load(subject, reply, headers, encoding, payload, tail), tail)
  }

  /** `publish` for a binary PUB without headers whose payload is the last `payloadLength` bytes of `tail`. */
  publishTail(from: Publisher | null, flags: number, subject: string, reply: string | null, encoding: number,
    tail: Uint8Array, payloadLength: number): Refusal | null {
    const matches = this.#match(subject, reply)
    if (!isMatch(matches)) return matches
    return this.#route(from, flags, matches, this.#delivery.loadTail(subject, reply, encoding, tail, payloadLength), tail)
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
    const delivered = deliverPlain(matches, from, d) + deliverGroups(matches.groups, from, d)
    this.stats.delivered += delivered
    this.stats.bytesOut += delivered * (tail === null ? d.payloadLength + d.subject.length : tail.length)
    const remote = this.#clustered && this.#cluster.hasRemoteInterest(d.subject)
    if (remote) this.#cluster.publish(d)
    if (delivered === 0 && !remote) {
      this.stats.unmatched++
      const reply = d.reply
      if ((flags & PUB_FLAG.request) !== 0 && reply !== null) {
        this.publish(null, 0, reply, null, NO_RESPONDERS, ENCODING.msgpack, EMPTY, null)
      }
    }
    return null
  }
}

function isMatch(m: MatchResult<ServerSubscription> | Refusal): m is MatchResult<ServerSubscription> {
  return (m as Refusal).code === undefined
}

function deliverPlain(matches: MatchResult<ServerSubscription>, from: Publisher | null, d: Delivery): number {
  const plain = matches.plain
  let n = 0
  for (let i = 0; i < plain.length; i++) {
    const sub = plain[i]
    if (!sub.active || (sub.conn === from && !from.echo)) continue
    if (sub.conn.deliver(sub, d)) n++
  }
  return n
}

/** One member per group, round-robin from the group's cursor, skipping members that cannot take it. */
function deliverGroups(groups: QueueGroup<ServerSubscription>[], from: Publisher | null, d: Delivery): number {
  let n = 0
  for (let g = 0; g < groups.length; g++) {
    const group = groups[g]
    const members = group.members
    for (let tries = 0; tries < members.length; tries++) {
      const i = group.next % members.length
      group.next = i + 1
      const sub = members[i]
      if (!sub.active || (sub.conn === from && !from.echo)) continue
      if (sub.conn.deliver(sub, d)) { n++; break }
    }
  }
  return n
}
