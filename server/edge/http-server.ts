/**
 * The HTTP server a broker creates for itself (an attached `server` is the application's and is left alone):
 * header and request timeouts, so a socket that never finishes its upgrade request is closed, and every TCP
 * socket counted against its address before a byte is read. 1,500 silent TCP sockets from one address had
 * stayed open indefinitely, counted against no limit.
 */
import { createServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import type { Socket } from 'node:net'
import type { BrokerConfig } from '../options.ts'
import type { Admission } from './admission.ts'

/**
 * TCP sockets the server holds beyond `maxConnections` (upgrades in progress, HTTP requests, refusals being
 * answered); Node drops a socket past the total before reading it.
 */
export const SERVER_SOCKET_HEADROOM = 1024

/** PEM material for `wss://`. */
export interface TlsMaterial {
  cert: string | Buffer
  key: string | Buffer
  ca?: string | Buffer | Array<string | Buffer>
}

/** Creates the broker's own HTTP (or HTTPS) server. */
export function createHttpServer(config: BrokerConfig, tls: TlsMaterial | undefined, admission: Admission,
  onRequest: (req: IncomingMessage, res: ServerResponse) => void): HttpServer {
  const timeouts = {
    headersTimeout: config.headersTimeoutMs,
    requestTimeout: config.requestTimeoutMs,
    // How often Node looks for sockets past those timeouts: its default of 30 s let a silent socket live up to
    // 30 s longer than headersTimeout. The check walks only sockets with a request pending (upgraded ones leave).
    connectionsCheckingInterval: Math.min(1000, Math.max(10, Math.floor(config.headersTimeoutMs / 4))),
  }
  const server = tls === undefined
    ? createServer(timeouts, onRequest)
    : createHttpsServer({ cert: tls.cert, key: tls.key, ca: tls.ca, ...timeouts }, onRequest)
  server.maxConnections = config.maxConnections + SERVER_SOCKET_HEADROOM
  // Per address, on the raw socket (before TLS and HTTP parsing): past its share it is closed unread.
  server.on('connection', (socket: Socket) => {
    if (!admission.acceptSocket(socket)) socket.destroy()
  })
  return server
}
