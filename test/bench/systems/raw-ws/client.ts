/**
 * The raw-ws baseline client: one `ws` socket, handlers by exact subject, PING/PONG as the flush round trip.
 */
import { WebSocket, type RawData } from 'ws'
import type { BenchClient, DeliveryHandler, SubscribeSpec } from '../../systems.ts'
import { InboxRequests, newInboxSubject } from '../inbox-requests.ts'
import { Op, decodeFrame, encodeControl, encodeFrame } from './codec.ts'

const PING = encodeControl(Op.ping)

interface Handler {
  readonly withData: boolean
  readonly onMessage: DeliveryHandler
}

class RawWsClient implements BenchClient {
  #socket: WebSocket
  #handlers = new Map<string, Handler[]>()
  #echoSubjects = new Set<string>()
  #flushWaiters: Array<() => void> = []
  #requests: InboxRequests

  constructor(socket: WebSocket, name: string) {
    this.#socket = socket
    this.#requests = new InboxRequests(newInboxSubject(name))
    // Binary frames arrive as one Buffer (ws's default binaryType 'nodebuffer'; fragments are joined).
    socket.on('message', (data: RawData) => this.#onFrame(data as Buffer))
    socket.on('close', () => this.#requests.rejectAll(new Error('connection closed')))
    // A failed socket closes; the pending requests and flushes then time out in their callers.
    socket.on('error', () => socket.terminate())
    this.#socket.send(encodeFrame(Op.sub, this.#requests.inbox, ''))
  }

  subscribe(subject: string, spec: SubscribeSpec, onMessage: DeliveryHandler): void {
    let list = this.#handlers.get(subject)
    if (list === undefined) this.#handlers.set(subject, (list = []))
    list.push({ withData: spec.withData === true, onMessage })
    this.#socket.send(encodeFrame(Op.sub, subject, spec.queue ?? ''))
  }

  respondWithEcho(subject: string): void {
    this.#echoSubjects.add(subject)
    this.#socket.send(encodeFrame(Op.sub, subject, ''))
  }

  publish(subject: string, data: Uint8Array): void {
    this.#socket.send(encodeFrame(Op.pub, subject, '', data))
  }

  request(subject: string, data: Uint8Array, timeoutMs: number): Promise<Uint8Array> {
    const { payload, reply } = this.#requests.start(data, timeoutMs)
    this.#socket.send(encodeFrame(Op.pub, subject, this.#requests.inbox, payload))
    return reply
  }

  flush(): Promise<void> {
    return new Promise((resolve) => {
      this.#flushWaiters.push(resolve)
      this.#socket.send(PING)
    })
  }

  pendingBytes(): number {
    return this.#socket.bufferedAmount
  }

  close(): Promise<void> {
    if (this.#socket.readyState === WebSocket.CLOSED) return Promise.resolve()
    return new Promise((resolve) => {
      this.#socket.once('close', () => resolve())
      this.#socket.close()
    })
  }

  #onFrame(frame: Buffer): void {
    const op = frame[0]
    if (op === Op.pong) {
      this.#flushWaiters.shift()?.()
      return
    }
    if (op !== Op.msg) return
    const header = decodeFrame(frame)
    if (header.subject === this.#requests.inbox) {
      this.#requests.settle(frame.subarray(header.payloadOffset))
      return
    }
    if (this.#echoSubjects.has(header.subject) && header.second !== '') {
      this.#socket.send(encodeFrame(Op.pub, header.second, '', frame.subarray(header.payloadOffset)))
      return
    }
    const list = this.#handlers.get(header.subject)
    if (list === undefined) return
    for (const handler of list) handler.onMessage(handler.withData ? frame.subarray(header.payloadOffset) : undefined)
  }
}

/** Opens one raw-ws connection. */
export function connectRawWs(url: string, name: string): Promise<BenchClient> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, { perMessageDeflate: false })
    socket.once('open', () => resolve(new RawWsClient(socket, name)))
    socket.once('error', reject)
  })
}
