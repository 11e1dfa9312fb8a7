/**
 * What a topic log accepts from an append and how it counts it: headers must be strings, payloads are kept
 * as owned bytes, and a message's size (what `maxBytes` limits) is what it really costs to hold: subject,
 * headers, payload and a fixed per-message overhead, as JetStream counts it.
 */
import { subjectProblem, utf8Length } from '../../shared/subject.ts'
import { topicStoreError } from './topic-store.ts'

/**
 * Bytes every stored message counts beyond its subject, headers and payload: the record, its payload's
 * Uint8Array and its index entries. Measured on the memory store: 150,000 empty messages on a 3-byte subject
 * took 343 heap bytes each (`maxBytes` had counted 0, so a 1 MiB topic held 118 MiB of them). JetStream's
 * memory store counts subject + headers + payload + 16; ours is a JavaScript object graph, so it counts this.
 * Every store counts the same, so `maxBytes` means the same whichever store holds the topic.
 */
export const MESSAGE_OVERHEAD_BYTES = 320

/**
 * Bytes a message counts against `maxBytes`: MESSAGE_OVERHEAD_BYTES plus its subject, header keys and values
 * (UTF-8) and payload.
 * @example sizeOf(new Uint8Array(0), null, 'a.x') // 323
 */
export function sizeOf(payload: Uint8Array, headers: Readonly<Record<string, string>> | null, subject: string): number {
  let size = MESSAGE_OVERHEAD_BYTES + utf8Length(subject) + payload.byteLength
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
