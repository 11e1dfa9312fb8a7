/**
 * Appends to one topic made in the same tick travel as one script call (in call order), as if each were its own
 * script run back to back: one round trip, one load and save of the topic's counters and one append notice for
 * the lot. Sequential awaits still go one by one; the batch only forms when callers have several in flight.
 * Batches are capped (count and bytes) so one script never holds Redis for long; the next batch is sent at
 * once, without waiting for the reply to the first.
 */
import { SubwireError, isErrorCode } from '../../../shared/errors.ts'
import type { AppendResult } from '../topic-store.ts'
import { asArray, asNumber, asString } from './codec.ts'
import type { RedisArg, Reply } from './redis-link.ts'

/** Most appends in one script call. */
export const MAX_BATCH = 128
/** Most payload bytes in one script call (a larger single message still goes alone). */
export const MAX_BATCH_BYTES = 1024 * 1024

/** One append's script arguments (subject, size, encoding, headers, payload, msgId, expectedLastSeq). */
export interface AppendArgs {
  readonly args: readonly RedisArg[]
  readonly bytes: number
}

interface Waiting extends AppendArgs {
  readonly resolve: (r: AppendResult) => void
  readonly reject: (err: unknown) => void
}

/** Sends a batch: the script's reply, one entry per append. */
export type SendBatch = (topic: string, appends: readonly AppendArgs[]) => Promise<Reply>

function resultOf(r: Reply): AppendResult | SubwireError {
  const a = asArray(r, 'append result')
  if (a.length === 2) {
    const code = asString(a[0], 'append error code')
    return new SubwireError(isErrorCode(code) ? code : 'unavailable', asString(a[1], 'append error'))
  }
  return { seq: asNumber(a[0], 'seq'), time: asNumber(a[1], 'time'), duplicate: a[2] === 1 }
}

export class AppendBatcher {
  readonly #send: SendBatch
  readonly #queues = new Map<string, Waiting[]>()

  constructor(send: SendBatch) {
    this.#send = send
  }

  append(topic: string, append: AppendArgs): Promise<AppendResult> {
    return new Promise<AppendResult>((resolve, reject) => {
      let queue = this.#queues.get(topic)
      if (queue === undefined) {
        queue = []
        this.#queues.set(topic, queue)
        queueMicrotask(() => this.flush(topic))
      }
      queue.push({ ...append, resolve, reject })
    })
  }

  /**
   * Sends what waits for `topic` now: called before any other script on the topic goes out, so calls reach
   * Redis in the order they were made, batched or not.
   */
  flush(topic: string): void {
    const queue = this.#queues.get(topic)
    if (queue === undefined) return
    this.#queues.delete(topic)
    for (let i = 0; i < queue.length;) {
      let bytes = queue[i].bytes
      let end = i + 1
      while (end < queue.length && end - i < MAX_BATCH && bytes + queue[end].bytes <= MAX_BATCH_BYTES) bytes += queue[end++].bytes
      const batch = queue.slice(i, end)
      i = end
      this.#send(topic, batch).then((reply) => {
        const results = asArray(reply, 'append results')
        batch.forEach((w, k) => {
          const r = resultOf(results[k] ?? null)
          if (r instanceof SubwireError) w.reject(r)
          else w.resolve(r)
        })
      }).catch((err: unknown) => {
        for (const w of batch) w.reject(err)
      })
    }
  }
}
