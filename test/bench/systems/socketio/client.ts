/**
 * The Socket.IO baseline client. `forceNew` gives every connection its own Manager and WebSocket:
 * without it socket.io-client multiplexes all connections to one URL over a single socket, and 100
 * "subscribers" would be one.
 */
import { io, type Socket } from 'socket.io-client'
import type { BenchClient, DeliveryHandler, SubscribeSpec } from '../../systems.ts'
import { InboxRequests, newInboxSubject } from '../inbox-requests.ts'
import type { ClientToServer, ServerToClient } from './events.ts'

type ClientSocket = Socket<ServerToClient, ClientToServer>

interface Handler {
  readonly withData: boolean
  readonly onMessage: DeliveryHandler
}

class SocketIoClient implements BenchClient {
  #socket: ClientSocket
  #handlers = new Map<string, Handler[]>()
  #echoSubjects = new Set<string>()
  #requests: InboxRequests

  constructor(socket: ClientSocket, name: string) {
    this.#socket = socket
    this.#requests = new InboxRequests(newInboxSubject(name))
    socket.on('msg', (subject, data, reply) => this.#onMessage(subject, data, reply))
    socket.on('disconnect', () => this.#requests.rejectAll(new Error('connection closed')))
    socket.emit('sub', this.#requests.inbox, null)
  }

  subscribe(subject: string, spec: SubscribeSpec, onMessage: DeliveryHandler): void {
    let list = this.#handlers.get(subject)
    if (list === undefined) this.#handlers.set(subject, (list = []))
    list.push({ withData: spec.withData === true, onMessage })
    this.#socket.emit('sub', subject, spec.queue ?? null)
  }

  respondWithEcho(subject: string): void {
    this.#echoSubjects.add(subject)
    this.#socket.emit('sub', subject, null)
  }

  publish(subject: string, data: Uint8Array): void {
    this.#socket.emit('pub', subject, data, null)
  }

  request(subject: string, data: Uint8Array, timeoutMs: number): Promise<Uint8Array> {
    const { payload, reply } = this.#requests.start(data, timeoutMs)
    this.#socket.emit('pub', subject, payload, this.#requests.inbox)
    return reply
  }

  flush(): Promise<void> {
    return new Promise((resolve) => this.#socket.emit('flush', () => resolve()))
  }

  /** Socket.IO exposes no public measure of queued bytes: publishers fall back to flush round trips. */
  pendingBytes(): undefined {
    return undefined
  }

  close(): Promise<void> {
    this.#socket.disconnect()
    return Promise.resolve()
  }

  #onMessage(subject: string, data: Uint8Array, reply: string | null): void {
    if (subject === this.#requests.inbox) {
      this.#requests.settle(data)
      return
    }
    if (reply !== null && this.#echoSubjects.has(subject)) {
      this.#socket.emit('pub', reply, data, null)
      return
    }
    const list = this.#handlers.get(subject)
    if (list === undefined) return
    for (const handler of list) handler.onMessage(handler.withData ? data : undefined)
  }
}

/** Opens one Socket.IO connection over the websocket transport only. */
export function connectSocketIo(url: string, name: string): Promise<BenchClient> {
  const socket: ClientSocket = io(url, { transports: ['websocket'], forceNew: true, reconnection: false })
  return new Promise((resolve, reject) => {
    socket.once('connect', () => resolve(new SocketIoClient(socket, name)))
    socket.once('connect_error', (err) => {
      socket.disconnect()
      reject(err)
    })
  })
}
