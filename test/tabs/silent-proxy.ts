/**
 * A TCP proxy to a broker that can go silent: it keeps every socket open but forwards nothing, which is how a
 * connection dies on a network that changed under a sleeping laptop or a phone (no FIN, no RST, just nothing).
 */
import { createServer, connect as tcpConnect, type Server, type Socket } from 'node:net'
import type { AddressInfo } from 'node:net'
import { within } from '../helpers.ts'

export class SilentProxy {
  readonly server: Server
  readonly #sockets: Socket[] = []
  #silent = false
  constructor(target: number) {
    this.server = createServer((down) => {
      const up = tcpConnect(target, '127.0.0.1')
      this.#sockets.push(down, up)
      down.on('data', (b) => { if (!this.#silent) up.write(b) })
      up.on('data', (b) => { if (!this.#silent) down.write(b) })
      down.on('error', () => up.destroy())
      up.on('error', () => down.destroy())
      down.on('close', () => up.destroy())
      up.on('close', () => down.destroy())
    })
  }
  async listen(): Promise<string> {
    await within(3000, new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', () => resolve())), 'the proxy to listen')
    return `ws://127.0.0.1:${(this.server.address() as AddressInfo).port}/`
  }
  silence(): void { this.#silent = true }
  speak(): void { this.#silent = false }
  async close(): Promise<void> {
    for (const s of this.#sockets) s.destroy()
    await new Promise<void>((resolve) => this.server.close(() => resolve()))
  }
}

