/**
 * The microservices demo's worker pool: Node workers (one connection each) in the queue group `pricing`,
 * answering `svc.price.quote`. Workers join and leave while requests flow, and the queue group spreads the load
 * over whoever is there: no coordinator, no rebalancing step.
 */
import { connect, type Client, type Subscription } from '../../client/index.ts'

export const QUOTE_SUBJECT = 'svc.price.quote'
export const QUEUE = 'pricing'

/** A quote request and its answer. */
export interface QuoteRequest { sku: string; qty: number }
export interface QuoteReply { sku: string; qty: number; total: number; worker: string }

/** One worker: its connection, its subscription, and the answers it still owes. */
interface Worker {
  readonly client: Client
  readonly sub: Subscription
  readonly answers: { owed: number }
}

/** Longest a leaving worker waits for its own answers to go out. */
const LEAVE_WAIT_MS = 1000

/** Waits until `settled()` holds, checking every 5 ms, for at most `timeoutMs`. */
export async function settle(settled: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!settled() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5))
}

export class WorkerPool {
  readonly #url: string
  readonly #workers = new Map<string, Worker>()
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
    const client = await connect(this.#url, { name })
    const answers = { owed: 0 }
    const sub = client.subscribe(QUOTE_SUBJECT, {
      queue: QUEUE,
      callback: (_err, m) => {
        if (m === null) return
        const { sku, qty } = m.data as QuoteRequest
        // A little simulated work, so requests overlap like real service calls.
        answers.owed++
        setTimeout(() => {
          answers.owed--
          if (!client.isClosed) m.respond({ sku, qty, total: Math.round(qty * 9.99 * 100) / 100, worker: name } satisfies QuoteReply)
        }, Math.random() * 3)
      },
    })
    await client.flush()
    this.#workers.set(name, { client, sub, answers })
    return name
  }

  /**
   * Stops the oldest worker gracefully: it leaves the group (requests already on their way still reach it),
   * answers what it took, and only then closes. Closing at once dropped the answers still being worked on,
   * and those requests failed at the requester's timeout.
   */
  async leave(): Promise<string | null> {
    const [name, worker] = this.#workers.entries().next().value ?? []
    if (name === undefined || worker === undefined) return null
    this.#workers.delete(name)
    await worker.sub.drain()
    await settle(() => worker.answers.owed === 0, LEAVE_WAIT_MS)
    await worker.client.drain()
    return name
  }

  async close(): Promise<void> {
    await Promise.all([...this.#workers.values()].map((w) => w.client.drain().catch(() => undefined)))
    this.#workers.clear()
  }
}
