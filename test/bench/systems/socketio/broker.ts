/**
 * The Socket.IO 4 baseline broker: websocket transport only, one room per subject (Socket.IO encodes a
 * room broadcast once), and queue groups emulated with a round-robin list per (subject, queue).
 */
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Server, type ServerOptions, type Socket } from 'socket.io'
import type { BrokerHandle } from '../../systems.ts'
import type { ClientToServer, ServerToClient } from './events.ts'

type BrokerSocket = Socket<ClientToServer, ServerToClient>

interface QueueGroup {
  readonly members: BrokerSocket[]
  next: number
}

/** Queue groups by subject, then by queue name. */
class QueueGroups {
  readonly #bySubject = new Map<string, Map<string, QueueGroup>>()

  add(socket: BrokerSocket, subject: string, queue: string): void {
    let byQueue = this.#bySubject.get(subject)
    if (byQueue === undefined) this.#bySubject.set(subject, (byQueue = new Map()))
    let group = byQueue.get(queue)
    if (group === undefined) byQueue.set(queue, (group = { members: [], next: 0 }))
    group.members.push(socket)
  }

  /** Removes a disconnected socket; only on disconnect, never on the publish path. */
  remove(socket: BrokerSocket): void {
    for (const byQueue of this.#bySubject.values()) {
      for (const group of byQueue.values()) {
        const at = group.members.indexOf(socket)
        if (at >= 0) group.members.splice(at, 1)
      }
    }
  }

  /** Emits to one member of each queue group on `subject`. */
  deliver(subject: string, data: Uint8Array, reply: string | null): void {
    const byQueue = this.#bySubject.get(subject)
    if (byQueue === undefined) return
    for (const group of byQueue.values()) {
      if (group.members.length === 0) continue
      const member = group.members[group.next % group.members.length]
      group.next = (group.next + 1) % group.members.length
      member?.emit('msg', subject, data, reply)
    }
  }
}

/** What the cluster scenarios add: an adapter (the Redis adapter) and what to close after the server. */
export interface SocketIoJoin {
  readonly adapter: NonNullable<ServerOptions['adapter']>
  close(): Promise<void>
}

/** Starts Socket.IO on 127.0.0.1 and an ephemeral port; `join` makes it one node of several. */
export async function startSocketIoBroker(join?: SocketIoJoin): Promise<BrokerHandle> {
  const http = createServer()
  const io = new Server<ClientToServer, ServerToClient>(http, {
    transports: ['websocket'],
    serveClient: false,
    perMessageDeflate: false,
    maxHttpBufferSize: 1 << 20,
    ...(join === undefined ? {} : { adapter: join.adapter }),
  })
  const groups = new QueueGroups()
  io.on('connection', (socket) => {
    socket.on('sub', (subject, queue) => {
      if (queue === null) void socket.join(subject)
      else groups.add(socket, subject, queue)
    })
    socket.on('pub', (subject, data, reply) => {
      io.to(subject).emit('msg', subject, data, reply)
      groups.deliver(subject, data, reply)
    })
    socket.on('flush', (ack) => ack())
    socket.on('disconnect', () => groups.remove(socket))
  })
  await new Promise<void>((resolve, reject) => {
    http.once('error', reject)
    http.listen(0, '127.0.0.1', resolve)
  })
  const { port } = http.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    close: async () => {
      await new Promise<void>((resolve) => void io.close(() => resolve()))
      await join?.close()
    },
  }
}
