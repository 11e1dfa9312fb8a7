/**
 * A TCP proxy between clients and a broker, for resume tests: it forwards bytes both ways, can cut every
 * socket at once (what a phone changing network does: bytes in flight are lost, neither side is told), and
 * can refuse new connections for a while (the client stays away) or forward them to another broker.
 */
import { createServer, connect as tcpConnect, type Server, type Socket } from 'node:net'
import type { AddressInfo } from 'node:net'

export class CutProxy {
  readonly #server: Server
  readonly #sockets = new Set<Socket>()
  readonly #upstreams = new Set<Socket>()
  #target: number
  #refusing = false
  /** Connections forwarded so far. */
  accepted = 0

  private constructor(target: number) {
    this.#target = target
    this.#server = createServer((client) => this.#onClient(client))
  }

  /** A proxy on 127.0.0.1, any free port, forwarding to the broker on `targetPort`. */
  static async start(targetPort: number): Promise<CutProxy> {
    const p = new CutProxy(targetPort)
    await new Promise<void>((resolve) => p.#server.listen(0, '127.0.0.1', resolve))
    return p
  }

  get url(): string {
    return `ws://127.0.0.1:${(this.#server.address() as AddressInfo).port}/`
  }

  /** Connections open through the proxy now (client sides). */
  get open(): number {
    return this.#sockets.size / 2
  }

  #onClient(client: Socket): void {
    if (this.#refusing) { client.destroy(); return }
    this.accepted++
    const upstream = tcpConnect(this.#target, '127.0.0.1')
    this.#upstreams.add(upstream)
    upstream.on('close', () => this.#upstreams.delete(upstream))
    for (const s of [client, upstream]) {
      this.#sockets.add(s)
      s.on('error', () => undefined)
      s.on('close', () => { this.#sockets.delete(s); (s === client ? upstream : client).destroy() })
    }
    client.pipe(upstream)
    upstream.pipe(client)
  }

  /**
   * Stops (or restarts) reading what the broker sends: the client looks like one that cannot keep up. With
   * `both`, what the client sends is held too: each side hears nothing (a dead network that nobody closed).
   */
  stall(on: boolean, both = false): void {
    for (const s of both ? this.#sockets : this.#upstreams) { if (on) s.pause(); else s.resume() }
  }

  /** Destroys every socket, both sides, dropping whatever is buffered in the proxy. */
  cut(): void {
    for (const s of this.#sockets) s.destroy()
    this.#sockets.clear()
  }

  /** While true, new connections are closed at once (the client keeps trying). */
  refuse(on: boolean): void {
    this.#refusing = on
  }

  /** Forwards new connections to another port (a restarted broker). */
  retarget(port: number): void {
    this.#target = port
  }

  async close(): Promise<void> {
    this.cut()
    await new Promise<void>((resolve) => this.#server.close(() => resolve()))
  }
}
