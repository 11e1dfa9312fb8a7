/**
 * The nats-server baseline's client: nats.ws (the NATS project's websocket client) over nats-server's
 * websocket listener, as a browser would use it. Node 20 has no global WebSocket, so each connection is
 * handed a `ws` socket through nats.ws's `wsFactory` option (its transport's own hook, used instead of
 * `new WebSocket(url)`); keeping that socket lets `pendingBytes` report its `bufferedAmount`, the same
 * socket brake as raw-ws (nats.ws hands its command buffer to the socket on every microtask, or inline
 * past 32 KiB, so nothing else waits in the client). Queue groups, wildcards and request/reply are
 * NATS's own (`queue`, `request`, `msg.respond`).
 */
import { connect, type Msg, type NatsConnection, type NatsError } from 'nats.ws'
import { WebSocket } from 'ws'
import type { BenchClient, DeliveryHandler, SubscribeSpec } from '../../systems.ts'

class NatsBenchClient implements BenchClient {
  readonly #nc: NatsConnection
  readonly #socket: WebSocket

  constructor(nc: NatsConnection, socket: WebSocket) {
    this.#nc = nc
    this.#socket = socket
  }

  subscribe(subject: string, spec: SubscribeSpec, onMessage: DeliveryHandler): void {
    const callback =
      spec.withData === true
        ? (err: NatsError | null, msg: Msg): void => {
            if (err === null) onMessage(msg.data)
          }
        : (err: NatsError | null): void => {
            if (err === null) onMessage(undefined)
          }
    this.#nc.subscribe(subject, { queue: spec.queue, callback })
  }

  respondWithEcho(subject: string): void {
    this.#nc.subscribe(subject, {
      callback: (err, msg) => {
        if (err === null) msg.respond(msg.data)
      },
    })
  }

  publish(subject: string, data: Uint8Array): void {
    this.#nc.publish(subject, data)
  }

  async request(subject: string, data: Uint8Array, timeoutMs: number): Promise<Uint8Array> {
    const reply = await this.#nc.request(subject, data, { timeout: timeoutMs })
    return reply.data
  }

  /** PING/PONG: the server has processed everything sent before it. */
  flush(): Promise<void> {
    return this.#nc.flush()
  }

  pendingBytes(): number {
    return this.#socket.bufferedAmount
  }

  close(): Promise<void> {
    return this.#nc.close()
  }
}

/** Opens one nats.ws connection to `url` (`ws://127.0.0.1:PORT`); no reconnects, as the other systems. */
export async function connectNats(url: string, name: string): Promise<BenchClient> {
  let socket: WebSocket | undefined
  const wsFactory = (u: string): Promise<{ socket: WebSocket; encrypted: boolean }> => {
    socket = new WebSocket(u, { perMessageDeflate: false })
    return Promise.resolve({ socket, encrypted: false })
  }
  // `wsFactory` is read by nats.ws's transport from the connect options, which do not declare it.
  const options = { servers: url, name, reconnect: false, wsFactory }
  const nc = await connect(options)
  if (socket === undefined) throw new Error('nats.ws connected without the socket of wsFactory')
  return new NatsBenchClient(nc, socket)
}
