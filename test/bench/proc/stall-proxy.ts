/**
 * A one-connection TCP proxy that can stop reading from the broker: the stalled subscriber of scenario I.
 * Stalling at the TCP level works the same for every system and needs no access to a client's internals:
 * once the proxy pauses, the kernel buffers fill and the broker sees a reader that never reads.
 */
import { createServer, connect, type Server, type Socket } from 'node:net'
import type { AddressInfo } from 'node:net'
import type { StallReport } from '../ipc.ts'
import { within } from '../time.ts'

export class StallProxy {
  /** Where the stalled client connects instead of the broker. */
  readonly url: string
  readonly #server: Server
  readonly #target: URL
  #upstream: Socket | undefined
  #ended = false

  private constructor(server: Server, target: URL, url: string) {
    this.#server = server
    this.#target = target
    this.url = url
    server.on('connection', (client) => this.#bridge(client))
  }

  /** Listens on an ephemeral loopback port in front of `brokerUrl`. */
  static async start(brokerUrl: string): Promise<StallProxy> {
    const server = createServer()
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const proxied = new URL(brokerUrl)
    proxied.port = String((server.address() as AddressInfo).port)
    return new StallProxy(server, new URL(brokerUrl), proxied.toString())
  }

  /** Stops reading what the broker sends; it piles up in the kernel buffers, then in the broker. */
  stall(): void {
    const upstream = this.#upstream
    if (upstream === undefined) throw new Error('stall proxy: nothing connected yet')
    upstream.unpipe()
    upstream.pause()
  }

  /** Reads (and discards) what was waiting, for up to `waitMs`, and tells whether the broker had closed. */
  async unstall(waitMs: number): Promise<StallReport> {
    const upstream = this.#upstream
    if (upstream === undefined) return { closedByBroker: false, drainedBytes: 0 }
    let drainedBytes = 0
    upstream.on('data', (chunk: Buffer) => (drainedBytes += chunk.length))
    const ended = new Promise<void>((resolve) => {
      if (this.#ended) resolve()
      upstream.once('end', resolve)
      upstream.once('close', resolve)
    })
    upstream.resume()
    // Still open after the wait means the broker kept the stalled connection.
    await within(waitMs, ended, 'stalled connection end').catch(() => undefined)
    return { closedByBroker: this.#ended, drainedBytes }
  }

  close(): void {
    this.#upstream?.destroy()
    this.#server.close()
  }

  #bridge(client: Socket): void {
    const upstream = connect(Number(this.#target.port), this.#target.hostname)
    this.#upstream = upstream
    const markEnded = (): void => {
      this.#ended = true
    }
    upstream.on('end', markEnded)
    upstream.on('close', markEnded)
    upstream.on('error', () => client.destroy())
    client.on('error', () => upstream.destroy())
    client.pipe(upstream)
    upstream.pipe(client)
  }
}
