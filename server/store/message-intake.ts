/**
 * What a topic log accepts from an append and how it counts it: headers must be strings, payloads are kept
 * as owned bytes, and a message's size (what `maxBytes` limits) is its payload plus header keys and values.
 */
import { subjectProblem, utf8Length } from '../../shared/subject.ts'
import { topicStoreError } from './topic-store.ts'

/** Bytes a message counts against `maxBytes`: payload plus header keys and values in UTF-8. */
export function sizeOf(payload: Uint8Array, headers: Readonly<Record<string, string>> | null): number {
  let size = payload.byteLength
  if (headers !== null) {
    for (const k of Object.keys(headers)) size += utf8Length(k) + utf8Length(headers[k])
  }
  return size
}

/**
 * Headers to keep, or null.
 * @throws `bad_payload` when a header value is not a string
 */
export function checkedHeaders(headers: Readonly<Record<string, string>> | null | undefined): Readonly<Record<string, string>> | null {
  if (headers === undefined || headers === null) return null
  if (typeof headers !== 'object') throw topicStoreError('bad_payload', 'headers must be an object of strings')
  for (const k of Object.keys(headers)) {
    if (typeof headers[k] !== 'string') throw topicStoreError('bad_payload', `header ${JSON.stringify(k)} must be a string`)
  }
  // A copy: the log outlives the caller's object, which the caller stays free to change.
  return Object.freeze({ ...headers })
}

/**
 * Payload bytes to keep. A view into a larger buffer (a decoded frame) would pin the whole frame and make
 * `maxBytes` a lie about memory, so such views are copied; whole buffers are kept as they are.
 * @throws `bad_payload` when it is not a Uint8Array
 */
export function ownedPayload(payload: Uint8Array): Uint8Array {
  if (!(payload instanceof Uint8Array)) throw topicStoreError('bad_payload', 'payload must be a Uint8Array')
  return payload.byteOffset === 0 && payload.byteLength === payload.buffer.byteLength ? payload : payload.slice()
}

/** Throws `bad_subject` unless `filter` is a valid subject pattern. */
export function checkFilter(filter: string): void {
  const problem = subjectProblem(filter, true)
  if (problem !== null) throw topicStoreError('bad_subject', `invalid filter ${JSON.stringify(filter)}: ${problem}`)
}
