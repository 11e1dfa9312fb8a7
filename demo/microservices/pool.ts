/**
 * The microservices demo's worker pool: Node workers (one connection each) in the queue group `pricing`,
 * answering `svc.price.quote`. Workers join and leave while requests flow, and the queue group spreads the load
 * over whoever is there: no coordinator, no rebalancing step.
 */
import { connect, type Client } from '../../client/index.ts'

export const QUOTE_SUBJECT = 'svc.price.quote'
export const QUEUE = 'pricing'

/** A quote request and its answer. */
export interface QuoteRequest { sku: string; qty: number }
export interface QuoteReply { sku: string; qty: number; total: number; worker: string }

export class WorkerPool {
  readonly #url: string
  readonly #workers = new Map<string, Client>()
  #next = 1

  constructor(url: string) {
    this.#url = url
  }

  /** Worker names, oldest first. */
  get names(): string[] {
    return [...this.#workers.keys()]
  }

  /** Starts one more worker; resolves with its name once it is subscribed. */
  async join(): Promise<string> {
    const name = `worker-${this.#next++}`
    const c = await connect(this.#url, { name })
    c.subscribe(QUOTE_SUBJECT, {
      queue: QUEUE,
      callback: (_err, m) => {
        if (m === null) return
        const { sku, qty } = m.data as QuoteRequest
        // A little simulated work, so requests overlap like real service calls. A worker that left meanwhile
        // does not answer (respond on a closed client throws): the requester's timeout covers it.
        setTimeout(() => {
          if (!c.isClosed) m.respond({ sku, qty, total: Math.round(qty * 9.99 * 100) / 100, worker: name } satisfies QuoteReply)
        }, Math.random() * 3)
      },
    })
    await c.flush()
    this.#workers.set(name, c)
    return name
  }

  /** Stops the oldest worker gracefully (drain: it finishes what it has, then leaves the group). */
  async leave(): Promise<string | null> {
    const [name, c] = this.#workers.entries().next().value ?? []
    if (name === undefined || c === undefined) return null
    this.#workers.delete(name)
    await c.drain()
    return name
  }

  async close(): Promise<void> {
    await Promise.all([...this.#workers.values()].map((c) => c.drain().catch(() => undefined)))
    this.#workers.clear()
  }
}
