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
import { SubwireError, type ErrorCode } from '../../shared/errors.ts'
import { httpCredentials, type Authenticator, type Identity } from '../security/auth.ts'
import type { Admission } from './admission.ts'
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

/** Who sent an HTTP request: an identity, or a refusal saying whether a credential was presented at all. */
export type HttpAuthentication = { ok: true; identity: Identity } | { ok: false; presented: boolean }

/** A broker's check of HTTP credentials, for routes that need one (the monitoring's). */
export interface HttpAuth {
  /** True when `auth` is configured: requests then need a credential. */
  readonly required: boolean
  authenticate(req: IncomingMessage): Promise<HttpAuthentication>
}

/** Keyed by the broker's config object, like the handlers: the broker's authenticator and admission, in one check. */
const auths = new WeakMap<HttpRouteContext, HttpAuth>()

/** Called by the broker once: HTTP routes check credentials with its authenticator and its auth brake. */
export function registerHttpAuth(ctx: HttpRouteContext, auth: Authenticator, admission: Admission): void {
  auths.set(ctx, { get required() { return auth.required }, authenticate: (req) => authenticateHttp(req, auth, admission) })
}

/**
 * The credential check of the broker with this config.
 * @throws SubwireError `bad_option` for a config no broker registered (fails closed)
 */
export function httpAuthFor(ctx: HttpRouteContext): HttpAuth {
  const auth = auths.get(ctx)
  if (auth === undefined) throw new SubwireError('bad_option', 'this config belongs to no broker: HTTP credentials cannot be checked')
  return auth
}

/**
 * Checks a request's `Authorization` header (Bearer token or JWT, Basic user:password) with the broker's
 * authenticator, so a password costs its scrypt hash and the application's `authenticate` hook sees the request.
 * A wrong credential is answered only after the address's auth brake (admission.ts: from the fourth failure in a
 * minute, 100 ms doubling to 5 s); a missing one at once, since nothing was guessed. With `auth` off everyone is
 * unrestricted.
 */
export async function authenticateHttp(req: IncomingMessage, auth: Authenticator, admission: Admission): Promise<HttpAuthentication> {
  if (!auth.required) return { ok: true, identity: { user: '', permissions: null, expiresAt: null } }
  const creds = httpCredentials(req.headers.authorization)
  if (creds === null) return { ok: false, presented: false }
  let identity: Identity | null = null
  try {
    identity = await auth.authenticate(creds, req, admission.clientAddress(req))
  } catch {
    identity = null // authenticate() never throws for bad credentials; anything else is a refusal too
  }
  if (identity !== null) return { ok: true, identity }
  const delay = admission.failureDelay(admission.clientAddress(req))
  if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay).unref())
  return { ok: false, presented: true }
}

/** The challenge of a 401 (RFC 6750 §3): `invalid_token` when a credential was presented and refused. */
export function authChallenge(presented: boolean): string {
  return presented ? 'Bearer realm="subwire", error="invalid_token"' : 'Bearer realm="subwire"'
}

/** Refuses a request the way a handshake is refused: the status, `X-Subwire-Error: <code>`, a one-line reason. */
export function sendRefusal(res: ServerResponse, status: number, code: ErrorCode, reason: string, headers: Record<string, string> = {}): void {
  sendText(res, status, `${code}: ${reason}\n`, { 'X-Subwire-Error': code, ...headers })
}
