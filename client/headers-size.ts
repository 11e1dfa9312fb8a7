/** Measures headers as the broker will count them against max payload. */
import { SubwireError } from '../shared/errors.ts'
import { utf8Length } from '../shared/subject.ts'

function strHeaderSize(len: number): number {
  return len < 32 ? 1 : len < 0x100 ? 2 : len < 0x10000 ? 3 : 5
}

/**
 * The msgpack-encoded size of a headers map: what the broker counts against max payload.
 * @throws SubwireError `bad_payload` when a header is not a string
 */
export function encodedHeadersSize(headers: Record<string, string>): number {
  if (headers === null || typeof headers !== 'object') throw new SubwireError('bad_payload', 'headers must be an object of strings')
  const keys = Object.keys(headers)
  let size = keys.length < 16 ? 1 : keys.length < 0x10000 ? 3 : 5
  for (const k of keys) {
    const v = headers[k]
    if (typeof v !== 'string') throw new SubwireError('bad_payload', `header ${JSON.stringify(k)} must be a string`)
    const kl = utf8Length(k)
    const vl = utf8Length(v)
    size += strHeaderSize(kl) + kl + strHeaderSize(vl) + vl
  }
  return size
}
