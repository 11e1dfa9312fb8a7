/** A pool of Node workers in one queue group: each request goes to exactly one of them. */
import { connect, type Client } from '../client/index.ts'

/** Starts `n` workers answering `price.quote` requests; returns them and their per-worker counts. */
export async function startWorkers(url: string, n: number): Promise<{ workers: Client[]; handled: number[] }> {
  const handled = new Array<number>(n).fill(0)
  const workers: Client[] = []
  for (let i = 0; i < n; i++) {
    const w = await connect(url, { name: `worker-${i}` })
    w.subscribe('price.quote', {
      queue: 'pricing',
      callback: (_err, m) => {
        if (m === null) return
        handled[i]++
        const { sku, qty } = m.data as { sku: string; qty: number }
        m.respond({ sku, qty, total: Math.round(qty * 9.99 * 100) / 100, worker: i })
      },
    })
    workers.push(w)
  }
  return { workers, handled }
}
