/**
 * Plain HTTP requests on the broker's port (everything that is not a WebSocket upgrade). For now only an
 * explanation of how to connect; monitoring endpoints grow here.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { VERSION } from './version.ts'

/** What the routes may read from the broker. */
export interface HttpRouteContext {
  readonly path: string
}

/** Answers one HTTP request. */
export function handleHttpRequest(ctx: HttpRouteContext, _req: IncomingMessage, res: ServerResponse): void {
  res.writeHead(426, { 'Content-Type': 'text/plain; charset=utf-8', Upgrade: 'websocket' })
  res.end(`subwire ${VERSION}: connect with a WebSocket client (subprotocol subwire.v1 or subwire.v1.json) at ${ctx.path}\n`)
}
