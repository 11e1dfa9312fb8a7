/**
 * Acks and terms of one group made in the same tick travel as one script call, in call order (as append-batch.ts
 * does for appends): a broker settling many deliveries at once pays one round trip, not one each.
 */
import { asArray } from './codec.ts'
import type { RedisArg, Reply } from './redis-link.ts'

/** Most settles in one script call. */
export const MAX_SETTLE_BATCH = 256

interface Waiting {
  readonly args: readonly RedisArg[]
  readonly resolve: (settled: boolean) => void
  readonly reject: (err: unknown) => void
}

/** Sends a batch of (seq, member, how) triples for one group: the script's reply, 1 or 0 per settle. */
export type SendSettles = (topic: string, group: string, args: readonly RedisArg[], count: number) => Promise<Reply>

export class SettleBatcher {
  readonly #send: SendSettles
  /** topic → group → settles waiting. */
  readonly #queues = new Map<string, Map<string, Waiting[]>>()

  constructor(send: SendSettles) {
    this.#send = send
  }

  settle(topic: string, group: string, seq: number, member: string, how: 'a' | 't'): Promise<boolean> {
    return new Promise<boolean>((resolve, reject) => {
      let groups = this.#queues.get(topic)
      if (groups === undefined) {
        groups = new Map()
        this.#queues.set(topic, groups)
        queueMicrotask(() => this.flush(topic))
      }
      let queue = groups.get(group)
      if (queue === undefined) groups.set(group, (queue = []))
      queue.push({ args: [seq, member, how], resolve, reject })
    })
  }

  /** Sends what waits for `topic` now (before any other script on it, to keep call order). */
  flush(topic: string): void {
    const groups = this.#queues.get(topic)
    if (groups === undefined) return
    this.#queues.delete(topic)
    for (const [group, queue] of groups) {
      for (let i = 0; i < queue.length; i += MAX_SETTLE_BATCH) {
        const batch = queue.slice(i, i + MAX_SETTLE_BATCH)
        const args: RedisArg[] = []
        for (const w of batch) args.push(...w.args)
        this.#send(topic, group, args, batch.length).then((reply) => {
          const results = asArray(reply, 'settle results')
          batch.forEach((w, k) => w.resolve(results[k] === 1))
        }).catch((err: unknown) => {
          for (const w of batch) w.reject(err)
        })
      }
    }
  }
}
