/**
 * The raw-ws baseline broker: a `ws` server, subscriptions in exact-match maps, and each published frame
 * forwarded as one WebSocket frame per subscriber (round-robin within a queue group). No wildcards, no
 * limits, no slow-consumer policy: it is the floor that any broker over `ws` pays.
 */
import { WebSocketServer, type WebSocket, type RawData } from 'ws'
import type { AddressInfo } from 'node:net'
import type { BrokerHandle } from '../../systems.ts'
import { Op, decodeFrame, encodeControl } from './codec.ts'

interface QueueGroup {
  readonly members: WebSocket[]
  next: number
}

/** Exact-subject routing table: plain subscribers and queue groups per subject. */
class RoutingTable {
  readonly plain = new Map<string, Set<WebSocket>>()
  readonly groups = new Map<string, Map<string, QueueGroup>>()

  add(socket: WebSocket, subject: string, queue: string): void {
    if (queue === '') {
      let set = this.plain.get(subject)
      if (set === undefined) this.plain.set(subject, (set = new Set()))
      set.add(socket)
      return
    }
    let bySubject = this.groups.get(subject)
    if (bySubject === undefined) this.groups.set(subject, (bySubject = new Map()))
    let group = bySubject.get(queue)
    if (group === undefined) bySubject.set(queue, (group = { members: [], next: 0 }))
    group.members.push(socket)
  }

  /** Drops a closed socket everywhere. Linear, but only on close, never on the publish path. */
  remove(socket: WebSocket): void {
    for (const set of this.plain.values()) set.delete(socket)
    for (const bySubject of this.groups.values()) {
      for (const group of bySubject.values()) {
        const at = group.members.indexOf(socket)
        if (at >= 0) group.members.splice(at, 1)
      }
    }
  }

  /** Sends `frame` to every plain subscriber of `subject` and one member of each of its queue groups. */
  forward(subject: string, frame: Buffer): void {
    const set = this.plain.get(subject)
    if (set !== undefined) for (const socket of set) socket.send(frame)
    const bySubject = this.groups.get(subject)
    if (bySubject === undefined) return
    for (const group of bySubject.values()) {
      if (group.members.length === 0) continue
      const member = group.members[group.next % group.members.length]
      group.next = (group.next + 1) % group.members.length
      member?.send(frame)
    }
  }
}

const PONG = encodeControl(Op.pong)

/** Starts the forwarder on 127.0.0.1 and an ephemeral port. */
export async function startRawWsBroker(): Promise<BrokerHandle> {
  const table = new RoutingTable()
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false, maxPayload: 1 << 20 })
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve)
    server.once('error', reject)
  })
  server.on('connection', (socket) => {
    socket.on('message', (data: RawData) => onFrame(table, socket, toBuffer(data)))
    socket.on('close', () => table.remove(socket))
    socket.on('error', () => socket.terminate())
  })
  const { port } = server.address() as AddressInfo
  return {
    url: `ws://127.0.0.1:${port}/`,
    close: () => closeServer(server),
  }
}

function onFrame(table: RoutingTable, socket: WebSocket, frame: Buffer): void {
  const op = frame[0]
  if (op === Op.ping) {
    socket.send(PONG)
    return
  }
  const header = decodeFrame(frame)
  if (op === Op.sub) {
    table.add(socket, header.subject, header.second)
  } else if (op === Op.pub) {
    // The received buffer is ours: flip PUB to MSG in place and fan out the same bytes.
    frame[0] = Op.msg
    table.forward(header.subject, frame)
  }
}

function toBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data
  if (Array.isArray(data)) return Buffer.concat(data)
  return Buffer.from(data)
}

function closeServer(server: WebSocketServer): Promise<void> {
  for (const client of server.clients) client.terminate()
  return new Promise((resolve) => server.close(() => resolve()))
}
