/** The typed error a socket close stands for: our close codes and reasons name their error code (PROTOCOL §7). */
import { SubwireError, errorCodeForClose, isErrorCode, type ErrorCode } from '../shared/errors.ts'
import type { HandshakeRefusal } from './transport.ts'

/** Error codes for the HTTP statuses a server refuses a handshake with, when it sent no `X-Subwire-Error`. */
const CODE_FOR_STATUS: Record<number, ErrorCode> = { 400: 'bad_subprotocol', 401: 'auth_failed', 403: 'bad_origin', 429: 'limit', 503: 'limit' }

/**
 * The error for a close with `code` and `reason` (or for a refused handshake); `detail` is the message,
 * defaulting to one that names the code.
 */
export function closeError(code: number, reason: string, detail: string | null, refusal: HandshakeRefusal | null = null): SubwireError {
  detail ??= `connection closed with code ${code}`
  if (refusal !== null) {
    const errorCode = isErrorCode(refusal.code) ? refusal.code : CODE_FOR_STATUS[refusal.status] ?? 'connection_refused'
    return new SubwireError(errorCode, detail)
  }
  const fromReason: ErrorCode | undefined = isErrorCode(reason) ? reason : undefined
  const errorCode = fromReason ?? errorCodeForClose(code) ?? 'connection_refused'
  return new SubwireError(errorCode, reason !== '' && fromReason === undefined ? `${detail}: ${reason}` : detail, { closeCode: code })
}
