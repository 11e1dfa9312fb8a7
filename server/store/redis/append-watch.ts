/**
 * Append notifications across nodes: every append's script PUBLISHes `<lastSeq> <topic>` on `<prefix>appended`;
 * this opens one subscriber connection (a duplicate of the store's client, which queues while reconnecting and
 * resubscribes by itself) once the first listener is added, and calls every listener per message.
 */
import type { Redis } from 'ioredis'
import { rotateAddresses, type RedisLink } from './redis-link.ts'

/** Told of an append: the topic and its last sequence after it. */
export type AppendedListener = (topic: string, lastSeq: number) => void

export class AppendWatch {
  readonly #link: () => Promise<RedisLink>
  readonly #channel: string
  readonly #listeners = new Set<AppendedListener>()
  #subscriber: Promise<Redis | null> | null = null
  #closed = false

  constructor(link: () => Promise<RedisLink>, channel: string) {
    this.#link = link
    this.#channel = channel
  }

  add(listener: AppendedListener): () => void {
    this.#listeners.add(listener)
    this.#subscriber ??= this.#subscribe()
    return () => {
      this.#listeners.delete(listener)
    }
  }

  async #subscribe(): Promise<Redis | null> {
    let link: RedisLink
    try {
      link = await this.#link()
    } catch {
      return null // closed, or Redis was never reachable: nothing to subscribe to
    }
    if (this.#closed) return null
    // Unlike commands, a subscription should wait out an outage and come back by itself.
    const sub = link.client.duplicate({
      lazyConnect: false, enableOfflineQueue: true, maxRetriesPerRequest: null, autoResendUnfulfilledCommands: true, commandTimeout: undefined,
    })
    rotateAddresses(sub, link.urls)
    sub.on('error', () => {})
    sub.on('message', (channel: string, message: string) => {
      if (channel !== this.#channel) return
      const space = message.indexOf(' ')
      const lastSeq = Number(message.slice(0, space))
      const topic = message.slice(space + 1)
      for (const listener of this.#listeners) {
        // One listener's failure must not starve the others (nor kill the subscriber's event handler).
        try {
          listener(topic, lastSeq)
        } catch {
          // The listener owns its errors.
        }
      }
    })
    sub.subscribe(this.#channel).catch(() => {})
    return sub
  }

  async close(): Promise<void> {
    this.#closed = true
    this.#listeners.clear()
    const sub = await this.#subscriber
    this.#subscriber = null
    if (sub === null || sub === undefined) return
    try {
      await sub.quit()
    } catch {
      sub.disconnect()
    }
  }
}
