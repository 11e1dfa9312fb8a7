/**
 * Events a broker reports to code embedding it (monitoring, $SYS publishers): connections coming and going,
 * slow consumers. A small typed listener set, not a Node EventEmitter, so a throwing listener is contained.
 */
import type { Logger } from 'pino'

/** What is known about one connection, for stats pages and events. */
export interface ConnectionSummary {
  id: string
  name: string
  ip: string
  subprotocol: string
  /** Epoch milliseconds. */
  connectedAt: number
  /** Its subscriptions; at most the `maxSubscriptions` asked for (`subscriptionCount` counts them all). */
  subscriptions: Array<{ sid: number; subject: string; queue: string | null }>
  subscriptionCount: number
  pendingBytes: number
  msgsIn: number
  bytesIn: number
  msgsOut: number
  bytesOut: number
}

/** Event name → payload. */
export interface BrokerEventMap {
  connect: ConnectionSummary
  disconnect: ConnectionSummary & { code: number }
  slow_consumer: ConnectionSummary
}

type Listener<K extends keyof BrokerEventMap> = (event: BrokerEventMap[K]) => void

export class BrokerEvents {
  readonly #listeners: { [K in keyof BrokerEventMap]: Set<Listener<K>> } = { connect: new Set(), disconnect: new Set(), slow_consumer: new Set() }
  readonly #logger: Logger

  constructor(logger: Logger) {
    this.#logger = logger
  }

  /** Adds a listener; returns the function that removes it. */
  on<K extends keyof BrokerEventMap>(type: K, listener: Listener<K>): () => void {
    this.#listeners[type].add(listener)
    return () => { this.#listeners[type].delete(listener) }
  }

  /** True when anyone listens (so the broker builds a summary only when it is wanted). */
  wants(type: keyof BrokerEventMap): boolean {
    return this.#listeners[type].size > 0
  }

  emit<K extends keyof BrokerEventMap>(type: K, event: BrokerEventMap[K]): void {
    for (const listener of this.#listeners[type]) {
      try {
        listener(event)
      } catch (err) {
        this.#logger.error({ err, event: type }, 'a broker event listener threw')
      }
    }
  }
}

/** What a connection summary is made from (the connection implements it). */
export interface Summarized {
  readonly id: string
  readonly name: string
  readonly remoteAddress: string
  readonly subprotocol: string
  readonly connectedAt: number
  readonly subscriptions: ReadonlyMap<number, { readonly sid: number; readonly subject: string; readonly queue: string | null }>
  readonly pendingBytes: number
  readonly msgsIn: number
  readonly bytesIn: number
  readonly msgsOut: number
  readonly bytesOut: number
}

/**
 * A snapshot of one connection, for stats pages and broker events, listing at most `maxSubscriptions` of its
 * subscriptions (the first ones made): a stats page then costs what it shows, not what the client subscribed.
 */
export function summarize(c: Summarized, maxSubscriptions = Infinity): ConnectionSummary {
  const subscriptions: ConnectionSummary['subscriptions'] = []
  for (const s of c.subscriptions.values()) {
    if (subscriptions.length >= maxSubscriptions) break
    subscriptions.push({ sid: s.sid, subject: s.subject, queue: s.queue })
  }
  return {
    id: c.id,
    name: c.name,
    ip: c.remoteAddress,
    subprotocol: c.subprotocol,
    connectedAt: c.connectedAt,
    subscriptions,
    subscriptionCount: c.subscriptions.size,
    pendingBytes: c.pendingBytes,
    msgsIn: c.msgsIn,
    bytesIn: c.bytesIn,
    msgsOut: c.msgsOut,
    bytesOut: c.bytesOut,
  }
}
