/**
 * Plain HTTP requests on the broker's port (everything that is not a WebSocket upgrade): the operations
 * endpoints (`/healthz`, `/readyz`, `/metrics`, `/stats`, `/stats/history`), the web monitor at `/`, and a
 * short explanation for anything else.
 *
 * The broker calls `handleHttpRequest(config, …)` for every request on an HTTP server it owns. Monitoring is
 * opt-in per broker (`attachMonitoring`, server/monitoring/monitoring.ts), which registers its routes here under the
 * broker's config object; a broker attached to an application's own server never sees those requests, so the
 * application keeps its routes and mounts ours only if it wants to (`monitoring.handle`).
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { VERSION } from '../version.ts'

/** What the routes may read from the broker: its config (the broker passes `this.config`). */
export interface HttpRouteContext {
  readonly path: string
}

/** Answers a request if it is one of its routes (returns true), else leaves it alone (returns false). */
export type HttpHandler = (req: IncomingMessage, res: ServerResponse) => boolean

/** Keyed by the broker's frozen config object: one entry per broker, gone with the broker. */
const handlers = new WeakMap<HttpRouteContext, HttpHandler>()

/** Routes a broker's plain HTTP requests to `handler` first; returns the function that removes it. */
export function registerHttpHandler(ctx: HttpRouteContext, handler: HttpHandler): () => void {
  handlers.set(ctx, handler)
  return () => { if (handlers.get(ctx) === handler) handlers.delete(ctx) }
}

/** Answers one HTTP request. */
export function handleHttpRequest(ctx: HttpRouteContext, req: IncomingMessage, res: ServerResponse): void {
  const handler = handlers.get(ctx)
  if (handler !== undefined && handler(req, res)) return
  const path = requestPathname(req)
  if (path === ctx.path) {
    sendText(res, 426, `subwire ${VERSION}: connect with a WebSocket client (subprotocol subwire.v1 or subwire.v1.json) at ${ctx.path}\n`, { Upgrade: 'websocket' })
  } else {
    sendText(res, 404, `subwire ${VERSION}: nothing at ${path}; WebSocket clients connect at ${ctx.path}\n`)
  }
}

/** The path of a request, without its query string. */
export function requestPathname(req: IncomingMessage): string {
  try {
    return new URL(req.url ?? '/', 'http://localhost').pathname
  } catch {
    return '/'
  }
}

/** Sends a plain-text answer (the body is left out for HEAD). */
export function sendText(res: ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
  send(res, status, 'text/plain; charset=utf-8', text, headers)
}

/** Sends a JSON answer. */
export function sendJson(res: ServerResponse, status: number, value: unknown): void {
  send(res, status, 'application/json; charset=utf-8', `${JSON.stringify(value)}\n`, {})
}

/** Sends a body with its type and length; no caching, since everything here is live. */
export function send(res: ServerResponse, status: number, type: string, body: string | Uint8Array, headers: Record<string, string>): void {
  const bytes = typeof body === 'string' ? Buffer.from(body) : body
  res.writeHead(status, { 'Content-Type': type, 'Content-Length': String(bytes.byteLength), 'Cache-Control': 'no-store', ...headers })
  res.end(res.req?.method === 'HEAD' ? undefined : bytes)
}
