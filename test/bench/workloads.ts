/**
 * The data every scenario shares: the payload and the subject sets of scenario G.
 */

/** Payload size of every published message (the figure). */
export const PAYLOAD_BYTES = 128

/** A fresh 128-byte payload. Fresh because a client may hold the bytes until its per-tick flush. */
export function makePayload(): Uint8Array {
  const payload = new Uint8Array(PAYLOAD_BYTES)
  for (let i = 0; i < PAYLOAD_BYTES; i++) payload[i] = i & 0xff
  return payload
}

/** Writes a send timestamp (performance.now(), ms) into the first 8 bytes. */
export function stampPayload(payload: Uint8Array, nowMs: number): void {
  new DataView(payload.buffer, payload.byteOffset, 8).setFloat64(0, nowMs, true)
}

/** Reads the timestamp written by {@link stampPayload}. */
export function readStamp(payload: Uint8Array): number {
  return new DataView(payload.buffer, payload.byteOffset, 8).getFloat64(0, true)
}

// ---- scenario G: the subject index ------------------------------------------------------------------------

/** `large`: 100,000 subscriptions, mostly wildcards and deeper literals; `small`: the 10 that match. */
export type IndexVariant = 'large' | 'small'

const INDEX_SIDE = 100
const CORE_SUBSCRIPTIONS = 10
const LARGE_INDEX_SIZE = 100_000

/** Connections that hold the index subscriptions (subscriptions are dealt round-robin). */
export function indexConnections(variant: IndexVariant): number {
  return variant === 'large' ? 100 : CORE_SUBSCRIPTIONS
}

/**
 * The 10,000 distinct subjects G publishes to, cycled: `p.a{x}.b{y}`. Enough distinct subjects that a
 * small match cache cannot hold them all, so the index itself is exercised.
 */
export function indexPublishSubjects(): string[] {
  const subjects: string[] = []
  for (let y = 0; y < INDEX_SIDE; y++) for (let x = 0; x < INDEX_SIDE; x++) subjects.push(`p.a${x}.b${y}`)
  return subjects
}

/**
 * G's subscriptions. Both variants hold the same 10 literals `p.a{k}.b{k}`, each matching one published
 * subject, so deliveries per publish are identical (0.1 %) and the difference is the index alone. The large
 * variant adds 99,990 that share prefixes and wildcard branches with every published subject but never
 * match it (one token deeper, or another first token):
 *   40 % `p.a{x}.b{y}.z{n}`   20 % `p.*.b{y}.z{n}`   20 % `*.a{x}.b{y}.z{n}`
 *   10 % `p.a{x}.*.z{n}`      10 % `q{x}.a{y}.>`
 * The baselines have no wildcards: there these are literal keys, so their figure is an exact-map floor.
 */
export function indexSubscriptions(variant: IndexVariant): string[] {
  const subjects: string[] = []
  for (let k = 0; k < CORE_SUBSCRIPTIONS; k++) subjects.push(`p.a${k}.b${k}`)
  if (variant === 'small') return subjects
  for (let n = 0; n < LARGE_INDEX_SIZE - CORE_SUBSCRIPTIONS; n++) subjects.push(fillerSubject(n))
  return subjects
}

function fillerSubject(n: number): string {
  const x = n % INDEX_SIDE
  const y = Math.floor(n / INDEX_SIDE) % INDEX_SIDE
  switch (n % 10) {
    case 0:
    case 1:
    case 2:
    case 3:
      return `p.a${x}.b${y}.z${n}`
    case 4:
    case 5:
      return `p.*.b${y}.z${n}`
    case 6:
    case 7:
      return `*.a${x}.b${y}.z${n}`
    case 8:
      return `p.a${x}.*.z${n}`
    default:
      return `q${x}.a${y}.>`
  }
}
