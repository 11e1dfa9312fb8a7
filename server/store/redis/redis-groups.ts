/**
 * The consumer-group half of the Redis topic store: argument checks (the same functions and codes as the
 * engine), one script per operation (lua/group-scripts.ts), and the decoding of what they answer.
 */
import { SubwireError } from '../../../shared/errors.ts'
import { reopened, resolveGroupConfig } from '../topic-config.ts'
import {
  DEAD_LETTER_REASON, TOPIC_ERROR, topicStoreError,
  type DeadLetter, type GroupConfig, type GroupDelivery, type GroupInfo, type PullResult, type ResolvedGroupConfig,
} from '../topic-store.ts'
import { asArray, asNumber, asString, decodeEntry, decodeGroupInfo, messageOf } from './codec.ts'
import { groupKey } from './keys.ts'
import type { RedisArg, RedisLink, Reply } from './redis-link.ts'
import { SCRIPT } from './scripts.ts'
import { SettleBatcher } from './settle-batch.ts'

/** Tries of a reopen that another node's change of the same group keeps invalidating. */
const REOPEN_ATTEMPTS = 8

/** What the group operations need from their store. */
export interface GroupContext {
  readonly prefix: string
  now(): number
  link(): Promise<RedisLink>
  run(script: string, topic: string, args: readonly RedisArg[]): Promise<Reply>
  /** As `run`, without first sending the batches waiting for the topic (what the batchers send with). */
  runBatch(script: string, topic: string, args: readonly RedisArg[]): Promise<Reply>
  /** Throws `no_topic` unless the topic exists (asked before an argument error, as the engine orders them). */
  mustExist(topic: string): Promise<void>
}

/** True for a sequence a pending record can have (the scripts format integers: 1.5 would name record 1). */
function isSeq(seq: number): boolean {
  return Number.isSafeInteger(seq) && seq > 0
}

/** What a Redis pull answers: the interface's result, and when the next pull has something to do by the clock. */
export interface RedisPullResult extends PullResult {
  /** As `nextDeadline()` right after this pull (saves the broker that round trip). */
  readonly nextDeadline: number | null
}

function decodePull(r: Reply): RedisPullResult {
  const [gapFrom, gapTo, out, dead, dropped, next] = asArray(r, 'pull')
  const deliveries: GroupDelivery[] = []
  const handed = asArray(out, 'deliveries')
  for (let i = 0; i + 3 < handed.length; i += 4) {
    deliveries.push({
      member: asString(handed[i], 'member'),
      deadline: asNumber(handed[i + 1], 'deadline'),
      deliveryCount: asNumber(handed[i + 2], 'delivery count'),
      message: decodeEntry(handed[i + 3]),
    })
  }
  const deadLetters: DeadLetter[] = asArray(dead, 'dead letters').map((entry) => {
    // Fields: q <seq> n <attempts>, then the message's own fields.
    const fields = asArray(asArray(entry, 'dead letter')[1], 'dead letter fields')
    return {
      message: messageOf(fields, 4, asNumber(fields[1], 'dead letter seq')),
      deliveryCount: asNumber(fields[3], 'dead letter attempts'),
      reason: DEAD_LETTER_REASON.maxDeliver,
    }
  })
  const from = asNumber(gapFrom, 'gap')
  return {
    deliveries,
    deadLetters,
    gap: from > 0 ? { fromSeq: from, toSeq: asNumber(gapTo, 'gap') } : null,
    dropped: asArray(dropped, 'dropped').map((seq) => asNumber(seq, 'dropped seq')),
    nextDeadline: next === -1 ? null : asNumber(next, 'next deadline'),
  }
}

export class RedisGroups {
  readonly #c: GroupContext

  readonly #settles: SettleBatcher

  constructor(context: GroupContext) {
    this.#c = context
    this.#settles = new SettleBatcher((topic, group, args, count) => context.runBatch(SCRIPT.settle, topic, [group, count, ...args]))
  }

  /**
   * Reads the group's settings, resolves the new ones against them, and writes them only if nobody changed
   * them meanwhile (the script compares), so two nodes reopening at once both end with a valid config.
   */
  async openGroup(topic: string, group: string, config?: GroupConfig): Promise<GroupInfo> {
    const key = groupKey(this.#c.prefix, topic, group)
    for (let attempt = 0; attempt < REOPEN_ATTEMPTS; attempt++) {
      const link = await this.#c.link()
      const current = await link.command((client) => client.hget(key, 'cfg'))
      const existing = current === null ? undefined : (JSON.parse(current) as ResolvedGroupConfig)
      let resolved: ResolvedGroupConfig
      try {
        resolved = resolveGroupConfig(group, existing === undefined ? config : reopened(existing, config))
      } catch (err) {
        await this.#c.mustExist(topic)
        throw err
      }
      if (existing !== undefined && existing.filter !== resolved.filter) {
        throw topicStoreError(TOPIC_ERROR.badGroupConfig, `group ${group} consumes ${existing.filter}, not ${resolved.filter}`)
      }
      const startSeq = existing === undefined && config?.startSeq !== undefined ? config.startSeq : ''
      const r = asArray(await this.#c.run(SCRIPT.openGroup, topic, [this.#c.now(), group, JSON.stringify(resolved), current ?? '', startSeq]), 'open group')
      if (asString(r[0], 'open group') === 'ok') return decodeGroupInfo(r[1])
    }
    throw new SubwireError('unavailable', `group ${group} on topic ${topic} kept changing while it was reopened`)
  }

  async deleteGroup(topic: string, group: string): Promise<void> {
    await this.#c.run(SCRIPT.deleteGroup, topic, [group])
  }

  async groupInfo(topic: string, group: string): Promise<GroupInfo> {
    return decodeGroupInfo(await this.#c.run(SCRIPT.groupInfo, topic, [group]))
  }

  async join(topic: string, group: string, member: string): Promise<void> {
    await this.#c.run(SCRIPT.join, topic, [group, member])
  }

  async leave(topic: string, group: string, member: string): Promise<void> {
    await this.#c.run(SCRIPT.leave, topic, [this.#c.now(), group, member])
  }

  /** As the interface's pull; with `memberPrefix`, only members whose name starts with it get deliveries. */
  async pull(topic: string, group: string, memberPrefix = ''): Promise<RedisPullResult> {
    return decodePull(await this.#c.run(SCRIPT.pull, topic, [this.#c.now(), group, memberPrefix]))
  }

  ack(topic: string, group: string, seq: number, member?: string): Promise<boolean> {
    return this.#settle(topic, group, seq, member, 'a')
  }

  term(topic: string, group: string, seq: number, member?: string): Promise<boolean> {
    return this.#settle(topic, group, seq, member, 't')
  }

  async nak(topic: string, group: string, seq: number, member: string, delayMs?: number): Promise<boolean> {
    if (delayMs !== undefined && !(Number.isSafeInteger(delayMs) && delayMs >= 0)) {
      throw topicStoreError('bad_option', 'nak delayMs must be a non-negative integer')
    }
    if (!isSeq(seq)) return this.#noRecord(topic, group)
    return (await this.#c.run(SCRIPT.nak, topic, [this.#c.now(), group, seq, member, delayMs ?? ''])) === 1
  }

  async working(topic: string, group: string, seq: number, member: string): Promise<boolean> {
    if (!isSeq(seq)) return this.#noRecord(topic, group)
    return (await this.#c.run(SCRIPT.working, topic, [this.#c.now(), group, seq, member])) === 1
  }

  async nextDeadline(topic: string, group: string): Promise<number | null> {
    const r = await this.#c.run(SCRIPT.nextDeadline, topic, [group])
    return r === null ? null : asNumber(r, 'next deadline')
  }

  /** Every member of every group of `topic` whose name starts with `prefix` leaves; answers how many did. */
  async leaveMembers(topic: string, prefix: string): Promise<number> {
    return asNumber(await this.#c.run(SCRIPT.leaveMembers, topic, [this.#c.now(), prefix]), 'members left')
  }

  async #settle(topic: string, group: string, seq: number, member: string | undefined, how: 'a' | 't'): Promise<boolean> {
    if (!isSeq(seq)) return this.#noRecord(topic, group)
    return this.#settles.settle(topic, group, seq, member ?? '', how)
  }

  /** Sends the acks and terms waiting for `topic` (before another script on it, to keep call order). */
  flushSettles(topic: string): void {
    this.#settles.flush(topic)
  }

  /** False, for a sequence no record can have; an unknown topic or group still says so. */
  async #noRecord(topic: string, group: string): Promise<false> {
    await this.groupInfo(topic, group)
    return false
  }
}
