/**
 * A TCP proxy for review tests of a flaky network: it forwards bytes both ways, can cut every socket at once
 * and refuse new connections (as test/resume/cut-proxy.ts), and can make chosen connections (numbered from 1 in
 * the order accepted) go deaf once the client has sent its CONNECT: what the broker sends from then on is
 * swallowed (a link so slow that nothing arrives in time), while what the client sends still goes through; or
 * be cut once a given number of bytes of the broker's answer went through (a second cut in the middle of a replay).
 */
import { createServer, connect as tcpConnect, type AddressInfo, type Server, type Socket } from 'node:net'

export class StallProxy {
  readonly #server: Server
  readonly #sockets = new Set<Socket>()
  readonly #target: number
  #refusing = false
  /** Connections forwarded so far. */
  accepted = 0
  /** Numbers of the connections that go deaf after their CONNECT. */
  readonly deafAfterConnect = new Set<number>()
  /** Connections cut (both sides, nothing more forwarded) once this many bytes followed their CONNECT. */
  readonly cutAfterConnect = new Map<number, number>()

  private constructor(target: number) {
    this.#target = target
    this.#server = createServer((client) => this.#onClient(client))
  }

  static async start(targetPort: number): Promise<StallProxy> {
    const p = new StallProxy(targetPort)
    await new Promise<void>((resolve) => p.#server.listen(0, '127.0.0.1', resolve))
    return p
  }

  get url(): string {
    return `ws://127.0.0.1:${(this.#server.address() as AddressInfo).port}/`
  }

  #onClient(client: Socket): void {
    if (this.#refusing) { client.destroy(); return }
    const n = ++this.accepted
    const deaf = this.deafAfterConnect.has(n)
    const upstream = tcpConnect(this.#target, '127.0.0.1')
    // The client's first chunk is the HTTP upgrade; its second, sent only after the broker's INFO, is CONNECT.
    let fromClient = 0
    for (const s of [client, upstream]) {
      this.#sockets.add(s)
      s.on('error', () => undefined)
      s.on('close', () => { this.#sockets.delete(s); (s === client ? upstream : client).destroy() })
    }
    client.on('data', (d: Buffer) => { fromClient++; upstream.write(d) })
    const cutAt = this.cutAfterConnect.get(n)
    let after = 0
    upstream.on('data', (d: Buffer) => {
      if (fromClient < 2) { client.write(d); return }
      if (deaf) return
      if (cutAt === undefined) { client.write(d); return }
      const room = cutAt - after
      after += d.length
      if (room > 0) client.write(d.subarray(0, room))
      if (after >= cutAt) { client.destroy(); upstream.destroy() }
    })
  }

  cut(): void {
    for (const s of this.#sockets) s.destroy()
    this.#sockets.clear()
  }

  refuse(on: boolean): void {
    this.#refusing = on
  }

  async close(): Promise<void> {
    this.cut()
    await new Promise<void>((resolve) => this.#server.close(() => resolve()))
  }
}
