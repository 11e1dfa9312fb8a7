/**
 * The handshake of a new connection: on the HTTP side, which path and subprotocol it asked for and how a
 * refusal is sent (a plain HTTP status, an `X-Subwire-Error` header carrying the error code, and a one-line
 * reason: PROTOCOL §2); on the WebSocket side, what a CONNECT op says about the client (PROTOCOL §4.2).
 */
import type { IncomingMessage } from 'node:http'
import type { Duplex } from 'node:stream'
import { PROTOCOL_VERSION, SUBPROTOCOL, type Info, type Subprotocol } from '../../shared/protocol.ts'
import type { BrokerConfig } from '../options.ts'
import { VERSION } from '../version.ts'
import { SubwireError, type ErrorCode } from '../../shared/errors.ts'
import type { WireValue } from '../../shared/msgpack-reader.ts'
import { SessionLink, parseResumeAsk } from './session-resume.ts'

export type { SessionLink }
export { closeSessions } from './session-registry.ts'

const SUPPORTED: ReadonlyMap<string, Subprotocol> = new Map(Object.values(SUBPROTOCOL).map((p) => [p, p]))

/**
 * The first subprotocol the client offered that we speak, or null. Returns our own constant, not the string
 * parsed from the header: ws keeps the returned string for the connection's life (32 bytes per idle one).
 */
export function chooseSubprotocol(offered: Iterable<string>): Subprotocol | null {
  for (const p of offered) {
    const supported = SUPPORTED.get(p)
    if (supported !== undefined) return supported
  }
  return null
}

/** Parses a `Sec-WebSocket-Protocol` header into its list. */
export function offeredSubprotocols(req: IncomingMessage): string[] {
  const raw = req.headers['sec-websocket-protocol']
  if (typeof raw !== 'string') return []
  return raw.split(',').map((p) => p.trim()).filter((p) => p !== '')
}

/** The path of a request URL without its query string. */
export function requestPath(req: IncomingMessage): string {
  const url = req.url ?? '/'
  const q = url.indexOf('?')
  return q < 0 ? url : url.slice(0, q)
}

const STATUS_TEXT: Record<number, string> = { 400: 'Bad Request', 403: 'Forbidden', 404: 'Not Found', 429: 'Too Many Requests', 503: 'Service Unavailable' }

/** Answers an upgrade request with an HTTP error (and a Retry-After hint, if given) and closes the socket. */
export function refuseUpgrade(socket: Duplex, status: number, code: ErrorCode, reason: string, retryAfterSeconds?: number): void {
  if (!socket.writable) { socket.destroy(); return }
  const body = `${code}: ${reason}\n`
  const retry = retryAfterSeconds === undefined ? '' : `Retry-After: ${retryAfterSeconds}\r\n`
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? 'Error'}\r\n` +
    'Connection: close\r\nContent-Type: text/plain; charset=utf-8\r\n' + retry +
    `X-Subwire-Error: ${code}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  )
}

/** What CONNECT says about the client, checked; credentials are the authenticator's to read. */
export interface ConnectFields {
  name: string
  echo: boolean
  lang: string | undefined
  version: string | undefined
  /** Set when CONNECT asked for a resumable session (PROTOCOL §4.10). */
  resume: SessionLink | null
}

/** @throws SubwireError `protocol` for a version this broker does not speak or a mistyped field */
export function parseConnect(body: Record<string, WireValue>): ConnectFields {
  const bad = (message: string): SubwireError => new SubwireError('protocol', message)
  if (body.protocol !== PROTOCOL_VERSION) throw bad(`unsupported protocol version ${String(body.protocol)} (this broker speaks ${PROTOCOL_VERSION})`)
  if (body.name !== undefined && body.name !== null && typeof body.name !== 'string') throw bad('CONNECT name must be a string')
  if (body.echo !== undefined && body.echo !== null && typeof body.echo !== 'boolean') throw bad('CONNECT echo must be a boolean')
  const resume = parseResumeAsk(body.resume)
  if (typeof resume === 'string') throw bad(resume)
  return {
    name: typeof body.name === 'string' ? body.name.slice(0, 128) : '',
    echo: body.echo !== false,
    // Only strings reach the log: a client-chosen nested value could be arbitrarily deep.
    lang: typeof body.lang === 'string' ? body.lang.slice(0, 32) : undefined,
    version: typeof body.version === 'string' ? body.version.slice(0, 32) : undefined,
    resume: resume === null ? null : new SessionLink(resume),
  }
}

/** The INFO a connection gets first (PROTOCOL §4.1). */
export function infoFor(config: BrokerConfig, serverId: string, authRequired: boolean, clientId: string, cluster: { nodeId: string; logId: string | null } | null): Info {
  const info: Info = {
    serverId,
    serverName: config.serverName,
    version: VERSION,
    protocol: PROTOCOL_VERSION,
    maxPayload: config.maxPayload,
    maxFrame: config.maxFrame,
    maxSubjectLength: config.maxSubjectLength,
    heartbeatMs: config.heartbeatMs,
    clientId,
    authRequired,
  }
  if (cluster !== null) info.nodeId = cluster.nodeId
  if (cluster?.logId != null) info.logId = cluster.logId
  return info
}
