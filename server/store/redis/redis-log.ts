/**
 * The log half of the Redis topic store: appends and reads. What depends only on the input (subject grammar,
 * msgId, headers, payload type, size, read options) is checked here with the engine's own functions; what
 * depends on the topic (coverage, dedup, expectedLastSeq, limits) is decided inside one script, atomically.
 */
import { subjectProblem } from '../../../shared/subject.ts'
import { checkFilter, checkedHeaders, sizeOf } from '../message-intake.ts'
import {
  DEFAULT_READ_LIMIT, topicStoreError,
  type AppendInput, type AppendResult, type ReadQuery, type ReadResult, type StoredMessage,
} from '../topic-store.ts'
import { AppendBatcher } from './append-batch.ts'
import { asArray, asNumber, decodeEntry, decodeMaybeEntry } from './codec.ts'
import type { GroupContext } from './redis-groups.ts'
import type { RedisArg } from './redis-link.ts'
import { SCRIPT } from './scripts.ts'

/**
 * Most stream entries one read script scans (HOUSE_STYLE 9): Redis runs one script at a time for every node, so
 * a filtered read over a long log that matches little answers a short page (`nextSeq` goes on) instead of
 * blocking Redis while it scans.
 */
export const READ_SCAN_CAP = 4096

/** What the log operations need beyond the group context. */
export interface LogContext extends GroupContext {
  readonly maxDuplicateIds: number
  readonly channel: string
}

interface PreparedInput {
  readonly subject: string
  readonly size: number
  readonly encoding: number
  readonly headers: string
  readonly payload: Buffer
  readonly msgId: string
  readonly expectedLastSeq: string
}

/** The checks of topic-log.ts prepare() that do not depend on the topic. @throws `bad_subject`, `bad_option`, `bad_payload` */
function prepare(input: AppendInput): PreparedInput {
  const subject = input.subject
  const problem = subjectProblem(subject, false)
  if (problem !== null) throw topicStoreError('bad_subject', `invalid subject ${JSON.stringify(subject)}: ${problem}`)
  const msgId = input.msgId
  if (msgId !== undefined && (typeof msgId !== 'string' || msgId.length === 0)) throw topicStoreError('bad_option', 'msgId must be a non-empty string')
  const headers = checkedHeaders(input.headers)
  const payload = input.payload
  if (!(payload instanceof Uint8Array)) throw topicStoreError('bad_payload', 'payload must be a Uint8Array')
  return {
    subject,
    size: sizeOf(payload, headers, subject),
    encoding: input.encoding ?? 0,
    headers: headers === null ? '' : JSON.stringify(headers),
    // A view, not a copy: ioredis writes its bytes to the socket.
    payload: Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength),
    msgId: msgId ?? '',
    expectedLastSeq: input.expectedLastSeq === undefined ? '' : String(input.expectedLastSeq),
  }
}

/** Read arguments after the engine's checks. @throws `bad_subject`, `bad_option` */
function readArgs(query: ReadQuery): RedisArg[] {
  const filter = query.filter ?? '>'
  checkFilter(filter)
  const limit = query.limit ?? DEFAULT_READ_LIMIT
  if (!Number.isSafeInteger(limit) || limit <= 0) throw topicStoreError('bad_option', 'limit must be a positive integer')
  if (query.toSeq !== undefined && !Number.isSafeInteger(query.toSeq)) throw topicStoreError('bad_option', 'toSeq must be an integer')
  const toSeq = query.toSeq ?? ''
  if ('startSeq' in query) {
    if (!Number.isSafeInteger(query.startSeq) || query.startSeq < 0) throw topicStoreError('bad_option', 'startSeq must be a non-negative integer')
    return ['s', query.startSeq, toSeq, filter, limit, READ_SCAN_CAP]
  }
  if (typeof query.startTime !== 'number' || Number.isNaN(query.startTime)) throw topicStoreError('bad_option', 'startTime must be a number')
  return ['t', query.startTime, toSeq, filter, limit, READ_SCAN_CAP]
}

export class RedisLog {
  readonly #c: LogContext

  readonly #batcher: AppendBatcher

  constructor(context: LogContext) {
    this.#c = context
    this.#batcher = new AppendBatcher((topic, appends) => {
      const args: RedisArg[] = [context.now(), context.maxDuplicateIds, context.channel, appends.length]
      for (const a of appends) args.push(...a.args)
      return context.runBatch(SCRIPT.append, topic, args)
    })
  }

  append(topic: string, input: AppendInput): Promise<AppendResult> {
    let p: PreparedInput
    try {
      p = prepare(input)
    } catch (err) {
      return this.#refused(topic, err)
    }
    // Queued now, not after an await: a later call on the topic sends it first (flushAppends).
    return this.#batcher.append(topic, {
      args: [p.subject, p.size, p.encoding, p.headers, p.payload, p.msgId, p.expectedLastSeq],
      bytes: p.payload.byteLength,
    })
  }

  /** Sends the appends waiting for `topic` (before another script on it, to keep call order). */
  flushAppends(topic: string): void {
    this.#batcher.flush(topic)
  }

  read(topic: string, query: ReadQuery): Promise<ReadResult> {
    let args: RedisArg[]
    try {
      args = readArgs(query)
    } catch (err) {
      return this.#refused(topic, err)
    }
    return this.#c.run(SCRIPT.read, topic, [this.#c.now(), ...args]).then((reply) => {
      const [nextSeq, firstSeq, lastSeq, gapFrom, gapTo, entries] = asArray(reply, 'read')
      const from = asNumber(gapFrom, 'gap')
      return {
        messages: asArray(entries, 'messages').map(decodeEntry),
        nextSeq: asNumber(nextSeq, 'next seq'),
        firstSeq: asNumber(firstSeq, 'first seq'),
        lastSeq: asNumber(lastSeq, 'last seq'),
        gap: from > 0 ? { fromSeq: from, toSeq: asNumber(gapTo, 'gap') } : null,
      }
    })
  }

  get(topic: string, seq: number): Promise<StoredMessage | null> {
    // No entry has such an ID (the script formats integers); an unknown topic still says so.
    if (!Number.isSafeInteger(seq) || seq < 1) return this.#c.mustExist(topic).then(() => null)
    return this.#c.run(SCRIPT.get, topic, [this.#c.now(), seq]).then(decodeMaybeEntry)
  }

  last(topic: string, filter = '>'): Promise<StoredMessage | null> {
    const refused = this.#check(topic, () => checkFilter(filter))
    return refused ?? this.#c.run(SCRIPT.last, topic, [this.#c.now(), filter]).then(decodeMaybeEntry)
  }

  lastPerSubject(topic: string, filter = '>'): Promise<StoredMessage[]> {
    const refused = this.#check(topic, () => checkFilter(filter))
    return refused ?? this.#c.run(SCRIPT.lastPerSubject, topic, [this.#c.now(), filter]).then((r) => asArray(r, 'last per subject').map(decodeEntry))
  }

  purge(topic: string, subject?: string): Promise<number> {
    const refused = subject === undefined ? null : this.#check(topic, () => checkFilter(subject))
    return refused ?? this.#c.run(SCRIPT.purge, topic, [this.#c.now(), subject ?? '']).then((r) => asNumber(r, 'purged'))
  }

  /** The rejection of a check that failed (an unknown topic reported first, as the engine does), or null. */
  #check(topic: string, check: () => void): Promise<never> | null {
    try {
      check()
      return null
    } catch (err) {
      return this.#refused(topic, err)
    }
  }

  async #refused(topic: string, err: unknown): Promise<never> {
    await this.#c.mustExist(topic)
    throw err
  }
}
